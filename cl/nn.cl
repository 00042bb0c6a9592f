/*
 * nn.cl - kernels of the neural-network layers: im2col and its adjoint, max and average
 * pooling,
 * the per-channel bias, softmax, softmax cross-entropy and the optimiser steps.
 *
 * Every kernel is a gather: each work-item computes whole output elements and writes
 * each of them once. The adjoints (col2im, the pooling backward pass) could scatter
 * with atomic adds instead, but float atomics are missing from OpenCL 1.2 and make
 * the sums depend on scheduling; a gather that adds its terms in the order the CPU
 * backend's scatter does gives the same bits on every run and on every device.
 * Work-items are numbered so that neighbours write neighbouring addresses (the
 * column index of im2col, the position within a plane elsewhere): coalesced writes.
 */

/* No fused multiply-add: a + b * c must round like the CPU backend's C code. */
#pragma OPENCL FP_CONTRACT OFF

#define MTFL_NN_FOR_EACH(i, n) \
    for (ulong i = get_global_id(0); i < (n); i += get_global_size(0))

/* a / b, in 32-bit arithmetic when both fit. GPUs have no 64-bit divider: a 64-bit
 * division is a long software routine, several times the cost of a 32-bit one, and
 * index arithmetic below divides a few times per element. Sizes are the same for
 * every work-item of a launch, so the branch does not diverge. */
ulong mtfl_div(ulong a, ulong b)
{
    return ((a | b) >> 32) == 0 ? (ulong)((uint)a / (uint)b) : a / b;
}

/* The sliding window, packed by the host into an int8 (opencl_nn.c, window_arg). */
typedef struct {
    int kh, kw, sh, sw, ph, pw, out_h, out_w;
} mtfl_window_geometry;

mtfl_window_geometry mtfl_window_of(int8 g)
{
    mtfl_window_geometry w = {g.s0, g.s1, g.s2, g.s3, g.s4, g.s5, g.s6, g.s7};
    return w;
}

/* The outputs whose windows cover input position p (padding included, so p = h + ph)
 * along one dimension: window o covers [o*stride, o*stride + size). ("kernel" is a
 * keyword of OpenCL C.) */
int mtfl_first_window(int p, int size, int stride)
{
    return p < size ? 0 : (p - size) / stride + 1;
}

int mtfl_last_window(int p, int stride, int out)
{
    return min(p / stride, out - 1);
}

/* One work-item per (channel, column): it fills the KH*KW rows of its channel in that
 * column. Neighbouring work-items own neighbouring columns, so every write is
 * coalesced, and the index arithmetic is paid once per KH*KW elements. */
__kernel void mtfl_im2col(__global float *cols, ulong cols_off, __global const float *x,
                          ulong x_off, ulong channels, int height, int width, int8 window,
                          ulong columns)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    const ulong rows_per_channel = (ulong)g.kh * g.kw;
    MTFL_NN_FOR_EACH(i, channels * columns) {
        ulong c = mtfl_div(i, columns), column = i - c * columns;
        ulong n = mtfl_div(column, out_plane);
        int at = (int)(column - n * out_plane);
        int oh = at / g.out_w, ow = at - oh * g.out_w;
        int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;

        __global const float *plane = x + x_off + (n * channels + c) * height * width;
        __global float *out = cols + cols_off + c * rows_per_channel * columns + column;
        for (int ki = 0; ki < g.kh; ki++) {
            int h = h0 + ki;
            bool row_inside = h >= 0 && h < height;
            for (int kj = 0; kj < g.kw; kj++) {
                int w = w0 + kj;
                *out = row_inside && w >= 0 && w < width ? plane[h * width + w] : 0.0f;
                out += columns;
            }
        }
    }
}

/* dx element (n, c, h, w) gathers the cols entries im2col copied it to: one per window
 * covering it, at kernel offset (ki, kj) = (h + ph - oh*sh, w + pw - ow*sw). They are
 * added in increasing cols row, ki then kj (so decreasing oh, ow), the order of a
 * scatter over the rows of cols. */
__kernel void mtfl_col2im(__global float *dx, ulong dx_off, __global const float *cols,
                          ulong cols_off, ulong planes, ulong channels, int height, int width,
                          int8 window, ulong columns)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong in_plane = (ulong)height * width;
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    MTFL_NN_FOR_EACH(i, planes * in_plane) {
        ulong plane = mtfl_div(i, in_plane);
        int at = (int)(i - plane * in_plane);
        int h = at / width, w = at - h * width;
        ulong n = mtfl_div(plane, channels), c = plane - n * channels;
        int hp = h + g.ph, wp = w + g.pw;
        int oh_first = mtfl_first_window(hp, g.kh, g.sh);
        int oh_last = mtfl_last_window(hp, g.sh, g.out_h);
        int ow_first = mtfl_first_window(wp, g.kw, g.sw);
        int ow_last = mtfl_last_window(wp, g.sw, g.out_w);

        __global const float *src =
            cols + cols_off + c * g.kh * g.kw * columns + n * out_plane;
        float sum = 0.0f;
        for (int oh = oh_last; oh >= oh_first; oh--) {
            int ki = hp - oh * g.sh;
            for (int ow = ow_last; ow >= ow_first; ow--) {
                int kj = wp - ow * g.sw;
                sum += src[(ulong)(ki * g.kw + kj) * columns + oh * g.out_w + ow];
            }
        }
        dx[dx_off + i] = sum;
    }
}

/* One work-item per output. The window is clipped to the plane: padding is -infinity
 * and ceil mode lets the last window run off the bottom and right edges, so neither
 * can hold a maximum. The first element of the window is taken as it is and later ones
 * only when strictly larger, scanning rows then columns: the first maximum wins ties.
 * A window with no element at all (padding as wide as the kernel) gives -infinity at
 * index -1, as on the CPU. */
__kernel void mtfl_maxpool_forward(__global float *y, ulong y_off, __global float *indices,
                                   ulong indices_off, __global const float *x, ulong x_off,
                                   ulong planes, int height, int width, int8 window)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong in_plane = (ulong)height * width;
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    MTFL_NN_FOR_EACH(i, planes * out_plane) {
        ulong plane = mtfl_div(i, out_plane);
        int at = (int)(i - plane * out_plane);
        int oh = at / g.out_w, ow = at - oh * g.out_w;
        int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
        int h_begin = max(h0, 0), h_end = min(h0 + g.kh, height);
        int w_begin = max(w0, 0), w_end = min(w0 + g.kw, width);

        __global const float *src = x + x_off + plane * in_plane;
        float best = -INFINITY;
        int best_at = -1;
        for (int h = h_begin; h < h_end; h++) {
            for (int w = w_begin; w < w_end; w++) {
                float v = src[h * width + w];
                /* the first maximum wins ties; the first NaN wins over everything */
                if (v > best || best_at < 0 || (isnan(v) && !isnan(best))) {
                    best = v;
                    best_at = h * width + w;
                }
            }
        }
        y[y_off + i] = best;
        indices[indices_off + i] = (float)best_at;
    }
}

/* dx element (h, w) of a plane sums dy over the windows that cover it and chose it as
 * their maximum, in increasing output order, as a scatter over the outputs would. */
__kernel void mtfl_maxpool_backward(__global float *dx, ulong dx_off, __global const float *dy,
                                    ulong dy_off, __global const float *indices,
                                    ulong indices_off, ulong planes, int height, int width,
                                    int8 window)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong in_plane = (ulong)height * width;
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    MTFL_NN_FOR_EACH(i, planes * in_plane) {
        ulong plane = mtfl_div(i, in_plane);
        int at = (int)(i - plane * in_plane);
        int h = at / width, w = at - h * width;
        int oh_first = mtfl_first_window(h + g.ph, g.kh, g.sh);
        int oh_last = mtfl_last_window(h + g.ph, g.sh, g.out_h);
        int ow_first = mtfl_first_window(w + g.pw, g.kw, g.sw);
        int ow_last = mtfl_last_window(w + g.pw, g.sw, g.out_w);

        /* positions are below 2^24 (the core's limit), exact as floats */
        float me = (float)at;
        ulong base = plane * out_plane;
        float sum = 0.0f;
        for (int oh = oh_first; oh <= oh_last; oh++) {
            for (int ow = ow_first; ow <= ow_last; ow++) {
                ulong o = base + oh * g.out_w + ow;
                if (indices[indices_off + o] == me)
                    sum += dy[dy_off + o];
            }
        }
        dx[dx_off + i] = sum;
    }
}

/* The number of elements of window (oh, ow) inside the plane: padding and a ceil-mode
 * overhang do not count. Its first row and column come back in h_begin, w_begin. */
int mtfl_window_inside(mtfl_window_geometry g, int oh, int ow, int height, int width,
                       int *h_begin, int *h_end, int *w_begin, int *w_end)
{
    int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    *h_begin = max(h0, 0);
    *h_end = min(h0 + g.kh, height);
    *w_begin = max(w0, 0);
    *w_end = min(w0 + g.kw, width);
    return max(*h_end - *h_begin, 0) * max(*w_end - *w_begin, 0);
}

/* One work-item per output, summing rows then columns as the CPU does. */
__kernel void mtfl_avgpool_forward(__global float *y, ulong y_off, __global const float *x,
                                   ulong x_off, ulong planes, int height, int width, int8 window)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong in_plane = (ulong)height * width;
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    MTFL_NN_FOR_EACH(i, planes * out_plane) {
        ulong plane = mtfl_div(i, out_plane);
        int at = (int)(i - plane * out_plane);
        int oh = at / g.out_w, ow = at - oh * g.out_w;
        int h_begin, h_end, w_begin, w_end;
        int count = mtfl_window_inside(g, oh, ow, height, width, &h_begin, &h_end, &w_begin, &w_end);
        __global const float *src = x + x_off + plane * in_plane;
        float sum = 0.0f;
        for (int h = h_begin; h < h_end; h++)
            for (int w = w_begin; w < w_end; w++)
                sum += src[h * width + w];
        y[y_off + i] = count > 0 ? sum / (float)count : 0.0f;
    }
}

/* dx element (h, w) gathers dy / count of every window covering it, in increasing
 * output order: the order of the CPU's scatter. */
__kernel void mtfl_avgpool_backward(__global float *dx, ulong dx_off, __global const float *dy,
                                    ulong dy_off, ulong planes, int height, int width,
                                    int8 window)
{
    const mtfl_window_geometry g = mtfl_window_of(window);
    const ulong in_plane = (ulong)height * width;
    const ulong out_plane = (ulong)g.out_h * g.out_w;
    MTFL_NN_FOR_EACH(i, planes * in_plane) {
        ulong plane = mtfl_div(i, in_plane);
        int at = (int)(i - plane * in_plane);
        int h = at / width, w = at - h * width;
        int oh_first = mtfl_first_window(h + g.ph, g.kh, g.sh);
        int oh_last = mtfl_last_window(h + g.ph, g.sh, g.out_h);
        int ow_first = mtfl_first_window(w + g.pw, g.kw, g.sw);
        int ow_last = mtfl_last_window(w + g.pw, g.sw, g.out_w);
        ulong base = dy_off + plane * out_plane;
        float sum = 0.0f;
        for (int oh = oh_first; oh <= oh_last; oh++) {
            for (int ow = ow_first; ow <= ow_last; ow++) {
                int hb, he, wb, we;
                int count = mtfl_window_inside(g, oh, ow, height, width, &hb, &he, &wb, &we);
                if (count > 0)
                    sum += dy[base + oh * g.out_w + ow] / (float)count;
            }
        }
        dx[dx_off + i] = sum;
    }
}

__kernel void mtfl_channel_bias(__global float *x, ulong x_off, __global const float *bias,
                                ulong bias_off, ulong n, ulong channels, ulong inner)
{
    MTFL_NN_FOR_EACH(i, n) {
        ulong row = mtfl_div(i, inner);
        ulong c = row - mtfl_div(row, channels) * channels;
        x[x_off + i] += bias[bias_off + c];
    }
}

/* dst = x > 0 ? src : slope[c] * src over [outer, channels, inner]: PReLU's forward
 * (src = x) and its input gradient (src = dy). dst may be src. */
__kernel void mtfl_prelu(__global float *dst, ulong dst_off, __global const float *src,
                         ulong src_off, __global const float *x, ulong x_off,
                         __global const float *slope, ulong slope_off, ulong n, ulong channels,
                         ulong inner)
{
    MTFL_NN_FOR_EACH(i, n) {
        ulong row = mtfl_div(i, inner);
        ulong c = row - mtfl_div(row, channels) * channels;
        float v = src[src_off + i];
        dst[dst_off + i] = x[x_off + i] > 0.0f ? v : slope[slope_off + c] * v;
    }
}

/* ---- softmax: one work-item per row (the classes of this project are few) ---------- */

/* Where the device has double, the exponentials are computed in double and rounded
 * (correctly rounded in practice, as glibc's expf is) and the row sum is accumulated
 * in double, as the CPU backend does: probabilities then round to the same floats.
 * That matters for the gradient of a confident row, p - 1 at its label, where one ulp
 * of p is a large relative error. Without double the float path is still accurate to
 * a few ulp. */
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double mtfl_acc;
#else
typedef float mtfl_acc;
#endif

float mtfl_exp_rounded(float x) { return (float)exp((mtfl_acc)x); }

/* The row's maximum and the sum of exp(row[j] - max) over every j but the first
 * maximum, whose term is exactly 1: the full sum is 1 + rest, and log1p(rest) keeps the
 * loss of a confident row accurate where log(1 + rest) would round it to 0. */
typedef struct {
    float max;
    mtfl_acc rest;
} mtfl_row_stats;

mtfl_row_stats mtfl_row_stats_of(__global const float *row, ulong classes)
{
    ulong top = 0;
    for (ulong j = 1; j < classes; j++)
        if (row[j] > row[top])
            top = j;
    mtfl_row_stats s = {row[top], 0};
    for (ulong j = 0; j < classes; j++)
        if (j != top)
            s.rest += mtfl_exp_rounded(row[j] - s.max);
    return s;
}

float mtfl_row_prob(__global const float *row, ulong j, mtfl_row_stats s)
{
    return (float)(mtfl_exp_rounded(row[j] - s.max) / (1 + s.rest));
}

__kernel void mtfl_softmax(__global float *probs, ulong probs_off, __global const float *logits,
                           ulong logits_off, ulong rows, ulong classes)
{
    MTFL_NN_FOR_EACH(r, rows) {
        __global const float *row = logits + logits_off + r * classes;
        __global float *out = probs + probs_off + r * classes;
        mtfl_row_stats s = mtfl_row_stats_of(row, classes);
        for (ulong j = 0; j < classes; j++)
            out[j] = mtfl_row_prob(row, j, s);
    }
}

/* loss = logsumexp(row) - row[label] = log1p(rest) - (row[label] - max); a label that
 * is not a class number first..first+classes-1 makes the row NaN (src/core/nn.c) */
__kernel void mtfl_softmax_xent(__global float *loss, ulong loss_off, __global float *grad,
                                ulong grad_off, int has_grad, __global const float *logits,
                                ulong logits_off, __global const float *labels,
                                ulong labels_off, ulong rows, ulong classes, int first,
                                float grad_scale)
{
    MTFL_NN_FOR_EACH(r, rows) {
        __global const float *row = logits + logits_off + r * classes;
        float c = labels[labels_off + r] - (float)first;
        if (!(c >= 0.0f && c < (float)classes && c == floor(c))) {
            loss[loss_off + r] = NAN;
            if (has_grad)
                for (ulong j = 0; j < classes; j++)
                    grad[grad_off + r * classes + j] = NAN;
            continue;
        }
        ulong label = (ulong)c;
        mtfl_row_stats s = mtfl_row_stats_of(row, classes);
        loss[loss_off + r] = (float)(log1p(s.rest) - (mtfl_acc)(row[label] - s.max));
        if (has_grad) {
            __global float *out = grad + grad_off + r * classes;
            for (ulong j = 0; j < classes; j++) {
                float p = mtfl_row_prob(row, j, s);
                out[j] = grad_scale * (p - (j == label ? 1.0f : 0.0f));
            }
        }
    }
}

/* ---- optimiser steps, the formulas of src/core/backend.h --------------------------- */

__kernel void mtfl_adam(__global float *param, ulong param_off, __global const float *grad,
                        ulong grad_off, __global float *m, ulong m_off, __global float *v,
                        ulong v_off, ulong n, float lr_t, float beta1, float beta2,
                        float eps_t, float weight_decay, float decay)
{
    MTFL_NN_FOR_EACH(i, n) {
        float p = param[param_off + i];
        float g = grad[grad_off + i] + weight_decay * p;
        float mi = beta1 * m[m_off + i] + (1.0f - beta1) * g;
        float vi = beta2 * v[v_off + i] + (1.0f - beta2) * g * g;
        m[m_off + i] = mi;
        v[v_off + i] = vi;
        param[param_off + i] = p - decay * p - lr_t * mi / (sqrt(vi) + eps_t);
    }
}

/* has_velocity 0: plain SGD, velocity is not touched (it may be a NULL buffer) */
__kernel void mtfl_sgd(__global float *param, ulong param_off, __global const float *grad,
                       ulong grad_off, __global float *velocity, ulong velocity_off,
                       int has_velocity, ulong n, float lr, float momentum,
                       float weight_decay)
{
    MTFL_NN_FOR_EACH(i, n) {
        float p = param[param_off + i];
        float g = grad[grad_off + i] + weight_decay * p;
        if (has_velocity) {
            g = momentum * velocity[velocity_off + i] + g;
            velocity[velocity_off + i] = g;
        }
        param[param_off + i] = p - lr * g;
    }
}
