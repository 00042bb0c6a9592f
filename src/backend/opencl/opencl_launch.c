/*
 * opencl_launch.c - the kernel table and the one way kernels are enqueued.
 *
 * Every kernel in cl/ loops over its work (grid-stride, or group-stride for the
 * grouped reduction), so a launch can always use a fixed power-of-two group size and a
 * global size rounded up to whole groups and capped: nothing depends on the driver
 * choosing a local size that divides the problem, and sizes beyond 2^32 work-items
 * need no special case.
 */
#include "opencl_internal.h"

static const char *const kernel_names[MTFL_CL_KERNEL_COUNT] = {
    [MTFL_CL_FILL] = "mtfl_fill",
    [MTFL_CL_ARANGE] = "mtfl_arange",
    [MTFL_CL_RANDOM] = "mtfl_random",
    [MTFL_CL_UNARY] = "mtfl_unary",
    [MTFL_CL_BINARY] = "mtfl_binary",
    [MTFL_CL_AXPY] = "mtfl_axpy",
    [MTFL_CL_COPY_STRIDED] = "mtfl_copy_strided",
    [MTFL_CL_REDUCE_GROUPS] = "mtfl_reduce_groups",
    [MTFL_CL_REDUCE_SERIAL] = "mtfl_reduce_serial",
    [MTFL_CL_IM2COL] = "mtfl_im2col",
    [MTFL_CL_COL2IM] = "mtfl_col2im",
    [MTFL_CL_MAXPOOL_FORWARD] = "mtfl_maxpool_forward",
    [MTFL_CL_MAXPOOL_BACKWARD] = "mtfl_maxpool_backward",
    [MTFL_CL_AVGPOOL_FORWARD] = "mtfl_avgpool_forward",
    [MTFL_CL_AVGPOOL_BACKWARD] = "mtfl_avgpool_backward",
    [MTFL_CL_BATCHNORM_STATS] = "mtfl_batchnorm_stats",
    [MTFL_CL_BATCHNORM_APPLY] = "mtfl_batchnorm_apply",
    [MTFL_CL_BATCHNORM_SUMS] = "mtfl_batchnorm_sums",
    [MTFL_CL_BATCHNORM_DX] = "mtfl_batchnorm_dx",
    [MTFL_CL_CHANNEL_BIAS] = "mtfl_channel_bias",
    [MTFL_CL_PRELU] = "mtfl_prelu",
    [MTFL_CL_SOFTMAX] = "mtfl_softmax",
    [MTFL_CL_SOFTMAX_XENT] = "mtfl_softmax_xent",
    [MTFL_CL_LANDMARK_LOSS] = "mtfl_landmark_loss",
    [MTFL_CL_ADAM] = "mtfl_adam",
    [MTFL_CL_SGD] = "mtfl_sgd",
};

const char *mtfl_opencl_kernel_name(mtfl_cl_kernel kernel) { return kernel_names[kernel]; }

mtfl_status mtfl_opencl_launch(mtfl_opencl_device *cl, mtfl_cl_kernel kernel, size_t items,
                               const mtfl_cl_arg *args, int nargs)
{
    const char *name = kernel_names[kernel];
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(cl->kernels[kernel], (cl_uint)i, args[i].size,
                                    args[i].value);
        if (err != CL_SUCCESS)
            return MTFL_CL_FAIL(err, "clSetKernelArg", name);
    }
    size_t local = cl->group_size[kernel];
    size_t groups = items / local + (items % local != 0);
    if (groups > cl->max_groups)
        groups = cl->max_groups;
    if (groups == 0)
        groups = 1;
    size_t global = groups * local;
    mtfl_count(&cl->owner->stats.launches, 1);
    cl_int err = clEnqueueNDRangeKernel(cl->queue, cl->kernels[kernel], 1, NULL, &global,
                                        &local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clEnqueueNDRangeKernel", name);
    return MTFL_OK;
}
