/*
 * opencl_batchnorm.c - batch normalisation as kernel launches (cl/nn_batchnorm.cl):
 * the per-channel sums with one work-group per channel, the element-wise parts as
 * grid-stride loops. The backward pass takes two launches, because dx needs the
 * channel's complete sums; they meet in the core's scratch buffer.
 */
#include "opencl_internal.h"

/* An optional buffer: NULL handles are passed as NULL cl_mem, which the kernels never
 * read (their has_ flag is 0). */
typedef struct {
    cl_mem mem;
    cl_ulong off;
    cl_int present;
} optional_buf;

static optional_buf optional(mtfl_buf b)
{
    return (optional_buf){b.handle, b.handle ? b.offset : 0, b.handle != NULL};
}

mtfl_status mtfl_opencl_batchnorm_stats(mtfl_device *dev, mtfl_buf mean, mtfl_buf var,
                                        mtfl_buf running_mean, mtfl_buf running_var,
                                        mtfl_buf x, const mtfl_norm_dims *d)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem mean_mem = mean.handle, var_mem = var.handle, x_mem = x.handle;
    cl_ulong mean_off = mean.offset, var_off = var.offset, x_off = x.offset;
    optional_buf rm = optional(running_mean), rv = optional(running_var);
    cl_ulong outer = d->outer, channels = d->channels, inner = d->inner;
    cl_float momentum = d->momentum;
    size_t items = d->channels * cl->group_size[MTFL_CL_BATCHNORM_STATS];
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_BATCHNORM_STATS, items, MTFL_CL_ARG(mean_mem),
                            MTFL_CL_ARG(mean_off), MTFL_CL_ARG(var_mem), MTFL_CL_ARG(var_off),
                            MTFL_CL_ARG(rm.mem), MTFL_CL_ARG(rm.off), MTFL_CL_ARG(rv.mem),
                            MTFL_CL_ARG(rv.off), MTFL_CL_ARG(rm.present), MTFL_CL_ARG(x_mem),
                            MTFL_CL_ARG(x_off), MTFL_CL_ARG(outer), MTFL_CL_ARG(channels),
                            MTFL_CL_ARG(inner), MTFL_CL_ARG(momentum));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_batchnorm_apply(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf mean,
                                        mtfl_buf var, mtfl_buf weight, mtfl_buf bias,
                                        const mtfl_norm_dims *d)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem y_mem = y.handle, x_mem = x.handle, mean_mem = mean.handle, var_mem = var.handle;
    cl_ulong y_off = y.offset, x_off = x.offset, mean_off = mean.offset, var_off = var.offset;
    optional_buf w = optional(weight), b = optional(bias);
    cl_ulong n = (cl_ulong)d->outer * d->channels * d->inner;
    cl_ulong channels = d->channels, inner = d->inner;
    cl_float eps = d->eps;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_BATCHNORM_APPLY, n, MTFL_CL_ARG(y_mem), MTFL_CL_ARG(y_off),
                            MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off), MTFL_CL_ARG(mean_mem),
                            MTFL_CL_ARG(mean_off), MTFL_CL_ARG(var_mem), MTFL_CL_ARG(var_off),
                            MTFL_CL_ARG(w.mem), MTFL_CL_ARG(w.off), MTFL_CL_ARG(w.present),
                            MTFL_CL_ARG(b.mem), MTFL_CL_ARG(b.off), MTFL_CL_ARG(b.present),
                            MTFL_CL_ARG(n), MTFL_CL_ARG(channels), MTFL_CL_ARG(inner),
                            MTFL_CL_ARG(eps));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_batchnorm_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dweight,
                                           mtfl_buf dbias, mtfl_buf sums, mtfl_buf dy, mtfl_buf x,
                                           mtfl_buf mean, mtfl_buf var, mtfl_buf weight,
                                           const mtfl_norm_dims *d, bool training)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem sums_mem = sums.handle, dy_mem = dy.handle, x_mem = x.handle;
    cl_mem mean_mem = mean.handle, var_mem = var.handle;
    cl_ulong sums_off = sums.offset, dy_off = dy.offset, x_off = x.offset;
    cl_ulong mean_off = mean.offset, var_off = var.offset;
    optional_buf dw = optional(dweight), db = optional(dbias), w = optional(weight);
    cl_ulong outer = d->outer, channels = d->channels, inner = d->inner;
    cl_float eps = d->eps;
    /* outside training dx needs no sums: only the parameter gradients do */
    if (training || dw.present || db.present) {
        size_t items = d->channels * cl->group_size[MTFL_CL_BATCHNORM_SUMS];
        status = MTFL_CL_LAUNCH(cl, MTFL_CL_BATCHNORM_SUMS, items, MTFL_CL_ARG(sums_mem),
                                MTFL_CL_ARG(sums_off), MTFL_CL_ARG(dw.mem), MTFL_CL_ARG(dw.off),
                                MTFL_CL_ARG(dw.present), MTFL_CL_ARG(db.mem),
                                MTFL_CL_ARG(db.off), MTFL_CL_ARG(db.present),
                                MTFL_CL_ARG(dy_mem), MTFL_CL_ARG(dy_off), MTFL_CL_ARG(x_mem),
                                MTFL_CL_ARG(x_off), MTFL_CL_ARG(mean_mem),
                                MTFL_CL_ARG(mean_off), MTFL_CL_ARG(var_mem),
                                MTFL_CL_ARG(var_off), MTFL_CL_ARG(outer),
                                MTFL_CL_ARG(channels), MTFL_CL_ARG(inner), MTFL_CL_ARG(eps));
    }
    if (status == MTFL_OK && dx.handle) {
        cl_mem dx_mem = dx.handle;
        cl_ulong dx_off = dx.offset, n = (cl_ulong)d->outer * d->channels * d->inner;
        cl_int training_arg = training;
        status = MTFL_CL_LAUNCH(cl, MTFL_CL_BATCHNORM_DX, n, MTFL_CL_ARG(dx_mem),
                                MTFL_CL_ARG(dx_off), MTFL_CL_ARG(dy_mem), MTFL_CL_ARG(dy_off),
                                MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off), MTFL_CL_ARG(sums_mem),
                                MTFL_CL_ARG(sums_off), MTFL_CL_ARG(mean_mem),
                                MTFL_CL_ARG(mean_off), MTFL_CL_ARG(var_mem),
                                MTFL_CL_ARG(var_off), MTFL_CL_ARG(w.mem), MTFL_CL_ARG(w.off),
                                MTFL_CL_ARG(w.present), MTFL_CL_ARG(training_arg),
                                MTFL_CL_ARG(n), MTFL_CL_ARG(outer), MTFL_CL_ARG(channels),
                                MTFL_CL_ARG(inner), MTFL_CL_ARG(eps));
    }
    mtfl_opencl_unlock(cl);
    return status;
}
