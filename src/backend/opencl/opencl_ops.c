/*
 * opencl_ops.c - the elementwise ops and the strided copy, as kernel launches.
 *
 * Each op is one launch of a kernel from cl/tensor_ops.cl that takes the op code as
 * an argument: the branch costs nothing next to the memory traffic, and one kernel
 * per family keeps the program small to compile. The strided copy first merges
 * dimensions that are contiguous in both tensors, because the kernel pays a 64-bit
 * division per remaining dimension and element; a copy that merges into one
 * contiguous run becomes a plain clEnqueueCopyBuffer.
 */
#include <string.h>

#include "opencl_internal.h"

_Static_assert(MTFL_UNARY_NEG == 0 && MTFL_UNARY_SIGMOID == 7 && MTFL_UNARY_ADD_SCALAR == 8 &&
                   MTFL_UNARY_CLAMP == 14 && MTFL_UNARY_STEP == 15 && MTFL_UNARY_LEAKY_RELU == 16 &&
                   MTFL_UNARY_ABS_TANH == 17 && MTFL_UNARY_COUNT == 18,
               "cl/tensor_ops.cl numbers the unary ops as mtfl.h does");
_Static_assert(MTFL_BINARY_ADD == 0 && MTFL_BINARY_POW == 4 && MTFL_BINARY_MIN == 6 &&
                   MTFL_BINARY_RELU_GRAD == 7 && MTFL_BINARY_TANH_GRAD == 8 &&
                   MTFL_BINARY_SIGMOID_GRAD == 9 && MTFL_BINARY_LEAKY_RELU_GRAD == 10 &&
                   MTFL_BINARY_ABS_TANH_GRAD == 11 && MTFL_BINARY_PRELU_SLOPE_GRAD == 12 &&
                   MTFL_BINARY_COUNT == 13,
               "cl/tensor_ops.cl numbers the binary ops as mtfl.h does");

mtfl_status mtfl_opencl_fill(mtfl_device *dev, mtfl_buf dst, size_t n, float value)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem mem = dst.handle;
    cl_ulong off = dst.offset, count = n;
    cl_float v = value;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_FILL, n, MTFL_CL_ARG(mem), MTFL_CL_ARG(off),
                            MTFL_CL_ARG(count), MTFL_CL_ARG(v));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_arange(mtfl_device *dev, mtfl_buf dst, size_t n, float start,
                               float step)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem mem = dst.handle;
    cl_ulong off = dst.offset, count = n;
    cl_float from = start, by = step;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_ARANGE, n, MTFL_CL_ARG(mem), MTFL_CL_ARG(off),
                            MTFL_CL_ARG(count), MTFL_CL_ARG(from), MTFL_CL_ARG(by));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_random(mtfl_device *dev, mtfl_buf dst, size_t n, bool normal,
                               uint64_t seed, uint64_t counter, float a, float b)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem mem = dst.handle;
    cl_ulong off = dst.offset, count = n, seed_arg = seed, counter_arg = counter;
    cl_int is_normal = normal;
    cl_float a_arg = a, b_arg = b;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_RANDOM, n, MTFL_CL_ARG(mem), MTFL_CL_ARG(off),
                            MTFL_CL_ARG(count), MTFL_CL_ARG(is_normal), MTFL_CL_ARG(seed_arg),
                            MTFL_CL_ARG(counter_arg), MTFL_CL_ARG(a_arg), MTFL_CL_ARG(b_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_unary(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf x,
                              size_t n, float a, float b)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dst_mem = dst.handle, x_mem = x.handle;
    cl_ulong dst_off = dst.offset, x_off = x.offset, count = n;
    cl_int op_arg = op;
    cl_float a_arg = a, b_arg = b;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_UNARY, n, MTFL_CL_ARG(dst_mem), MTFL_CL_ARG(dst_off),
                            MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off), MTFL_CL_ARG(count),
                            MTFL_CL_ARG(op_arg), MTFL_CL_ARG(a_arg), MTFL_CL_ARG(b_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_binary(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf x,
                               mtfl_buf y, size_t n, float a)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dst_mem = dst.handle, x_mem = x.handle, y_mem = y.handle;
    cl_ulong dst_off = dst.offset, x_off = x.offset, y_off = y.offset, count = n;
    cl_int op_arg = op;
    cl_float a_arg = a;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_BINARY, n, MTFL_CL_ARG(dst_mem), MTFL_CL_ARG(dst_off),
                            MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off), MTFL_CL_ARG(y_mem),
                            MTFL_CL_ARG(y_off), MTFL_CL_ARG(count), MTFL_CL_ARG(op_arg),
                            MTFL_CL_ARG(a_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_axpy(mtfl_device *dev, mtfl_buf y, float alpha, mtfl_buf x, size_t n)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem y_mem = y.handle, x_mem = x.handle;
    cl_ulong y_off = y.offset, x_off = x.offset, count = n;
    cl_float alpha_arg = alpha;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_AXPY, n, MTFL_CL_ARG(y_mem), MTFL_CL_ARG(y_off),
                            MTFL_CL_ARG(alpha_arg), MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off),
                            MTFL_CL_ARG(count));
    mtfl_opencl_unlock(cl);
    return status;
}

/* ---- strided copy ---------------------------------------------------------------- */

typedef struct {
    int ndim;
    cl_long shape[MTFL_MAX_DIMS], dst_stride[MTFL_MAX_DIMS], src_stride[MTFL_MAX_DIMS];
} copy_layout;

/* Drops size-1 dimensions and merges each dimension into the one inside it when both
 * tensors step over it as one run. Returns the element count. */
static size_t simplify_layout(copy_layout *out, int ndim, const int64_t *shape,
                              const int64_t *dst_stride, const int64_t *src_stride)
{
    size_t count = 1;
    out->ndim = 0;
    for (int d = 0; d < ndim; d++) {
        count *= (size_t)shape[d];
        if (shape[d] == 1)
            continue;
        int last = out->ndim - 1;
        if (last >= 0 && out->dst_stride[last] == shape[d] * dst_stride[d] &&
            out->src_stride[last] == shape[d] * src_stride[d]) {
            out->shape[last] *= shape[d];
            out->dst_stride[last] = dst_stride[d];
            out->src_stride[last] = src_stride[d];
            continue;
        }
        out->shape[out->ndim] = shape[d];
        out->dst_stride[out->ndim] = dst_stride[d];
        out->src_stride[out->ndim] = src_stride[d];
        out->ndim++;
    }
    if (out->ndim == 0) { /* a single element */
        out->ndim = 1;
        out->shape[0] = out->dst_stride[0] = out->src_stride[0] = 1;
    }
    return count;
}

static bool ranges_overlap(mtfl_buf a, mtfl_buf b, size_t n)
{
    return a.handle == b.handle && a.offset < b.offset + n && b.offset < a.offset + n;
}

static mtfl_status copy_contiguous(mtfl_device *dev, mtfl_opencl_device *cl, mtfl_buf dst,
                                   mtfl_buf src, size_t n)
{
    cl_int err = clEnqueueCopyBuffer(cl->queue, src.handle, dst.handle,
                                     src.offset * sizeof(float), dst.offset * sizeof(float),
                                     n * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clEnqueueCopyBuffer", dev->name);
    return MTFL_OK;
}

static cl_long8 as_long8(const cl_long *values, int ndim)
{
    cl_long8 v;
    memset(&v, 0, sizeof v);
    for (int d = 0; d < ndim; d++)
        v.s[d] = values[d];
    return v;
}

static mtfl_status copy_kernel(mtfl_opencl_device *cl, mtfl_buf dst, mtfl_buf src, size_t n,
                               const copy_layout *layout)
{
    cl_mem dst_mem = dst.handle, src_mem = src.handle;
    cl_ulong dst_off = dst.offset, src_off = src.offset, count = n;
    cl_int ndim = layout->ndim;
    cl_long8 shape = as_long8(layout->shape, ndim);
    cl_long8 dst_stride = as_long8(layout->dst_stride, ndim);
    cl_long8 src_stride = as_long8(layout->src_stride, ndim);
    return MTFL_CL_LAUNCH(cl, MTFL_CL_COPY_STRIDED, n, MTFL_CL_ARG(dst_mem),
                          MTFL_CL_ARG(dst_off), MTFL_CL_ARG(src_mem), MTFL_CL_ARG(src_off),
                          MTFL_CL_ARG(count), MTFL_CL_ARG(ndim), MTFL_CL_ARG(shape),
                          MTFL_CL_ARG(dst_stride), MTFL_CL_ARG(src_stride));
}

mtfl_status mtfl_opencl_copy_strided(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, int ndim,
                                     const int64_t *shape, const int64_t *dst_stride,
                                     const int64_t *src_stride)
{
    if (ndim < 0 || ndim > MTFL_MAX_DIMS)
        return MTFL_FAIL_HERE(MTFL_ERR_ARG, "opencl: copy of %d dimensions (at most %d)", ndim,
                              MTFL_MAX_DIMS);
    copy_layout layout;
    size_t n = simplify_layout(&layout, ndim, shape, dst_stride, src_stride);
    if (n == 0)
        return MTFL_OK;
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    bool one_run = layout.ndim == 1 && layout.dst_stride[0] == 1 && layout.src_stride[0] == 1;
    if (one_run && !ranges_overlap(dst, src, n))
        status = copy_contiguous(dev, cl, dst, src, n);
    else
        status = copy_kernel(cl, dst, src, n, &layout);
    mtfl_opencl_unlock(cl);
    return status;
}
