/*
 * cpu_conv.c - convolution on the CPU, in column tiles that stay in cache.
 *
 * The core's convolution (src/core/conv.c) writes the im2col columns of a whole group
 * of samples and then multiplies them: for the seed's layers at batch 64 that is 432
 * and 576 MB written and read again, and on two cores the memory traffic took longer
 * than the GEMM itself. Here each thread takes one sample at a time, in tiles of a few
 * output rows whose columns (about 1 MB) stay in the core's L2 cache between being
 * written and being multiplied; OpenBLAS, called inside the parallel region, runs one
 * thread per tile. The backward pass goes sample by sample too: the weight gradient
 * accumulates into one sum per chunk of consecutive samples, the chunks fixed by the
 * batch alone (DW_CHUNKS), added up at the end in chunk order: a step gives the same bits
 * every time and whatever the number of threads, so runs that split the cores between
 * them (--jobs, MPI ranks) train exactly what one process with all the cores trains.
 * Each sample's input gradient belongs to the one thread that folds its columns back.
 */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_internal.h"

/* Floats of one thread's column tile: about 1 MB. */
#define TILE_FLOATS ((size_t)1 << 18)

/* Partial weight-gradient sums of the backward pass: enough chunks to keep 16 cores
 * busy, few enough that their sums (each the size of the weights) stay small. */
#define DW_CHUNKS 16

typedef struct {
    const mtfl_conv_dims *d;
    const mtfl_window *g;
    size_t ckk, plane;   /* rows of the columns (C*KH*KW); output positions per sample */
    size_t tile_rows;    /* output rows per tile */
} conv_plan;

static conv_plan plan_of(const mtfl_conv_dims *d, const mtfl_window *g)
{
    conv_plan p = {d, g, (size_t)(d->c * g->kernel_h * g->kernel_w), (size_t)(d->out_h * d->out_w), 1};
    size_t rows = TILE_FLOATS / (p.ckk * (size_t)d->out_w);
    p.tile_rows = rows < 1 ? 1 : rows > (size_t)d->out_h ? (size_t)d->out_h : rows;
    return p;
}

/* cols [ckk, rows * out_w] <- the windows of output rows oh0 .. oh0 + rows of sample x */
static void im2col_rows(float *cols, const float *x, const conv_plan *p, long oh0, long rows)
{
    const mtfl_conv_dims *d = p->d;
    const mtfl_window *g = p->g;
    long out_w = (long)d->out_w, len = rows * out_w, sw = g->stride_w;
    for (long c = 0; c < d->c; c++)
        for (long ki = 0; ki < g->kernel_h; ki++)
            for (long kj = 0; kj < g->kernel_w; kj++) {
                float *dst = cols + ((c * g->kernel_h + ki) * g->kernel_w + kj) * len;
                const float *src = x + c * d->h * d->w;
                long shift = kj - g->pad_w, lo, hi;
                inside_columns(shift, sw, (size_t)d->w, (size_t)out_w, &lo, &hi);
                for (long r = 0; r < rows; r++) {
                    long ih = (oh0 + r) * g->stride_h - g->pad_h + ki;
                    bool padding = ih < 0 || ih >= d->h;
                    im2col_row(dst + r * out_w, padding ? NULL : src + ih * d->w, lo, hi, sw, shift,
                               (size_t)out_w);
                }
            }
}

/* dx of one sample += the columns of output rows oh0 .. oh0 + rows folded back */
static void col2im_rows(float *dx, const float *cols, const conv_plan *p, long oh0, long rows)
{
    const mtfl_conv_dims *d = p->d;
    const mtfl_window *g = p->g;
    long out_w = (long)d->out_w, len = rows * out_w, sw = g->stride_w;
    for (long c = 0; c < d->c; c++)
        for (long ki = 0; ki < g->kernel_h; ki++)
            for (long kj = 0; kj < g->kernel_w; kj++) {
                const float *src = cols + ((c * g->kernel_h + ki) * g->kernel_w + kj) * len;
                float *dst = dx + c * d->h * d->w;
                long shift = kj - g->pad_w, lo, hi;
                inside_columns(shift, sw, (size_t)d->w, (size_t)out_w, &lo, &hi);
                for (long r = 0; r < rows; r++) {
                    long ih = (oh0 + r) * g->stride_h - g->pad_h + ki;
                    if (ih < 0 || ih >= d->h) continue;
                    col2im_row(dst + ih * d->w, src + r * out_w, lo, hi, sw, shift);
                }
            }
}

/* OpenBLAS takes int sizes: a layer whose dimensions exceed them is an error. */
static mtfl_status check_int_sizes(const conv_plan *p)
{
    const size_t int_max = 2147483647;
    if (p->plane > int_max || p->ckk > int_max || (size_t)p->d->f > int_max)
        return MTFL_FAIL_HERE(MTFL_ERR_ARG, "cpu conv2d: %lld filters, %zu columns, %zu positions "
                              "exceed BLAS's int sizes", (long long)p->d->f, p->ckk, p->plane);
    return MTFL_OK;
}

/* Per-thread scratch from the device (its block cache makes it free after the first
 * call): nthreads slots of `each` floats. */
static float *scratch(mtfl_device *dev, size_t each, int nthreads, mtfl_tensor **holder)
{
    int64_t n = (int64_t)(each * (size_t)nthreads);
    *holder = mtfl_tensor_new(dev, 1, &n);
    return *holder ? (float *)(*holder)->storage->handle : NULL;
}

mtfl_status mtfl_cpu_conv2d_forward(mtfl_device *dev, mtfl_buf y_b, mtfl_buf x_b, mtfl_buf w_b,
                                    mtfl_buf bias_b, const mtfl_conv_dims *d, const mtfl_window *g)
{
    conv_plan p = plan_of(d, g);
    mtfl_status st = check_int_sizes(&p);
    if (st) return st;
    int nthreads = omp_get_max_threads();
    size_t each = p.ckk * p.tile_rows * (size_t)d->out_w;
    mtfl_tensor *holder;
    float *cols_all = scratch(dev, each, nthreads, &holder);
    if (!cols_all) return mtfl_last_status();
    float *y = cpu_ptr(y_b);
    const float *x = cpu_ptr(x_b), *w = cpu_ptr(w_b), *bias = bias_b.handle ? cpu_ptr(bias_b) : NULL;
    long tiles = ((long)d->out_h + (long)p.tile_rows - 1) / (long)p.tile_rows;
    long jobs = (long)d->n * tiles;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
    for (long job = 0; job < jobs; job++) {
        float *cols = cols_all + (size_t)omp_get_thread_num() * each;
        long s = job / tiles, oh0 = (job % tiles) * (long)p.tile_rows;
        long rows = oh0 + (long)p.tile_rows <= d->out_h ? (long)p.tile_rows : d->out_h - oh0;
        long len = rows * d->out_w;
        float *out = y + (size_t)s * (size_t)d->f * p.plane + (size_t)(oh0 * d->out_w);
        im2col_rows(cols, x + (size_t)s * (size_t)(d->c * d->h * d->w), &p, oh0, rows);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d->f, (int)len, (int)p.ckk, 1.0f,
                    w, (int)p.ckk, cols, (int)len, 0.0f, out, (int)p.plane);
        for (long f = 0; bias && f < d->f; f++)
            for (long k = 0; k < len; k++) out[(size_t)f * p.plane + (size_t)k] += bias[f];
    }
    mtfl_tensor_release(holder);
    return MTFL_OK;
}

mtfl_status mtfl_cpu_conv2d_backward(mtfl_device *dev, mtfl_buf dx_b, mtfl_buf dw_b, mtfl_buf dy_b,
                                     mtfl_buf x_b, mtfl_buf w_b, const mtfl_conv_dims *d,
                                     const mtfl_window *g)
{
    conv_plan p = plan_of(d, g);
    mtfl_status st = check_int_sizes(&p);
    if (st) return st;
    int nthreads = omp_get_max_threads();
    size_t cols_each = p.ckk * p.tile_rows * (size_t)d->out_w, dw_size = (size_t)d->f * p.ckk;
    bool want_dw = dw_b.handle != NULL;
    long chunks = d->n < DW_CHUNKS ? (long)d->n : DW_CHUNKS;
    /* one slot per thread for its columns, then one weight-gradient sum per chunk */
    size_t sums_floats = want_dw ? dw_size * (size_t)chunks : 0;
    size_t slots = (size_t)nthreads + (sums_floats + cols_each - 1) / cols_each;
    mtfl_tensor *holder;
    float *all = scratch(dev, cols_each, (int)slots, &holder);
    if (!all) return mtfl_last_status();
    float *dw_sums = all + (size_t)nthreads * cols_each;
    float *dx = dx_b.handle ? cpu_ptr(dx_b) : NULL;
    const float *x = cpu_ptr(x_b), *w = cpu_ptr(w_b), *dy = cpu_ptr(dy_b);
    size_t in_plane = (size_t)(d->c * d->h * d->w);
    long tiles = ((long)d->out_h + (long)p.tile_rows - 1) / (long)p.tile_rows;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
    for (long chunk = 0; chunk < chunks; chunk++) {
        float *cols = all + (size_t)omp_get_thread_num() * cols_each;
        float *dw_sum = dw_sums + (size_t)chunk * dw_size;
        if (want_dw) memset(dw_sum, 0, dw_size * sizeof(float));
        long first = chunk * d->n / chunks, end = (chunk + 1) * d->n / chunks;
        for (long s = first; s < end; s++) {
            float *dx_s = dx ? dx + (size_t)s * in_plane : NULL;
            if (dx_s) memset(dx_s, 0, in_plane * sizeof(float));
            for (long t = 0; t < tiles; t++) {
                long oh0 = t * (long)p.tile_rows;
                long rows = oh0 + (long)p.tile_rows <= d->out_h ? (long)p.tile_rows : d->out_h - oh0;
                long len = rows * d->out_w;
                const float *dy_t = dy + (size_t)s * (size_t)d->f * p.plane + (size_t)(oh0 * d->out_w);
                if (want_dw) {   /* dW += dy_tile [F, len] cols^T [len, ckk] */
                    im2col_rows(cols, x + (size_t)s * in_plane, &p, oh0, rows);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d->f, (int)p.ckk, (int)len,
                                1.0f, dy_t, (int)p.plane, cols, (int)len, 1.0f, dw_sum, (int)p.ckk);
                }
                if (dx_s) {      /* the tile's columns of dx: W^T [ckk, F] dy_tile [F, len] */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p.ckk, (int)len, (int)d->f,
                                1.0f, w, (int)p.ckk, dy_t, (int)p.plane, 0.0f, cols, (int)len);
                    col2im_rows(dx_s, cols, &p, oh0, rows);
                }
            }
        }
    }
    if (want_dw) {   /* in chunk order: the same sums whatever the threads */
        float *dw = cpu_ptr(dw_b);
        for (long c = 0; c < chunks; c++) {
            const float *part = dw_sums + (size_t)c * dw_size;
            for (size_t i = 0; i < dw_size; i++) dw[i] += part[i];
        }
    }
    mtfl_tensor_release(holder);
    return MTFL_OK;
}
