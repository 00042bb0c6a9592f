/*
 * opencl_gemm.c - matrix products through CLBlast.
 *
 * CLBlast 1.5's CLBlastSgemmStridedBatched is only right when every matrix sits at
 * offset 0 with a stride of exactly rows * ld: when a matrix needs no padding, its
 * fast kernel indexes batch b at b * rows * ld and ignores the offset and stride it
 * was given (src/routines/levelx/xgemmstridedbatched.cpp; CLBlast issue #313 is the
 * stride-0 case). So batches are split by layout:
 *   - one product: CLBlastSgemm;
 *   - overlapping outputs (stride_c < m * ldc, e.g. 0): one CLBlastSgemm per item,
 *     in order, which is what the batch means then;
 *   - B shared and A, C stacked without gaps: the batch is a single product with
 *     batch * m rows (a linear layer over a batch of sequences);
 *   - all matrices tight at offset 0: CLBlastSgemmStridedBatched;
 *   - anything else (a shared A, offsets): CLBlastSgemmBatched, which takes one
 *     offset per item and checks them, at the price of a queue flush inside CLBlast.
 * CLBlast passes offsets and leading dimensions to its kernels as int, so operands
 * reaching past element 2^31 - 1 are refused rather than computed wrong. CLBlast also
 * refuses k = 0, where the product is empty and C just becomes beta * C.
 */
#include <limits.h>
#include <stdlib.h>

#include <clblast_c.h>

#include "opencl_internal.h"

typedef struct {
    cl_command_queue queue;
    CLBlastTranspose trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    mtfl_buf a, b, c;
    size_t lda, ldb, ldc;
    size_t stride_a, stride_b, stride_c, batch;
    size_t routines;   /* CLBlast routines enqueued, for the device's launch count */
} gemm_call;

static mtfl_status clblast_failure(CLBlastStatusCode code, const char *routine,
                                   const gemm_call *g)
{
    return MTFL_FAIL_HERE(mtfl_opencl_status_of(code),
                          "opencl: %s(m=%zu n=%zu k=%zu batch=%zu) failed: %s (%d)", routine,
                          g->m, g->n, g->k, g->batch, mtfl_opencl_clblast_name(code),
                          (int)code);
}

static mtfl_status sgemm(gemm_call *g, size_t m, size_t a_off, size_t b_off, size_t c_off)
{
    g->routines++;
    CLBlastStatusCode code = CLBlastSgemm(
        CLBlastLayoutRowMajor, g->trans_a, g->trans_b, m, g->n, g->k, g->alpha, g->a.handle,
        a_off, g->lda, g->b.handle, b_off, g->ldb, g->beta, g->c.handle, c_off, g->ldc,
        &g->queue, NULL);
    return code == CLBlastSuccess ? MTFL_OK : clblast_failure(code, "CLBlastSgemm", g);
}

static mtfl_status sgemm_each(gemm_call *g)
{
    for (size_t i = 0; i < g->batch; i++) {
        mtfl_status status = sgemm(g, g->m, g->a.offset + i * g->stride_a,
                                   g->b.offset + i * g->stride_b, g->c.offset + i * g->stride_c);
        if (status != MTFL_OK)
            return status;
    }
    return MTFL_OK;
}

static mtfl_status sgemm_strided_batched(gemm_call *g)
{
    g->routines++;
    CLBlastStatusCode code = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, g->a.handle,
        g->a.offset, g->lda, g->stride_a, g->b.handle, g->b.offset, g->ldb, g->stride_b, g->beta,
        g->c.handle, g->c.offset, g->ldc, g->stride_c, g->batch, &g->queue, NULL);
    return code == CLBlastSuccess ? MTFL_OK
                                  : clblast_failure(code, "CLBlastSgemmStridedBatched", g);
}

static mtfl_status sgemm_batched(gemm_call *g)
{
    size_t count = g->batch;
    size_t *offsets = malloc(3 * count * sizeof *offsets);
    float *scalars = malloc(2 * count * sizeof *scalars);
    if (!offsets || !scalars) {
        free(offsets);
        free(scalars);
        return MTFL_FAIL_HERE(MTFL_ERR_OOM, "opencl: no host memory for a gemm batch of %zu",
                              count);
    }
    for (size_t i = 0; i < count; i++) {
        offsets[i] = g->a.offset + i * g->stride_a;
        offsets[count + i] = g->b.offset + i * g->stride_b;
        offsets[2 * count + i] = g->c.offset + i * g->stride_c;
        scalars[i] = g->alpha;
        scalars[count + i] = g->beta;
    }
    g->routines++;
    CLBlastStatusCode code = CLBlastSgemmBatched(
        CLBlastLayoutRowMajor, g->trans_a, g->trans_b, g->m, g->n, g->k, scalars, g->a.handle,
        offsets, g->lda, g->b.handle, offsets + count, g->ldb, scalars + count, g->c.handle,
        offsets + 2 * count, g->ldc, count, &g->queue, NULL);
    free(offsets);
    free(scalars);
    return code == CLBlastSuccess ? MTFL_OK : clblast_failure(code, "CLBlastSgemmBatched", g);
}

/* Offset 0 and no gap between items: the only layout CLBlast's strided-batched fast
 * path reads correctly. */
static bool is_tight(mtfl_buf x, size_t rows, size_t ld, size_t stride)
{
    return x.offset == 0 && stride == rows * ld;
}

static size_t last_element(mtfl_buf x, size_t rows, size_t ld, size_t stride, size_t batch)
{
    return x.offset + (batch - 1) * stride + (rows - 1) * ld + ld;
}

static mtfl_status check_int_range(const gemm_call *g, size_t a_rows, size_t b_rows)
{
    size_t ends[3] = {last_element(g->a, a_rows, g->lda, g->stride_a, g->batch),
                      last_element(g->b, b_rows, g->ldb, g->stride_b, g->batch),
                      last_element(g->c, g->m, g->ldc, g->stride_c, g->batch)};
    for (int i = 0; i < 3; i++)
        if (ends[i] > INT_MAX)
            return MTFL_FAIL_HERE(MTFL_ERR_BACKEND,
                                  "opencl: gemm operand %c reaches element %zu; CLBlast "
                                  "indexes with int and stops at %d", "ABC"[i], ends[i],
                                  INT_MAX);
    return MTFL_OK;
}

static mtfl_status dispatch(gemm_call *g, bool trans_a, size_t a_rows, size_t b_rows)
{
    if (g->batch == 1)
        return sgemm(g, g->m, g->a.offset, g->b.offset, g->c.offset);
    if (g->stride_c < g->m * g->ldc)
        return sgemm_each(g);
    if (g->stride_b == 0 && !trans_a && g->stride_a == g->m * g->lda &&
        g->stride_c == g->m * g->ldc)
        return sgemm(g, g->batch * g->m, g->a.offset, g->b.offset, g->c.offset);
    if (is_tight(g->a, a_rows, g->lda, g->stride_a) &&
        is_tight(g->b, b_rows, g->ldb, g->stride_b) &&
        is_tight(g->c, g->m, g->ldc, g->stride_c))
        return sgemm_strided_batched(g);
    return sgemm_batched(g);
}

/* C <- beta * C, row by row unless the rows are packed; beta = 0 also clears NaNs. */
static mtfl_status scale_c(mtfl_device *dev, float beta, mtfl_buf c, size_t m, size_t n,
                           size_t ldc, size_t stride_c, size_t batch)
{
    size_t rows = batch * m, row_len = n, row_step = ldc;
    if (ldc == n && stride_c == m * n) { /* one run */
        rows = 1;
        row_len = batch * m * n;
    }
    for (size_t r = 0; r < rows; r++) {
        size_t item = r / m, row = r % m;
        mtfl_buf at = {c.handle, c.offset + item * stride_c + row * row_step};
        mtfl_status status =
            beta == 0.0f ? mtfl_opencl_fill(dev, at, row_len, 0.0f)
                         : mtfl_opencl_unary(dev, MTFL_UNARY_MUL_SCALAR, at, at, row_len, beta,
                                             0.0f);
        if (status != MTFL_OK)
            return status;
    }
    return MTFL_OK;
}

mtfl_status mtfl_opencl_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                             mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                             size_t ldc, size_t stride_c, size_t batch)
{
    if (k == 0)
        return scale_c(dev, beta, c, m, n, ldc, stride_c, batch);
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    gemm_call g = {
        .queue = cl->queue,
        .trans_a = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        .trans_b = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo,
        .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
        .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc,
        .stride_a = stride_a, .stride_b = stride_b, .stride_c = stride_c, .batch = batch,
    };
    size_t a_rows = trans_a ? k : m, b_rows = trans_b ? n : k;
    status = check_int_range(&g, a_rows, b_rows);
    if (status == MTFL_OK)
        status = dispatch(&g, trans_a, a_rows, b_rows);
    mtfl_count(&dev->stats.launches, g.routines);
    mtfl_opencl_unlock(cl);
    return status;
}

/* Tuned parameters for one CLBlast kernel on this device (scripts/tune.lua measures
 * them). CLBlast keeps compiled kernels in a cache of its own, which is cleared so
 * that the next GEMM compiles with the new parameters. */
mtfl_status mtfl_opencl_tune(mtfl_device *dev, const char *kernel, size_t count,
                             const char *const *names, const size_t *values)
{
    mtfl_opencl_device *cl = dev->impl;
    CLBlastStatusCode code = CLBlastOverrideParameters(cl->device, kernel, CLBlastPrecisionSingle,
                                                       count, (const char **)names, values);
    if (code != CLBlastSuccess)
        return MTFL_FAIL_HERE(mtfl_opencl_status_of(code) == MTFL_ERR_OOM ? MTFL_ERR_OOM : MTFL_ERR_ARG,
                              "tune: CLBlast refused %zu parameters for kernel %s on %s: %s (%d)",
                              count, kernel, dev->name, mtfl_opencl_clblast_name(code), (int)code);
    CLBlastClearCache();
    return MTFL_OK;
}
