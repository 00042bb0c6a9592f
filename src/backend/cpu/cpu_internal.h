/*
 * cpu_internal.h - shared by the CPU backend's files.
 */
#ifndef MTFL_CPU_INTERNAL_H
#define MTFL_CPU_INTERNAL_H

#include <string.h>

#include "backend.h"

/* Below this many elements a parallel region costs more than it saves. */
#define MTFL_CPU_PARALLEL_MIN 32768

static inline float *cpu_ptr(mtfl_buf b) { return (float *)b.handle + b.offset; }

/* Whether v takes best's place in a maximum (a minimum): it is larger (smaller), or it is
 * the first NaN, which then stays. A NaN shows in max, min, their args and max pooling,
 * as in PyTorch, instead of the best of the other values. */
static inline bool cpu_beats_max(float v, float best) { return v > best || (v != v && best == best); }
static inline bool cpu_beats_min(float v, float best) { return v < best || (v != v && best == best); }

/* The output columns [*lo, *hi) whose input column ow * stride + shift lies inside a row
 * of `width`; the others read padding. Settling this per row lets the inner loops run
 * without a bounds test per element (and as memcpy or a plain add when stride is 1). */
static inline void inside_columns(long shift, long stride, size_t width, size_t out_w, long *lo, long *hi)
{
    *lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
    *hi = (long)width - shift <= 0 ? 0 : ((long)width - shift + stride - 1) / stride;
    if (*hi > (long)out_w) *hi = (long)out_w;
    if (*lo > *hi) *lo = *hi;
}

/* One row of im2col columns: out[ow] is column ow * stride + shift of the input row in,
 * and 0 outside [lo, hi) (inside_columns), where the window reads padding; in NULL: a
 * row of padding. */
static inline void im2col_row(float *out, const float *in, long lo, long hi, long stride,
                              long shift, size_t out_w)
{
    if (!in) {
        memset(out, 0, out_w * sizeof(float));
        return;
    }
    for (long ow = 0; ow < lo; ow++) out[ow] = 0.0f;
    if (stride == 1) memcpy(out + lo, in + lo + shift, (size_t)(hi - lo) * sizeof(float));
    else for (long ow = lo; ow < hi; ow++) out[ow] = in[ow * stride + shift];
    for (long ow = hi; ow < (long)out_w; ow++) out[ow] = 0.0f;
}

/* Its reverse, for the backward pass: row[ow * stride + shift] += in[ow] over [lo, hi)
 * (a plain vector add at stride 1). */
static inline void col2im_row(float *row, const float *in, long lo, long hi, long stride, long shift)
{
    if (stride == 1) {
        float *to = row + lo + shift;
        for (long k = 0; k < hi - lo; k++) to[k] += in[lo + k];
    } else {
        for (long ow = lo; ow < hi; ow++) row[ow * stride + shift] += in[ow];
    }
}

/* cpu_memory.c */
mtfl_status mtfl_cpu_alloc(mtfl_device *dev, size_t bytes, void **handle);
void mtfl_cpu_free(mtfl_device *dev, void *handle, size_t bytes);

mtfl_status mtfl_cpu_reduce(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf x,
                            size_t outer, size_t len, size_t inner);
mtfl_status mtfl_cpu_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                          size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                          mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                          size_t ldc, size_t stride_c, size_t batch);
mtfl_status mtfl_cpu_unary(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf x,
                           size_t n, float a, float b);
mtfl_status mtfl_cpu_binary(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf x,
                            mtfl_buf y, size_t n, float a);
mtfl_status mtfl_cpu_axpy(mtfl_device *dev, mtfl_buf y, float alpha, mtfl_buf x, size_t n);

/* cpu_conv.c */
mtfl_status mtfl_cpu_conv2d_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf w,
                                    mtfl_buf bias, const mtfl_conv_dims *d, const mtfl_window *g);
mtfl_status mtfl_cpu_conv2d_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dw, mtfl_buf dy,
                                     mtfl_buf x, mtfl_buf w, const mtfl_conv_dims *d,
                                     const mtfl_window *g);

/* cpu_batchnorm.c */
mtfl_status mtfl_cpu_batchnorm_stats(mtfl_device *dev, mtfl_buf mean, mtfl_buf var,
                                     mtfl_buf running_mean, mtfl_buf running_var, mtfl_buf x,
                                     const mtfl_norm_dims *d);
mtfl_status mtfl_cpu_batchnorm_apply(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf mean,
                                     mtfl_buf var, mtfl_buf weight, mtfl_buf bias,
                                     const mtfl_norm_dims *d);
mtfl_status mtfl_cpu_batchnorm_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dweight,
                                        mtfl_buf dbias, mtfl_buf sums, mtfl_buf dy, mtfl_buf x,
                                        mtfl_buf mean, mtfl_buf var, mtfl_buf weight,
                                        const mtfl_norm_dims *d, bool training);

/* cpu_nn.c: see backend.h for what each computes */
mtfl_status mtfl_cpu_im2col(mtfl_device *dev, mtfl_buf cols, mtfl_buf x, size_t batch,
                            size_t channels, size_t height, size_t width, const mtfl_window *g,
                            size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_col2im(mtfl_device *dev, mtfl_buf dx, mtfl_buf cols, size_t batch,
                            size_t channels, size_t height, size_t width, const mtfl_window *g,
                            size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_maxpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf indices, mtfl_buf x,
                                     size_t planes, size_t height, size_t width,
                                     const mtfl_window *g, size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_avgpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf x, size_t planes,
                                     size_t height, size_t width, const mtfl_window *g,
                                     size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_avgpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, size_t planes,
                                      size_t height, size_t width, const mtfl_window *g,
                                      size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_maxpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, mtfl_buf indices,
                                      size_t planes, size_t height, size_t width,
                                      const mtfl_window *g, size_t out_h, size_t out_w);
mtfl_status mtfl_cpu_prelu(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, mtfl_buf x,
                           mtfl_buf slope, size_t outer, size_t channels, size_t inner);
mtfl_status mtfl_cpu_channel_bias(mtfl_device *dev, mtfl_buf x, mtfl_buf bias, size_t outer,
                                  size_t channels, size_t inner);
mtfl_status mtfl_cpu_softmax(mtfl_device *dev, mtfl_buf probs, mtfl_buf logits, size_t rows,
                             size_t classes);
mtfl_status mtfl_cpu_softmax_xent(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad, mtfl_buf logits,
                                  mtfl_buf labels, size_t rows, size_t classes, int first_class,
                                  float grad_scale);
mtfl_status mtfl_cpu_adam(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf m, mtfl_buf v,
                          size_t n, float lr_t, float beta1, float beta2, float eps_t,
                          float weight_decay, float decay);
mtfl_status mtfl_cpu_landmark_loss(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                   mtfl_buf prediction, mtfl_buf target, mtfl_buf weight,
                                   size_t rows, size_t cols, mtfl_landmark_kind kind, float a,
                                   float b, float c, float grad_scale);
mtfl_status mtfl_cpu_sgd(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf velocity,
                         size_t n, float lr, float momentum, float weight_decay);

#endif
