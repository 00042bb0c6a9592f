/*
 * cpu_internal.h - shared by the CPU backend's files.
 */
#ifndef MTFL_CPU_INTERNAL_H
#define MTFL_CPU_INTERNAL_H

#include "backend.h"

/* Below this many elements a parallel region costs more than it saves. */
#define MTFL_CPU_PARALLEL_MIN 32768

static inline float *cpu_ptr(mtfl_buf b) { return (float *)b.handle + b.offset; }

mtfl_status mtfl_cpu_reduce(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf x,
                            size_t outer, size_t len, size_t inner);
mtfl_status mtfl_cpu_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                          size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                          mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                          size_t ldc, size_t stride_c, size_t batch);
mtfl_status mtfl_cpu_unary(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf x,
                           size_t n, float a, float b);
mtfl_status mtfl_cpu_binary(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf x,
                            mtfl_buf y, size_t n);
mtfl_status mtfl_cpu_axpy(mtfl_device *dev, mtfl_buf y, float alpha, mtfl_buf x, size_t n);

#endif
