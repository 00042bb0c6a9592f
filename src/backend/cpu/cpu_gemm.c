/*
 * cpu_gemm.c - matrix products through OpenBLAS.
 *
 * OpenBLAS runs its own threads over both cores, so the batch loop stays serial: a
 * parallel loop around it would oversubscribe the cores.
 */
#include <cblas.h>

#include "cpu_internal.h"

mtfl_status mtfl_cpu_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                          size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                          mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                          size_t ldc, size_t stride_c, size_t batch)
{
    const size_t int_max = 2147483647;
    if (m > int_max || n > int_max || k > int_max || lda > int_max || ldb > int_max)
        return MTFL_FAIL_HERE(MTFL_ERR_ARG, "cpu gemm: %zux%zux%zu exceeds BLAS's int sizes", m, n, k);
    for (size_t i = 0; i < batch; i++) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha,
                    cpu_ptr(a) + i * stride_a, (int)lda, cpu_ptr(b) + i * stride_b, (int)ldb,
                    beta, cpu_ptr(c) + i * stride_c, (int)ldc);
    }
    return MTFL_OK;
}
