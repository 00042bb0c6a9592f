/*
 * tensor_ops.cl - elementwise kernels: fill, arange, random, unary, binary, axpy and
 * the strided copy. src/core/rng.h is prepended to this file.
 *
 * Every kernel walks its elements in a grid-stride loop, so the host may launch any
 * number of whole work-groups. Offsets are element offsets passed as ulong instead of
 * sub-buffers, which would need device-specific alignment.
 */

/* No fused multiply-add: a + b * c must round like the CPU backend's C code. */
#pragma OPENCL FP_CONTRACT OFF

#define MTFL_FOR_EACH(i, n) \
    for (ulong i = get_global_id(0); i < (n); i += get_global_size(0))

/* Same numbering as mtfl_unary_op and mtfl_binary_op in src/core/mtfl.h. */
#define MTFL_UNARY_NEG 0
#define MTFL_UNARY_ABS 1
#define MTFL_UNARY_EXP 2
#define MTFL_UNARY_LOG 3
#define MTFL_UNARY_SQRT 4
#define MTFL_UNARY_RELU 5
#define MTFL_UNARY_TANH 6
#define MTFL_UNARY_SIGMOID 7
#define MTFL_UNARY_ADD_SCALAR 8
#define MTFL_UNARY_MUL_SCALAR 9
#define MTFL_UNARY_RSUB_SCALAR 10
#define MTFL_UNARY_RDIV_SCALAR 11
#define MTFL_UNARY_POW_SCALAR 12
#define MTFL_UNARY_RPOW_SCALAR 13
#define MTFL_UNARY_CLAMP 14
#define MTFL_UNARY_STEP 15
#define MTFL_UNARY_LEAKY_RELU 16
#define MTFL_UNARY_ABS_TANH 17

#define MTFL_BINARY_ADD 0
#define MTFL_BINARY_SUB 1
#define MTFL_BINARY_MUL 2
#define MTFL_BINARY_DIV 3
#define MTFL_BINARY_POW 4
#define MTFL_BINARY_MAX 5
#define MTFL_BINARY_MIN 6
#define MTFL_BINARY_RELU_GRAD 7
#define MTFL_BINARY_TANH_GRAD 8
#define MTFL_BINARY_SIGMOID_GRAD 9
#define MTFL_BINARY_LEAKY_RELU_GRAD 10
#define MTFL_BINARY_ABS_TANH_GRAD 11
#define MTFL_BINARY_PRELU_SLOPE_GRAD 12

__kernel void mtfl_fill(__global float *dst, ulong dst_off, ulong n, float value)
{
    MTFL_FOR_EACH(i, n) dst[dst_off + i] = value;
}

__kernel void mtfl_arange(__global float *dst, ulong dst_off, ulong n, float start, float step)
{
    MTFL_FOR_EACH(i, n) dst[dst_off + i] = start + (float)i * step;
}

/* The formulas of the CPU backend, so that a seed gives the same tensor everywhere. */
__kernel void mtfl_random(__global float *dst, ulong dst_off, ulong n, int normal, ulong seed,
                          ulong counter, float a, float b)
{
    MTFL_FOR_EACH(i, n) {
        dst[dst_off + i] = normal ? a + b * mtfl_rng_normal01(seed, counter + i)
                                  : a + (b - a) * mtfl_rng_uniform01(seed, counter + i);
    }
}

float mtfl_unary_apply(int op, float x, float a, float b)
{
    switch (op) {
    case MTFL_UNARY_NEG: return -x;
    case MTFL_UNARY_ABS: return fabs(x);
    case MTFL_UNARY_EXP: return exp(x);
    case MTFL_UNARY_LOG: return log(x);
    case MTFL_UNARY_SQRT: return sqrt(x);
    case MTFL_UNARY_RELU: return x <= 0.0f ? 0.0f : x;   /* NaN stays NaN, as on the CPU */
    case MTFL_UNARY_TANH: return tanh(x);
    case MTFL_UNARY_SIGMOID: return 1.0f / (1.0f + exp(-x));
    case MTFL_UNARY_ADD_SCALAR: return x + a;
    case MTFL_UNARY_MUL_SCALAR: return x * a;
    case MTFL_UNARY_RSUB_SCALAR: return a - x;
    case MTFL_UNARY_RDIV_SCALAR: return a / x;
    case MTFL_UNARY_POW_SCALAR: return pow(x, a);
    case MTFL_UNARY_RPOW_SCALAR: return pow(a, x);
    case MTFL_UNARY_CLAMP: return isnan(x) ? x : fmin(fmax(x, a), b);
    case MTFL_UNARY_STEP: return x >= a ? b : 0.0f;
    case MTFL_UNARY_LEAKY_RELU: return x > 0.0f ? x : a * x;
    case MTFL_UNARY_ABS_TANH: return fabs(tanh(x));
    default: return x;
    }
}

/* dst may be x itself (in place): each element is read before it is written. */
__kernel void mtfl_unary(__global float *dst, ulong dst_off, __global const float *x,
                         ulong x_off, ulong n, int op, float a, float b)
{
    MTFL_FOR_EACH(i, n) dst[dst_off + i] = mtfl_unary_apply(op, x[x_off + i], a, b);
}

float mtfl_binary_apply(int op, float x, float y, float a)
{
    switch (op) {
    case MTFL_BINARY_ADD: return x + y;
    case MTFL_BINARY_SUB: return x - y;
    case MTFL_BINARY_MUL: return x * y;
    case MTFL_BINARY_DIV: return x / y;
    case MTFL_BINARY_POW: return pow(x, y);
    /* fmax and fmin skip a NaN; here it propagates, as on the CPU */
    case MTFL_BINARY_MAX: return isnan(x) || isnan(y) ? x + y : fmax(x, y);
    case MTFL_BINARY_MIN: return isnan(x) || isnan(y) ? x + y : fmin(x, y);
    /* activation gradients: x is dL/dy, y the activation's output */
    case MTFL_BINARY_RELU_GRAD: return y <= 0.0f ? 0.0f : x;
    case MTFL_BINARY_TANH_GRAD: return x * (1.0f - y * y);
    case MTFL_BINARY_SIGMOID_GRAD: return x * y * (1.0f - y);
    /* gradients from the activation's input: y is the input */
    case MTFL_BINARY_LEAKY_RELU_GRAD: return y > 0.0f ? x : a * x;
    case MTFL_BINARY_ABS_TANH_GRAD: {
        float t = tanh(y);
        return (y > 0.0f ? x : y < 0.0f ? -x : 0.0f) * (1.0f - t * t);
    }
    case MTFL_BINARY_PRELU_SLOPE_GRAD: return y > 0.0f ? 0.0f : x * y;
    default: return x;
    }
}

__kernel void mtfl_binary(__global float *dst, ulong dst_off, __global const float *x,
                          ulong x_off, __global const float *y, ulong y_off, ulong n, int op,
                          float a)
{
    MTFL_FOR_EACH(i, n) dst[dst_off + i] = mtfl_binary_apply(op, x[x_off + i], y[y_off + i], a);
}

__kernel void mtfl_axpy(__global float *y, ulong y_off, float alpha, __global const float *x,
                        ulong x_off, ulong n)
{
    MTFL_FOR_EACH(i, n) y[y_off + i] = y[y_off + i] + alpha * x[x_off + i];
}

/* Element i of the row-major index space [shape] goes from src to dst, each with its
 * own strides. The host merges dimensions first, so ndim is usually 2 or 3 and the
 * 64-bit divisions below stay few. */
__kernel void mtfl_copy_strided(__global float *dst, ulong dst_off, __global const float *src,
                                ulong src_off, ulong n, int ndim, long8 shape8,
                                long8 dst_stride8, long8 src_stride8)
{
    long shape[8], dst_stride[8], src_stride[8];
    vstore8(shape8, 0, shape);
    vstore8(dst_stride8, 0, dst_stride);
    vstore8(src_stride8, 0, src_stride);
    MTFL_FOR_EACH(i, n) {
        long rest = (long)i;
        long to = (long)dst_off, from = (long)src_off;
        for (int d = ndim - 1; d > 0; d--) {
            long outer = rest / shape[d];
            long index = rest - outer * shape[d];
            rest = outer;
            to += index * dst_stride[d];
            from += index * src_stride[d];
        }
        to += rest * dst_stride[0];
        from += rest * src_stride[0];
        dst[to] = src[from];
    }
}
