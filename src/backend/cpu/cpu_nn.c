/*
 * cpu_nn.c - layer kernels on the CPU: im2col/col2im, max and average pooling, bias, softmax
 * cross-entropy and the optimizers' updates.
 *
 * Work is split over whole image planes, so each thread writes memory no other thread
 * touches: the scatter-style backward passes need no atomics and are deterministic.
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cpu_internal.h"

mtfl_status mtfl_cpu_im2col(mtfl_device *dev, mtfl_buf cols_b, mtfl_buf x_b, size_t batch,
                            size_t channels, size_t height, size_t width, const mtfl_window *g,
                            size_t out_h, size_t out_w)
{
    float *cols = cpu_ptr(cols_b);
    const float *x = cpu_ptr(x_b);
    size_t plane = out_h * out_w, row_len = batch * plane;
    long kh = g->kernel_h, kw = g->kernel_w, sw = g->stride_w;
#pragma omp parallel for collapse(2) schedule(static)
    for (size_t c = 0; c < channels; c++)
        for (size_t n = 0; n < batch; n++) {
            const float *src = x + (n * channels + c) * height * width;
            for (long ki = 0; ki < kh; ki++)
                for (long kj = 0; kj < kw; kj++) {
                    float *dst = cols + ((c * (size_t)kh + (size_t)ki) * (size_t)kw + (size_t)kj) * row_len + n * plane;
                    long shift = kj - g->pad_w, lo, hi;
                    inside_columns(shift, sw, width, out_w, &lo, &hi);
                    for (size_t oh = 0; oh < out_h; oh++) {
                        long ih = (long)oh * g->stride_h - g->pad_h + ki;
                        bool padding = ih < 0 || ih >= (long)height;
                        im2col_row(dst + oh * out_w, padding ? NULL : src + (size_t)ih * width,
                                   lo, hi, sw, shift, out_w);
                    }
                }
        }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_col2im(mtfl_device *dev, mtfl_buf dx_b, mtfl_buf cols_b, size_t batch,
                            size_t channels, size_t height, size_t width, const mtfl_window *g,
                            size_t out_h, size_t out_w)
{
    float *dx = cpu_ptr(dx_b);
    const float *cols = cpu_ptr(cols_b);
    size_t plane = out_h * out_w, row_len = batch * plane;
    long kh = g->kernel_h, kw = g->kernel_w, sw = g->stride_w;
#pragma omp parallel for collapse(2) schedule(static)
    for (size_t n = 0; n < batch; n++)
        for (size_t c = 0; c < channels; c++) {
            float *dst = dx + (n * channels + c) * height * width;
            memset(dst, 0, height * width * sizeof(float));
            for (long ki = 0; ki < kh; ki++)
                for (long kj = 0; kj < kw; kj++) {
                    const float *src = cols + ((c * (size_t)kh + (size_t)ki) * (size_t)kw + (size_t)kj) * row_len + n * plane;
                    long shift = kj - g->pad_w, lo, hi;
                    inside_columns(shift, sw, width, out_w, &lo, &hi);
                    for (size_t oh = 0; oh < out_h; oh++) {
                        long ih = (long)oh * g->stride_h - g->pad_h + ki;
                        if (ih < 0 || ih >= (long)height) continue;
                        col2im_row(dst + (size_t)ih * width, src + oh * out_w, lo, hi, sw, shift);
                    }
                }
        }
    return MTFL_OK;
}

/* The 2x2 window of stride 2 without padding, which every network here uses: the same
 * order and ties as the general loop (rows then columns, the first maximum wins), with
 * the bounds settled per row instead of per element. A window that hangs over the
 * right or bottom edge (ceil mode) reads only the elements inside. */
static void maxpool_2x2(float *y, float *idx, const float *in, size_t height, size_t width,
                        size_t out_h, size_t out_w)
{
    /* Positions are int (a plane is far below 2^31 elements), so they convert to float
     * in one instruction; and the comparisons are selects, not branches: on real data
     * which of the four wins is a coin toss, and a mispredicted branch per comparison
     * cost more than the rest of the window. */
    int w = (int)width;
    for (size_t oh = 0; oh < out_h; oh++) {
        int r0 = 2 * (int)oh, r1 = r0 + 1 < (int)height ? r0 + 1 : r0;
        const float *a = in + (size_t)r0 * width, *b = in + (size_t)r1 * width;
        float *yo = y + oh * out_w, *io = idx + oh * out_w;
        int full = (int)(width / 2 < out_w ? width / 2 : out_w);   /* windows with both columns */
        for (int ow = 0; ow < full; ow++) {
            int c = 2 * ow;
            float best = a[c];
            int at = r0 * w + c;
            bool t = cpu_beats_max(a[c + 1], best);
            best = t ? a[c + 1] : best;
            at = t ? at + 1 : at;
            t = cpu_beats_max(b[c], best);   /* b is a again in a last row alone: never beats it */
            best = t ? b[c] : best;
            at = t ? r1 * w + c : at;
            t = cpu_beats_max(b[c + 1], best);
            best = t ? b[c + 1] : best;
            at = t ? r1 * w + c + 1 : at;
            yo[ow] = best;
            io[ow] = (float)at;
        }
        for (int ow = full; ow < (int)out_w; ow++) {   /* the last column alone */
            int c = 2 * ow;
            float best = a[c];
            int at = r0 * w + c;
            if (cpu_beats_max(b[c], best)) best = b[c], at = r1 * w + c;
            yo[ow] = best;
            io[ow] = (float)at;
        }
    }
}

mtfl_status mtfl_cpu_maxpool_forward(mtfl_device *dev, mtfl_buf y_b, mtfl_buf idx_b, mtfl_buf x_b,
                                     size_t planes, size_t height, size_t width,
                                     const mtfl_window *g, size_t out_h, size_t out_w)
{
    float *y = cpu_ptr(y_b), *idx = cpu_ptr(idx_b);
    const float *x = cpu_ptr(x_b);
    if (g->kernel_h == 2 && g->kernel_w == 2 && g->stride_h == 2 && g->stride_w == 2 &&
        g->pad_h == 0 && g->pad_w == 0 && 2 * out_h <= height + 1 && 2 * out_w <= width + 1) {
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < planes; p++)
            maxpool_2x2(y + p * out_h * out_w, idx + p * out_h * out_w, x + p * height * width,
                        height, width, out_h, out_w);
        return MTFL_OK;
    }
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        const float *in = x + p * height * width;
        for (size_t oh = 0; oh < out_h; oh++)
            for (size_t ow = 0; ow < out_w; ow++) {
                long h0 = (long)oh * g->stride_h - g->pad_h, w0 = (long)ow * g->stride_w - g->pad_w;
                float best = -INFINITY;
                long at = -1;
                /* rows then columns, strict >: the first maximum wins ties, the first NaN all */
                for (long h = h0 < 0 ? 0 : h0; h < h0 + g->kernel_h && h < (long)height; h++)
                    for (long w = w0 < 0 ? 0 : w0; w < w0 + g->kernel_w && w < (long)width; w++)
                        if (cpu_beats_max(in[h * (long)width + w], best) || at < 0) {
                            best = in[h * (long)width + w];
                            at = h * (long)width + w;
                        }
                y[(p * out_h + oh) * out_w + ow] = best;
                idx[(p * out_h + oh) * out_w + ow] = (float)at;
            }
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_maxpool_backward(mtfl_device *dev, mtfl_buf dx_b, mtfl_buf dy_b, mtfl_buf idx_b,
                                      size_t planes, size_t height, size_t width,
                                      const mtfl_window *g, size_t out_h, size_t out_w)
{
    float *dx = cpu_ptr(dx_b);
    const float *dy = cpu_ptr(dy_b), *idx = cpu_ptr(idx_b);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        float *plane = dx + p * height * width;
        memset(plane, 0, height * width * sizeof(float));
        /* int, not size_t: a float converts to a signed integer in one instruction */
        const float *ip = idx + p * out_h * out_w, *gp = dy + p * out_h * out_w;
        for (size_t o = 0; o < out_h * out_w; o++) plane[(int)ip[o]] += gp[o];
    }
    return MTFL_OK;
}

/* The window's rows [*h0, *h1) and columns [*w0, *w1) inside the plane. */
static void window_inside(const mtfl_window *g, size_t oh, size_t ow, size_t height, size_t width,
                          long *h0, long *h1, long *w0, long *w1)
{
    long hs = (long)oh * g->stride_h - g->pad_h, ws = (long)ow * g->stride_w - g->pad_w;
    *h0 = hs < 0 ? 0 : hs;
    *w0 = ws < 0 ? 0 : ws;
    *h1 = hs + g->kernel_h < (long)height ? hs + g->kernel_h : (long)height;
    *w1 = ws + g->kernel_w < (long)width ? ws + g->kernel_w : (long)width;
}

mtfl_status mtfl_cpu_avgpool_forward(mtfl_device *dev, mtfl_buf y_b, mtfl_buf x_b, size_t planes,
                                     size_t height, size_t width, const mtfl_window *g,
                                     size_t out_h, size_t out_w)
{
    float *y = cpu_ptr(y_b);
    const float *x = cpu_ptr(x_b);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        const float *in = x + p * height * width;
        for (size_t oh = 0; oh < out_h; oh++)
            for (size_t ow = 0; ow < out_w; ow++) {
                long h0, h1, w0, w1;
                window_inside(g, oh, ow, height, width, &h0, &h1, &w0, &w1);
                float sum = 0.0f;
                for (long h = h0; h < h1; h++)
                    for (long w = w0; w < w1; w++) sum += in[h * (long)width + w];
                long count = (h1 - h0) * (w1 - w0);
                y[(p * out_h + oh) * out_w + ow] = count > 0 ? sum / (float)count : 0.0f;
            }
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_avgpool_backward(mtfl_device *dev, mtfl_buf dx_b, mtfl_buf dy_b, size_t planes,
                                      size_t height, size_t width, const mtfl_window *g,
                                      size_t out_h, size_t out_w)
{
    float *dx = cpu_ptr(dx_b);
    const float *dy = cpu_ptr(dy_b);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < planes; p++) {
        float *plane = dx + p * height * width;
        memset(plane, 0, height * width * sizeof(float));
        /* outputs in increasing order: the OpenCL gather adds in the same order */
        for (size_t oh = 0; oh < out_h; oh++)
            for (size_t ow = 0; ow < out_w; ow++) {
                long h0, h1, w0, w1;
                window_inside(g, oh, ow, height, width, &h0, &h1, &w0, &w1);
                long count = (h1 - h0) * (w1 - w0);
                if (count <= 0) continue;
                float share = dy[(p * out_h + oh) * out_w + ow] / (float)count;
                for (long h = h0; h < h1; h++)
                    for (long w = w0; w < w1; w++) plane[h * (long)width + w] += share;
            }
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_channel_bias(mtfl_device *dev, mtfl_buf x_b, mtfl_buf bias_b, size_t outer,
                                  size_t channels, size_t inner)
{
    float *x = cpu_ptr(x_b);
    const float *bias = cpu_ptr(bias_b);
#pragma omp parallel for collapse(2) if (outer * channels * inner >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t o = 0; o < outer; o++)
        for (size_t c = 0; c < channels; c++) {
            float *row = x + (o * channels + c) * inner;
            for (size_t i = 0; i < inner; i++) row[i] += bias[c];
        }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_prelu(mtfl_device *dev, mtfl_buf dst_b, mtfl_buf src_b, mtfl_buf x_b,
                           mtfl_buf slope_b, size_t outer, size_t channels, size_t inner)
{
    float *dst = cpu_ptr(dst_b);
    const float *src = cpu_ptr(src_b), *x = cpu_ptr(x_b), *slope = cpu_ptr(slope_b);
#pragma omp parallel for collapse(2) if (outer * channels * inner >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t o = 0; o < outer; o++)
        for (size_t c = 0; c < channels; c++) {
            size_t at = (o * channels + c) * inner;
            float a = slope[c];
            for (size_t i = at; i < at + inner; i++) dst[i] = x[i] > 0.0f ? src[i] : a * src[i];
        }
    return MTFL_OK;
}

/* Row max subtracted first: exp never overflows, and the largest term is exactly 1. */
static void softmax_row(const float *logits, float *probs, size_t classes, float *max_out,
                        double *sum_out)
{
    float max = logits[0];
    for (size_t k = 1; k < classes; k++) max = fmaxf(max, logits[k]);
    double sum = 0.0;
    for (size_t k = 0; k < classes; k++) {
        float e = expf(logits[k] - max);
        if (probs) probs[k] = e;
        sum += e;
    }
    *max_out = max;
    *sum_out = sum;
}

mtfl_status mtfl_cpu_softmax(mtfl_device *dev, mtfl_buf probs_b, mtfl_buf logits_b, size_t rows,
                             size_t classes)
{
    float *probs = cpu_ptr(probs_b);
    const float *logits = cpu_ptr(logits_b);
#pragma omp parallel for if (rows * classes >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float max;
        double sum;
        softmax_row(logits + r * classes, probs + r * classes, classes, &max, &sum);
        for (size_t k = 0; k < classes; k++) probs[r * classes + k] = (float)(probs[r * classes + k] / sum);
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_softmax_xent(mtfl_device *dev, mtfl_buf loss_b, mtfl_buf grad_b,
                                  mtfl_buf logits_b, mtfl_buf labels_b, size_t rows,
                                  size_t classes, int first_class, float grad_scale)
{
    float *loss = cpu_ptr(loss_b), *grad = grad_b.handle ? cpu_ptr(grad_b) : NULL;
    const float *logits = cpu_ptr(logits_b), *labels = cpu_ptr(labels_b);
#pragma omp parallel for if (rows * classes >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *row = logits + r * classes;
        float c = labels[r] - (float)first_class;
        if (!(c >= 0 && c < (float)classes && c == floorf(c))) {
            loss[r] = NAN;
            for (size_t k = 0; grad && k < classes; k++) grad[r * classes + k] = NAN;
            continue;
        }
        size_t label = (size_t)c;
        float max;
        double sum;
        softmax_row(row, grad ? grad + r * classes : NULL, classes, &max, &sum);
        /* -log p(label) = log sum exp(x - max) - (x[label] - max) */
        loss[r] = (float)(log(sum) - (double)(row[label] - max));
        if (grad)
            for (size_t k = 0; k < classes; k++) {
                float p = (float)(grad[r * classes + k] / sum);
                grad[r * classes + k] = grad_scale * (p - (k == label ? 1.0f : 0.0f));
            }
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_adam(mtfl_device *dev, mtfl_buf param_b, mtfl_buf grad_b, mtfl_buf m_b,
                          mtfl_buf v_b, size_t n, float lr_t, float beta1, float beta2,
                          float eps_t, float weight_decay, float decay)
{
    float *p = cpu_ptr(param_b), *m = cpu_ptr(m_b), *v = cpu_ptr(v_b);
    const float *grad = cpu_ptr(grad_b);
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + weight_decay * p[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        /* decay 0 (plain Adam) leaves p - 0 * p exactly p: the same bits as without it */
        p[i] = p[i] - decay * p[i] - lr_t * m[i] / (sqrtf(v[i]) + eps_t);
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_sgd(mtfl_device *dev, mtfl_buf param_b, mtfl_buf grad_b, mtfl_buf vel_b,
                         size_t n, float lr, float momentum, float weight_decay)
{
    float *p = cpu_ptr(param_b), *vel = vel_b.handle ? cpu_ptr(vel_b) : NULL;
    const float *grad = cpu_ptr(grad_b);
#pragma omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] + weight_decay * p[i];
        if (vel) {
            vel[i] = momentum * vel[i] + g;
            g = vel[i];
        }
        p[i] -= lr * g;
    }
    return MTFL_OK;
}

/* ---- landmark losses ------------------------------------------------------------ */

/* The penalty f(d) of one coordinate and its derivative (backend.h); a, b, c as there. */
static float landmark_term(mtfl_landmark_kind kind, float d, float a, float b, float c, float *slope)
{
    float ad = fabsf(d), sign = d > 0 ? 1.0f : (d < 0 ? -1.0f : 0.0f);
    switch (kind) {
    case MTFL_LANDMARK_L2:
        *slope = d;
        return 0.5f * d * d;
    case MTFL_LANDMARK_L1:
        *slope = sign;
        return ad;
    case MTFL_LANDMARK_SMOOTH_L1:
        if (ad < a) {
            *slope = d / a;
            return 0.5f * d * d / a;
        }
        *slope = sign;
        return ad - 0.5f * a;
    case MTFL_LANDMARK_WING:
        if (ad < a) {
            *slope = sign * a / (b + ad);
            return a * log1pf(ad / b);
        }
        *slope = sign;
        return ad - c;
    }
    *slope = NAN;
    return NAN;
}

mtfl_status mtfl_cpu_landmark_loss(mtfl_device *dev, mtfl_buf loss_b, mtfl_buf grad_b,
                                   mtfl_buf pred_b, mtfl_buf target_b, mtfl_buf weight_b,
                                   size_t rows, size_t cols, mtfl_landmark_kind kind, float a,
                                   float b, float c, float grad_scale)
{
    float *loss = cpu_ptr(loss_b), *grad = grad_b.handle ? cpu_ptr(grad_b) : NULL;
    const float *pred = cpu_ptr(pred_b), *target = cpu_ptr(target_b);
    const float *weight = weight_b.handle ? cpu_ptr(weight_b) : NULL;
#pragma omp parallel for if (rows * cols >= MTFL_CPU_PARALLEL_MIN) schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float w = weight ? weight[r] : 1.0f, scale = grad_scale * w;
        double sum = 0.0;
        for (size_t k = 0; k < cols; k++) {
            size_t i = r * cols + k;
            float slope;
            sum += landmark_term(kind, pred[i] - target[i], a, b, c, &slope);
            if (grad) grad[i] = scale * slope;
        }
        loss[r] = (float)(w * sum);
    }
    return MTFL_OK;
}
