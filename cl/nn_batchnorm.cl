/*
 * nn_batchnorm.cl - batch normalisation over x viewed as [outer, channels, inner]
 * (after nn.cl, whose MTFL_NN_FOR_EACH, mtfl_div and mtfl_acc it uses).
 *
 * The per-channel sums give each channel a whole work-group (the loop over groups
 * covers more channels than groups): its work-items stride over the channel's
 * outer * inner values and combine their partial sums in local memory. The sums are
 * mtfl_acc (double where the device has it), and the variance is a second pass around
 * the mean, as on the CPU, so the two backends agree to float rounding. The element-
 * wise parts (the normalised output, dx) are grid-stride loops.
 */

/* Work-items per group at most (MTFL_CL_MAX_GROUP on the host). */
#define MTFL_NORM_GROUP 256

/* The sum of every work-item's value, returned to all of them. The group size is a
 * power of two (opencl_backend.c chooses it so). */
mtfl_acc mtfl_group_sum(__local mtfl_acc *scratch, mtfl_acc mine)
{
    const uint me = get_local_id(0);
    scratch[me] = mine;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint width = get_local_size(0) / 2; width > 0; width /= 2) {
        if (me < width)
            scratch[me] += scratch[me + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    mtfl_acc total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the next sum */
    return total;
}

/* Offset of value e (0 <= e < outer * inner) of channel c. */
ulong mtfl_norm_at(ulong e, ulong c, ulong channels, ulong inner)
{
    ulong n = mtfl_div(e, inner);
    return (n * channels + c) * inner + (e - n * inner);
}

__kernel void mtfl_batchnorm_stats(__global float *mean, ulong mean_off, __global float *var,
                                   ulong var_off, __global float *rmean, ulong rmean_off,
                                   __global float *rvar, ulong rvar_off, int has_running,
                                   __global const float *x, ulong x_off, ulong outer,
                                   ulong channels, ulong inner, float momentum)
{
    __local mtfl_acc scratch[MTFL_NORM_GROUP];
    const ulong count = outer * inner;
    for (ulong c = get_group_id(0); c < channels; c += get_num_groups(0)) {
        mtfl_acc sum = 0;
        for (ulong e = get_local_id(0); e < count; e += get_local_size(0))
            sum += x[x_off + mtfl_norm_at(e, c, channels, inner)];
        mtfl_acc m = mtfl_group_sum(scratch, sum) / (mtfl_acc)count;
        mtfl_acc squares = 0;
        for (ulong e = get_local_id(0); e < count; e += get_local_size(0)) {
            mtfl_acc d = x[x_off + mtfl_norm_at(e, c, channels, inner)] - m;
            squares += d * d;
        }
        squares = mtfl_group_sum(scratch, squares);
        if (get_local_id(0) == 0) {
            mean[mean_off + c] = (float)m;
            var[var_off + c] = (float)(squares / (mtfl_acc)count);
            if (has_running) {
                rmean[rmean_off + c] = (1.0f - momentum) * rmean[rmean_off + c] + momentum * (float)m;
                rvar[rvar_off + c] = (1.0f - momentum) * rvar[rvar_off + c] +
                                     momentum * (float)(squares / (mtfl_acc)(count - 1));
            }
        }
    }
}

float mtfl_inv_std(float var, float eps) { return 1.0f / sqrt(var + eps); }

__kernel void mtfl_batchnorm_apply(__global float *y, ulong y_off, __global const float *x,
                                   ulong x_off, __global const float *mean, ulong mean_off,
                                   __global const float *var, ulong var_off,
                                   __global const float *w, ulong w_off, int has_w,
                                   __global const float *b, ulong b_off, int has_b, ulong n,
                                   ulong channels, ulong inner, float eps)
{
    MTFL_NN_FOR_EACH(i, n) {
        ulong row = mtfl_div(i, inner);
        ulong c = row - mtfl_div(row, channels) * channels;
        float scale = (has_w ? w[w_off + c] : 1.0f) * mtfl_inv_std(var[var_off + c], eps);
        float shift = (has_b ? b[b_off + c] : 0.0f) - mean[mean_off + c] * scale;
        y[y_off + i] = x[x_off + i] * scale + shift;
    }
}

/* sums[c] = sum dy, sums[channels + c] = sum dy * xhat; dbias and dweight += them. */
__kernel void mtfl_batchnorm_sums(__global float *sums, ulong sums_off, __global float *dw,
                                  ulong dw_off, int has_dw, __global float *db, ulong db_off,
                                  int has_db, __global const float *dy, ulong dy_off,
                                  __global const float *x, ulong x_off,
                                  __global const float *mean, ulong mean_off,
                                  __global const float *var, ulong var_off, ulong outer,
                                  ulong channels, ulong inner, float eps)
{
    __local mtfl_acc scratch[MTFL_NORM_GROUP];
    const ulong count = outer * inner;
    for (ulong c = get_group_id(0); c < channels; c += get_num_groups(0)) {
        float is = mtfl_inv_std(var[var_off + c], eps), m = mean[mean_off + c];
        mtfl_acc sum_dy = 0, sum_dy_xhat = 0;
        for (ulong e = get_local_id(0); e < count; e += get_local_size(0)) {
            ulong at = mtfl_norm_at(e, c, channels, inner);
            float g = dy[dy_off + at];
            sum_dy += g;
            sum_dy_xhat += (mtfl_acc)g * ((x[x_off + at] - m) * is);
        }
        sum_dy = mtfl_group_sum(scratch, sum_dy);
        sum_dy_xhat = mtfl_group_sum(scratch, sum_dy_xhat);
        if (get_local_id(0) == 0) {
            sums[sums_off + c] = (float)sum_dy;
            sums[sums_off + channels + c] = (float)sum_dy_xhat;
            if (has_db)
                db[db_off + c] += (float)sum_dy;
            if (has_dw)
                dw[dw_off + c] += (float)sum_dy_xhat;
        }
    }
}

/* dx = w / std * (dy - mean dy - xhat * mean(dy xhat)); the means are 0 outside
 * training, where the statistics are constants. */
__kernel void mtfl_batchnorm_dx(__global float *dx, ulong dx_off, __global const float *dy,
                                ulong dy_off, __global const float *x, ulong x_off,
                                __global const float *sums, ulong sums_off,
                                __global const float *mean, ulong mean_off,
                                __global const float *var, ulong var_off,
                                __global const float *w, ulong w_off, int has_w, int training,
                                ulong n, ulong outer, ulong channels, ulong inner, float eps)
{
    const float count = (float)(outer * inner);
    MTFL_NN_FOR_EACH(i, n) {
        ulong row = mtfl_div(i, inner);
        ulong c = row - mtfl_div(row, channels) * channels;
        float is = mtfl_inv_std(var[var_off + c], eps), m = mean[mean_off + c];
        float scale = (has_w ? w[w_off + c] : 1.0f) * is;
        float mean_dy = training ? sums[sums_off + c] / count : 0.0f;
        float mean_dy_xhat = training ? sums[sums_off + channels + c] / count : 0.0f;
        dx[dx_off + i] = scale * (dy[dy_off + i] - mean_dy - ((x[x_off + i] - m) * is) * mean_dy_xhat);
    }
}
