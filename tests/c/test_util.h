/*
 * test_util.h - helpers for the C tests: random host data, tensors made from it,
 * tolerant comparisons, and the list of devices every op is checked on.
 */
#ifndef MTFL_TEST_UTIL_H
#define MTFL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mtfl.h"

/* Fails the test with the core's message when a call does not succeed. */
#define CHECK_OK(expr)                                                                  \
    do {                                                                                \
        mtfl_status st_ = (expr);                                                       \
        cr_assert_eq(st_, MTFL_OK, "%s failed: %s", #expr, mtfl_last_error());          \
    } while (0)

#define CHECK_PTR(expr)                                                                 \
    ({                                                                                  \
        __typeof__(expr) p_ = (expr);                                                   \
        cr_assert_not_null(p_, "%s failed: %s", #expr, mtfl_last_error());              \
        p_;                                                                             \
    })

/* Deterministic host data in [lo, hi), independent of the library's RNG. */
static inline float *random_floats(size_t n, unsigned seed, float lo, float hi)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
    }
    return v;
}

static inline mtfl_tensor *tensor_from(mtfl_device *dev, int ndim, const int64_t *shape,
                                       const float *values)
{
    mtfl_tensor *t = CHECK_PTR(mtfl_tensor_new(dev, ndim, shape));
    CHECK_OK(mtfl_tensor_write(t, values, mtfl_numel(t)));
    return t;
}

static inline float *values_of(const mtfl_tensor *t)
{
    size_t n = mtfl_numel(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    CHECK_OK(mtfl_tensor_read(t, v, n));
    return v;
}

/* Largest |got - want| / max(|want|, floor) over n values. */
static inline double max_rel_error(const float *got, const float *want, size_t n, double floor)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double scale = fabs((double)want[i]) > floor ? fabs((double)want[i]) : floor;
        double err = fabs((double)got[i] - (double)want[i]) / scale;
        if (isnan(got[i]) != isnan(want[i])) err = INFINITY;
        if (err > worst) worst = err;
    }
    return worst;
}

static inline void expect_values(const mtfl_tensor *t, const float *want, size_t n, double tol,
                                 const char *what)
{
    cr_assert_eq(mtfl_numel(t), n, "%s: %zu elements, expected %zu", what, mtfl_numel(t), n);
    float *got = values_of(t);
    double err = max_rel_error(got, want, n, 1e-6);
    cr_expect_leq(err, tol, "%s on %s: relative error %.3g above %.3g", what,
                  mtfl_tensor_device(t)->id, err, tol);
    free(got);
}

/* The OpenCL devices (every one found, PoCL in CI); the CPU is the reference. */
static inline int opencl_device_count(void) { return mtfl_device_count() - 1; }
static inline mtfl_device *opencl_device(int i) { return mtfl_device_at(i + 1); }

#endif
