/*
 * cpu_gemm.c - matrix products through OpenBLAS, the same bits whatever the threads.
 *
 * OpenBLAS splits a product over its threads in a way that changes the rounding: the
 * same product gave different last bits on one thread and on two, so a run that got
 * half the cores (--jobs 2, two MPI ranks on one machine) trained something else than
 * a run that got them all. Here the product is cut into tiles of C fixed by the shape
 * alone, each tile one single-threaded OpenBLAS call, and OpenMP spreads the tiles over
 * the threads: which thread computes a tile no longer matters. The tiles are wide
 * (at least TILE_MIN_N columns, at most TILES_N of them along N and TILES_M along M) so
 * that each call still runs OpenBLAS's packed kernels at full speed.
 */
#include <cblas.h>

#include "cpu_internal.h"

/* At most this many tiles along each dimension: enough for 16 cores. */
#define TILES_M 4
#define TILES_N 16
/* Tiles narrower than this (or shorter than TILE_MIN_M rows) pack the other operand
 * too often for what they compute. */
#define TILE_MIN_N 64
#define TILE_MIN_M 64
/* Products up to this (m * n * k) are one call: OpenBLAS runs those on one thread
 * itself (its SMP_THRESHOLD_MIN times GEMM_MULTITHREAD_THRESHOLD, 65536 * 4). */
#define GEMM_SERIAL_MAX ((size_t)1 << 18)

/* How many tiles to cut an extent into: as many of at least `least` as fit, at most `most`. */
static size_t tile_count(size_t extent, size_t least, size_t most)
{
    size_t count = extent / least;
    return count < 1 ? 1 : count > most ? most : count;
}

mtfl_status mtfl_cpu_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                          size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                          mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                          size_t ldc, size_t stride_c, size_t batch)
{
    const size_t int_max = 2147483647;
    if (m > int_max || n > int_max || k > int_max || lda > int_max || ldb > int_max)
        return MTFL_FAIL_HERE(MTFL_ERR_ARG, "cpu gemm: %zux%zux%zu exceeds BLAS's int sizes", m, n, k);
    bool parallel = m * n * k > GEMM_SERIAL_MAX;
    size_t tiles_m = parallel ? tile_count(m, TILE_MIN_M, TILES_M) : 1;
    size_t tiles_n = parallel ? tile_count(n, TILE_MIN_N, TILES_N) : 1;
    /* a larger product must not be a lone call outside an active parallel region, where
     * OpenBLAS would thread it: two tiles at least (1 x 1 x k has nothing to split) */
    if (parallel && batch == 1 && tiles_m * tiles_n == 1) {
        if (n >= m && n > 1) tiles_n = 2;
        else if (m > 1) tiles_m = 2;
    }
    size_t per_batch = tiles_m * tiles_n;
    long jobs = (long)(batch * per_batch);
    const float *pa = cpu_ptr(a), *pb = cpu_ptr(b);
    float *pc = cpu_ptr(c);
    /* one call per tile; OpenBLAS runs a call made inside an active parallel region on
     * its caller's thread alone, and so it does when OpenMP has one thread in all */
#pragma omp parallel for schedule(dynamic) if (parallel)
    for (long job = 0; job < jobs; job++) {
        size_t i = (size_t)job / per_batch, tile = (size_t)job % per_batch;
        size_t tm = tile / tiles_n, tn = tile % tiles_n;
        size_t m0 = tm * m / tiles_m, m1 = (tm + 1) * m / tiles_m;
        size_t n0 = tn * n / tiles_n, n1 = (tn + 1) * n / tiles_n;
        const float *ai = pa + i * stride_a + (trans_a ? m0 : m0 * lda);
        const float *bi = pb + i * stride_b + (trans_b ? n0 * ldb : n0);
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)(m1 - m0), (int)(n1 - n0), (int)k, alpha,
                    ai, (int)lda, bi, (int)ldb, beta, pc + i * stride_c + m0 * ldc + n0, (int)ldc);
    }
    return MTFL_OK;
}
