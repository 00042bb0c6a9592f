/*
 * cpu_backend.c - the CPU backend: memory, copies, fills and random numbers.
 *
 * Plain C with OpenMP over both cores for anything large; OpenBLAS for GEMM
 * (cpu_gemm.c); plain aligned blocks for memory (cpu_memory.c; the core caches them).
 * This backend is also the reference every OpenCL kernel is tested against, so clarity
 * wins over cleverness wherever speed does not matter.
 */
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "rng.h"

static mtfl_status cpu_write(mtfl_device *dev, mtfl_buf dst, const float *src, size_t n)
{
    memcpy(cpu_ptr(dst), src, n * sizeof(float));
    return MTFL_OK;
}

static mtfl_status cpu_read(mtfl_device *dev, float *dst, mtfl_buf src, size_t n)
{
    memcpy(dst, cpu_ptr(src), n * sizeof(float));
    return MTFL_OK;
}

static mtfl_status cpu_synchronize(mtfl_device *dev) { return MTFL_OK; }

/* The innermost dimension is a tight loop (a memcpy when both strides are 1); the
 * outer dimensions are walked as one flat index, split across threads. */
static mtfl_status cpu_copy_strided(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, int ndim,
                                    const int64_t *shape, const int64_t *dst_stride,
                                    const int64_t *src_stride)
{
    float *d = cpu_ptr(dst);
    const float *s = cpu_ptr(src);
    int last = ndim - 1;
    int64_t run = shape[last], ds = dst_stride[last], ss = src_stride[last];
    int64_t rows = 1;
    for (int i = 0; i < last; i++) rows *= shape[i];

#pragma omp parallel for if (rows * run >= MTFL_CPU_PARALLEL_MIN && rows > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t rest = r, d_at = 0, s_at = 0;
        for (int i = last - 1; i >= 0; i--) {
            int64_t idx = rest % shape[i];
            rest /= shape[i];
            d_at += idx * dst_stride[i];
            s_at += idx * src_stride[i];
        }
        if (ds == 1 && ss == 1) {
            memmove(d + d_at, s + s_at, (size_t)run * sizeof(float));
        } else {
            for (int64_t j = 0; j < run; j++) d[d_at + j * ds] = s[s_at + j * ss];
        }
    }
    return MTFL_OK;
}

static mtfl_status cpu_fill(mtfl_device *dev, mtfl_buf dst, size_t n, float value)
{
    float *d = cpu_ptr(dst);
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) d[i] = value;
    return MTFL_OK;
}

static mtfl_status cpu_arange(mtfl_device *dev, mtfl_buf dst, size_t n, float start, float step)
{
    float *d = cpu_ptr(dst);
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) d[i] = start + (float)i * step;
    return MTFL_OK;
}

static mtfl_status cpu_random(mtfl_device *dev, mtfl_buf dst, size_t n, bool normal,
                              uint64_t seed, uint64_t counter, float a, float b)
{
    float *d = cpu_ptr(dst);
    if (normal) {
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN / 8) schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = a + b * mtfl_rng_normal01(seed, counter + i);
    } else {
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN / 8) schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = a + (b - a) * mtfl_rng_uniform01(seed, counter + i);
    }
    return MTFL_OK;
}

const mtfl_backend mtfl_cpu_backend = {
    .name = "cpu",
    .alloc = mtfl_cpu_alloc,
    .conv2d_forward = mtfl_cpu_conv2d_forward,
    .conv2d_backward = mtfl_cpu_conv2d_backward,
    .release = mtfl_cpu_free,
    .write = cpu_write,
    .read = cpu_read,
    .synchronize = cpu_synchronize,
    .copy_strided = cpu_copy_strided,
    .fill = cpu_fill,
    .arange = cpu_arange,
    .random = cpu_random,
    .unary = mtfl_cpu_unary,
    .binary = mtfl_cpu_binary,
    .axpy = mtfl_cpu_axpy,
    .reduce = mtfl_cpu_reduce,
    .gemm = mtfl_cpu_gemm,
    .im2col = mtfl_cpu_im2col,
    .col2im = mtfl_cpu_col2im,
    .maxpool_forward = mtfl_cpu_maxpool_forward,
    .maxpool_backward = mtfl_cpu_maxpool_backward,
    .avgpool_forward = mtfl_cpu_avgpool_forward,
    .avgpool_backward = mtfl_cpu_avgpool_backward,
    .batchnorm_stats = mtfl_cpu_batchnorm_stats,
    .batchnorm_apply = mtfl_cpu_batchnorm_apply,
    .batchnorm_backward = mtfl_cpu_batchnorm_backward,
    .channel_bias = mtfl_cpu_channel_bias,
    .prelu = mtfl_cpu_prelu,
    .softmax = mtfl_cpu_softmax,
    .softmax_xent = mtfl_cpu_softmax_xent,
    .landmark_loss = mtfl_cpu_landmark_loss,
    .adam = mtfl_cpu_adam,
    .sgd = mtfl_cpu_sgd,
};
