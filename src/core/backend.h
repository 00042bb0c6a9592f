/*
 * backend.h - what a backend implements. Internal to the library.
 *
 * The core (tensor.c, ops.c) checks arguments, shapes and devices and reduces every op
 * to calls on buffers of one device. A backend sees no tensors: only buffers
 * (handle + element offset) and plain sizes, and every buffer it is handed is already
 * contiguous except in copy_strided. A backend function returns MTFL_OK or an error
 * recorded with MTFL_FAIL_HERE; it never prints or exits.
 */
#ifndef MTFL_BACKEND_H
#define MTFL_BACKEND_H

#include "mtfl.h"

/* Adds n to one of a device's counters (dev->stats), from any thread. */
static inline void mtfl_count(size_t *counter, size_t n)
{
    __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* The devices live in one table (device.c); a device's slot indexes per-device state
 * such as its block cache (memory.c). */
#define MTFL_MAX_DEVICES 32
int mtfl_device_slot(const mtfl_device *dev);

/* The sizes of a convolution: x [n, c, h, w], weights [f, c, kh, kw], y [n, f, out_h, out_w]. */
typedef struct {
    int64_t n, c, h, w, f, out_h, out_w;
} mtfl_conv_dims;

/* Batch normalisation: x viewed as [outer, channels, inner]; each channel's statistics
 * are over outer * inner values. */
typedef struct {
    size_t outer, channels, inner;
    float eps, momentum;
} mtfl_norm_dims;

typedef struct {
    void *handle;   /* float* (CPU) or cl_mem (OpenCL) */
    size_t offset;  /* in elements */
} mtfl_buf;

struct mtfl_backend {
    const char *name;

    /* fresh memory from the driver or the system (memory.c caches it); bytes is a
     * multiple of 512 */
    mtfl_status (*alloc)(mtfl_device *dev, size_t bytes, void **handle);
    void (*release)(mtfl_device *dev, void *handle, size_t bytes); /* bytes as allocated */
    /* host <-> device, n elements; read waits for queued work */
    mtfl_status (*write)(mtfl_device *dev, mtfl_buf dst, const float *src, size_t n);
    mtfl_status (*read)(mtfl_device *dev, float *dst, mtfl_buf src, size_t n);
    mtfl_status (*synchronize)(mtfl_device *dev);

    /* dst[i...] <- src[i...] over an ndim index space with element strides */
    mtfl_status (*copy_strided)(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, int ndim,
                                const int64_t *shape, const int64_t *dst_stride,
                                const int64_t *src_stride);
    mtfl_status (*fill)(mtfl_device *dev, mtfl_buf dst, size_t n, float value);
    mtfl_status (*arange)(mtfl_device *dev, mtfl_buf dst, size_t n, float start, float step);
    /* element i: normal ? mean/stddev normal : uniform in [a, b); see rng.h */
    mtfl_status (*random)(mtfl_device *dev, mtfl_buf dst, size_t n, bool normal,
                          uint64_t seed, uint64_t counter, float a, float b);
    mtfl_status (*unary)(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf x,
                         size_t n, float a, float b);
    /* a: the parameter of mtfl_binary_param (0 for the others) */
    mtfl_status (*binary)(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf x,
                          mtfl_buf y, size_t n, float a);
    mtfl_status (*axpy)(mtfl_device *dev, mtfl_buf y, float alpha, mtfl_buf x, size_t n);
    /* x viewed as [outer, len, inner]; dst is [outer, inner] */
    mtfl_status (*reduce)(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf x,
                          size_t outer, size_t len, size_t inner);
    /* Row-major C[b] <- alpha op(A[b]) op(B[b]) + beta C[b] for b < batch, where
     * X[b] starts at X.offset + b * stride_x (a stride of 0 shares one matrix). */
    mtfl_status (*gemm)(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                        size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                        mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                        size_t ldc, size_t stride_c, size_t batch);

    /* ---- neural-network ops; sizes as in mtfl.h, all buffers contiguous ---- */
    /* x [batch, C, H, W] -> cols [C*KH*KW, batch*OH*OW]: row (c, ki, kj), column
     * (n, oh, ow) holds x[n, c, oh*sh - ph + ki, ow*sw - pw + kj], or 0 outside x. */
    mtfl_status (*im2col)(mtfl_device *dev, mtfl_buf cols, mtfl_buf x, size_t batch,
                          size_t channels, size_t height, size_t width, const mtfl_window *g,
                          size_t out_h, size_t out_w);
    /* The adjoint: dx [batch, C, H, W] is overwritten with the sum of the cols entries
     * that im2col would have read from each position. */
    mtfl_status (*col2im)(mtfl_device *dev, mtfl_buf dx, mtfl_buf cols, size_t batch,
                          size_t channels, size_t height, size_t width, const mtfl_window *g,
                          size_t out_h, size_t out_w);
    /* planes = N*C planes of height x width; padding counts as -infinity; indices get
     * the flat position (row * width + col) of each maximum, the first on ties. */
    mtfl_status (*maxpool_forward)(mtfl_device *dev, mtfl_buf y, mtfl_buf indices, mtfl_buf x,
                                   size_t planes, size_t height, size_t width,
                                   const mtfl_window *g, size_t out_h, size_t out_w);
    /* dx overwritten: each position gets the sum of dy over the windows whose maximum
     * it was (windows may overlap). */
    mtfl_status (*maxpool_backward)(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, mtfl_buf indices,
                                    size_t planes, size_t height, size_t width,
                                    const mtfl_window *g, size_t out_h, size_t out_w);
    /* planes of height x width; each output is the mean of the window's elements inside
     * the plane (padding and a ceil-mode overhang are not counted). */
    mtfl_status (*avgpool_forward)(mtfl_device *dev, mtfl_buf y, mtfl_buf x, size_t planes,
                                   size_t height, size_t width, const mtfl_window *g,
                                   size_t out_h, size_t out_w);
    /* dx overwritten: each position gets dy / count summed over the windows covering it,
     * in increasing output order. */
    mtfl_status (*avgpool_backward)(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, size_t planes,
                                    size_t height, size_t width, const mtfl_window *g,
                                    size_t out_h, size_t out_w);
    /* Batch normalisation (see mtfl_norm_dims). stats: mean[c] and the biased var[c] of
     * each channel, two passes in double; running_mean.handle NULL: no running update,
     * else running = (1 - momentum) running + momentum batch, with the unbiased
     * variance. apply: y = x * scale + shift with scale = weight / sqrt(var + eps) and
     * shift = bias - mean * scale (weight.handle NULL: 1, bias.handle NULL: 0). */
    mtfl_status (*batchnorm_stats)(mtfl_device *dev, mtfl_buf mean, mtfl_buf var,
                                   mtfl_buf running_mean, mtfl_buf running_var, mtfl_buf x,
                                   const mtfl_norm_dims *d);
    mtfl_status (*batchnorm_apply)(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf mean,
                                   mtfl_buf var, mtfl_buf weight, mtfl_buf bias,
                                   const mtfl_norm_dims *d);
    /* sums [2, channels] (scratch, free to use): sum dy and sum dy * xhat per channel,
     * xhat = (x - mean) / sqrt(var + eps); dbias += the first, dweight += the second;
     * dx (overwritten) = w / sqrt(var + eps) * (dy - sum_dy / n - xhat * sum_dy_xhat / n)
     * in training (the statistics were the batch's), w / sqrt(var + eps) * dy outside it.
     * Any of dx, dweight, dbias may have a NULL handle: not wanted. */
    mtfl_status (*batchnorm_backward)(mtfl_device *dev, mtfl_buf dx, mtfl_buf dweight,
                                      mtfl_buf dbias, mtfl_buf sums, mtfl_buf dy, mtfl_buf x,
                                      mtfl_buf mean, mtfl_buf var, mtfl_buf weight,
                                      const mtfl_norm_dims *d, bool training);
    /* x [outer, channels, inner] += bias[c] */
    mtfl_status (*channel_bias)(mtfl_device *dev, mtfl_buf x, mtfl_buf bias, size_t outer,
                                size_t channels, size_t inner);
    /* x, src, dst [outer, channels, inner]: dst = x > 0 ? src : slope[c] * src (the
     * forward with src = x, dx with src = dy); dst may be src */
    mtfl_status (*prelu)(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, mtfl_buf x,
                         mtfl_buf slope, size_t outer, size_t channels, size_t inner);
    mtfl_status (*softmax)(mtfl_device *dev, mtfl_buf probs, mtfl_buf logits, size_t rows,
                           size_t classes);
    /* labels hold class numbers first_class..first_class+classes-1; any other value makes
     * that row's loss and gradient NaN. grad.handle NULL: no gradient. */
    mtfl_status (*softmax_xent)(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad, mtfl_buf logits,
                                mtfl_buf labels, size_t rows, size_t classes, int first_class,
                                float grad_scale);
    /* Per row r of [rows, cols]: d = prediction - target, loss[r] = weight[r] * sum f(d),
     * grad[r, k] = grad_scale * weight[r] * f'(d) for the kind's f (mtfl.h); a and b
     * are wing's w and epsilon, or smooth L1's beta (a), and c wing's C. weight.handle
     * NULL: every weight 1; grad.handle NULL: no gradient. */
    mtfl_status (*landmark_loss)(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                 mtfl_buf prediction, mtfl_buf target, mtfl_buf weight,
                                 size_t rows, size_t cols, mtfl_landmark_kind kind, float a,
                                 float b, float c, float grad_scale);
    /* Adam with the bias corrections folded in by the core:
     *   g = grad + wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
     *   p = p - decay * p - lr_t * m / (sqrt(v) + eps_t)   (decay = lr * AdamW's decay)
     * where lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t) and eps_t = eps * sqrt(1 - b2^t). */
    mtfl_status (*adam)(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf m, mtfl_buf v,
                        size_t n, float lr_t, float beta1, float beta2, float eps_t,
                        float weight_decay, float decay);
    /* velocity.handle NULL: plain SGD (momentum is 0) */
    mtfl_status (*sgd)(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf velocity,
                       size_t n, float lr, float momentum, float weight_decay);
    /* optional: a whole convolution, for a backend that does better than the core's
     * grouped im2col + GEMM (the CPU's column tiles stay in cache). bias.handle NULL:
     * none; dx.handle or dw.handle NULL: not wanted; dx is overwritten, dw accumulated
     * into. The core adds the bias gradient. */
    mtfl_status (*conv2d_forward)(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf w,
                                  mtfl_buf bias, const mtfl_conv_dims *d, const mtfl_window *g);
    mtfl_status (*conv2d_backward)(mtfl_device *dev, mtfl_buf dx, mtfl_buf dw, mtfl_buf dy,
                                   mtfl_buf x, mtfl_buf w, const mtfl_conv_dims *d,
                                   const mtfl_window *g);
    /* optional: tuned parameters for one GEMM kernel of the backend's BLAS */
    mtfl_status (*tune)(mtfl_device *dev, const char *kernel, size_t count,
                        const char *const *names, const size_t *values);
};

extern const mtfl_backend mtfl_cpu_backend;

/* Probes OpenCL and appends its devices to list (at most max). Returns how many were
 * added; on none, *notice says why (no platform, no ICD, ...). */
int mtfl_opencl_probe(mtfl_device *list, int max, const char **notice);

#endif
