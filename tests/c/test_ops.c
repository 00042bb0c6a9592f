/*
 * test_ops.c - every op on every device. The CPU backend is checked against a plain
 * double-precision computation here; each OpenCL device is checked against the CPU
 * backend's result on the same random inputs.
 *
 * Tolerances (relative, denominators floored at 1e-6):
 *   elementwise ops and reductions: 1e-5 (sums: relative to the sum of |x|)
 *   GEMM: 1e-4 (relative to sum_k |a_ik b_kj|)
 */
#include <string.h>

#include "test_util.h"

#define TOL_ELEMENTWISE 1e-5
#define TOL_GEMM 1e-4

/* Runs an op on one device and returns its result. */
typedef mtfl_tensor *(*op_runner)(mtfl_device *dev, const void *ctx);

/* The CPU result must match want (tol_cpu); every OpenCL device must match the CPU. */
static void check_everywhere_floor(const char *what, op_runner run, const void *ctx,
                                   const float *want, double tol_cpu, double tol_cl, double floor)
{
    mtfl_tensor *cpu = run(mtfl_device_cpu(), ctx);
    size_t n = mtfl_numel(cpu);
    float *cpu_values = values_of(cpu);
    if (want) {
        double err = max_rel_error(cpu_values, want, n, floor);
        cr_expect_leq(err, tol_cpu, "%s on cpu vs reference: relative error %.3g", what, err);
    }
    for (int d = 0; d < opencl_device_count(); d++) {
        mtfl_tensor *cl = run(opencl_device(d), ctx);
        cr_assert(mtfl_same_shape(cl, cpu), "%s: shapes differ across devices", what);
        float *cl_values = values_of(cl);
        double err = max_rel_error(cl_values, cpu_values, n, floor);
        cr_expect_leq(err, tol_cl, "%s on %s vs cpu: relative error %.3g above %.3g", what,
                      opencl_device(d)->id, err, tol_cl);
        free(cl_values);
        mtfl_tensor_release(cl);
    }
    free(cpu_values);
    mtfl_tensor_release(cpu);
}

static void check_everywhere(const char *what, op_runner run, const void *ctx,
                             const float *want, double tol_cpu, double tol_cl)
{
    check_everywhere_floor(what, run, ctx, want, tol_cpu, tol_cl, 1e-6);
}

/* ---- fills, ranges, random numbers ------------------------------------------------- */

typedef struct { int64_t n; float a, b; int kind; } fill_ctx;

static mtfl_tensor *run_fill(mtfl_device *dev, const void *p)
{
    const fill_ctx *c = p;
    mtfl_tensor *t = CHECK_PTR(mtfl_tensor_new(dev, 1, &c->n));
    switch (c->kind) {
    case 0: CHECK_OK(mtfl_fill(t, c->a)); break;
    case 1: CHECK_OK(mtfl_arange(t, c->a, c->b)); break;
    case 2: mtfl_manual_seed(42); CHECK_OK(mtfl_uniform(t, c->a, c->b)); break;
    default: mtfl_manual_seed(42); CHECK_OK(mtfl_normal(t, c->a, c->b)); break;
    }
    return t;
}

Test(ops, fill_and_arange)
{
    fill_ctx f = {100003, 2.5f, 0, 0};
    float *want = malloc(100003 * sizeof *want);
    for (int i = 0; i < 100003; i++) want[i] = 2.5f;
    check_everywhere("fill", run_fill, &f, want, 0, 0);
    fill_ctx r = {1000, -3.0f, 0.25f, 1};
    for (int i = 0; i < 1000; i++) want[i] = -3.0f + i * 0.25f;
    check_everywhere("arange", run_fill, &r, want, 0, 0);
    free(want);
}

Test(ops, random_numbers_are_the_same_on_every_device)
{
    fill_ctx u = {200000, -1.0f, 3.0f, 2};
    check_everywhere("uniform", run_fill, &u, NULL, 0, 0); /* bit-identical */
    fill_ctx g = {200000, 1.0f, 2.0f, 3};
    /* log and cos differ by a few ulp between libm and OpenCL: absolute 1e-5 of the std */
    check_everywhere_floor("normal", run_fill, &g, NULL, 0, 1e-5, 2.0);

    /* and the numbers look like what they claim to be */
    mtfl_tensor *t = run_fill(mtfl_device_cpu(), &u);
    float *v = values_of(t);
    double mean = 0, lo = 1e9, hi = -1e9;
    for (int i = 0; i < 200000; i++) {
        mean += v[i];
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    mean /= 200000;
    cr_expect(lo >= -1.0 && hi < 3.0, "uniform outside [-1, 3): %g..%g", lo, hi);
    cr_expect(fabs(mean - 1.0) < 0.02, "uniform(-1, 3) mean %g", mean);
    free(v);
    mtfl_tensor_release(t);
    t = run_fill(mtfl_device_cpu(), &g);
    v = values_of(t);
    double m = 0, var = 0;
    for (int i = 0; i < 200000; i++) m += v[i];
    m /= 200000;
    for (int i = 0; i < 200000; i++) var += (v[i] - m) * (v[i] - m);
    var /= 200000;
    cr_expect(fabs(m - 1.0) < 0.02 && fabs(sqrt(var) - 2.0) < 0.02, "normal(1, 2): mean %g std %g",
              m, sqrt(var));
    free(v);
    mtfl_tensor_release(t);
}

Test(ops, seeds_give_reproducible_and_distinct_streams)
{
    int64_t n = 64;
    mtfl_tensor *a = CHECK_PTR(mtfl_tensor_new(mtfl_device_cpu(), 1, &n));
    mtfl_tensor *b = CHECK_PTR(mtfl_tensor_new(mtfl_device_cpu(), 1, &n));
    mtfl_manual_seed(7);
    CHECK_OK(mtfl_uniform(a, 0, 1));
    float *first = values_of(a);
    CHECK_OK(mtfl_uniform(b, 0, 1)); /* the counter moved on: different numbers */
    float *second = values_of(b);
    cr_expect(memcmp(first, second, 64 * sizeof(float)) != 0, "consecutive draws repeat");
    mtfl_manual_seed(7);
    CHECK_OK(mtfl_uniform(b, 0, 1));
    float *again = values_of(b);
    cr_expect(memcmp(first, again, 64 * sizeof(float)) == 0, "same seed, different numbers");
    mtfl_manual_seed(8);
    CHECK_OK(mtfl_uniform(b, 0, 1));
    float *other = values_of(b);
    cr_expect(memcmp(first, other, 64 * sizeof(float)) != 0, "seeds 7 and 8 agree");
    free(first), free(second), free(again), free(other);
    mtfl_tensor_release(a);
    mtfl_tensor_release(b);
}

/* ---- elementwise ------------------------------------------------------------------- */

typedef struct { int op; float a, b; const float *x, *y; int64_t shape[3]; } elem_ctx;

static mtfl_tensor *run_unary(mtfl_device *dev, const void *p)
{
    const elem_ctx *c = p;
    mtfl_tensor *x = tensor_from(dev, 3, c->shape, c->x);
    /* through a transposed view, so the gather path runs too */
    mtfl_tensor *xt = CHECK_PTR(mtfl_tensor_transpose(x, 0, 2));
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, 3, xt->shape));
    CHECK_OK(mtfl_unary(c->op, out, xt, c->a, c->b));
    mtfl_tensor_release(xt);
    mtfl_tensor_release(x);
    return out;
}

static double unary_reference(int op, double v, double a, double b)
{
    switch (op) {
    case MTFL_UNARY_NEG: return -v;
    case MTFL_UNARY_ABS: return fabs(v);
    case MTFL_UNARY_EXP: return exp(v);
    case MTFL_UNARY_LOG: return log(v);
    case MTFL_UNARY_SQRT: return sqrt(v);
    case MTFL_UNARY_RELU: return v > 0 ? v : 0;
    case MTFL_UNARY_TANH: return tanh(v);
    case MTFL_UNARY_SIGMOID: return 1 / (1 + exp(-v));
    case MTFL_UNARY_ADD_SCALAR: return v + a;
    case MTFL_UNARY_MUL_SCALAR: return v * a;
    case MTFL_UNARY_RSUB_SCALAR: return a - v;
    case MTFL_UNARY_RDIV_SCALAR: return a / v;
    case MTFL_UNARY_POW_SCALAR: return pow(v, a);
    case MTFL_UNARY_RPOW_SCALAR: return pow(a, v);
    case MTFL_UNARY_STEP: return v >= a ? b : 0;
    case MTFL_UNARY_LEAKY_RELU: return v > 0 ? v : a * v;
    case MTFL_UNARY_ABS_TANH: return fabs(tanh(v));
    default: return fmin(fmax(v, a), b);
    }
}

Test(ops, unary_ops)
{
    int64_t shape[3] = {7, 33, 129};
    size_t n = 7 * 33 * 129;
    float *mixed = random_floats(n, 1, -3.0f, 3.0f), *positive = random_floats(n, 2, 0.1f, 3.0f);
    float *want = malloc(n * sizeof *want);
    for (int op = 0; op < MTFL_UNARY_COUNT; op++) {
        bool needs_positive = op == MTFL_UNARY_LOG || op == MTFL_UNARY_SQRT ||
                              op == MTFL_UNARY_POW_SCALAR || op == MTFL_UNARY_RDIV_SCALAR;
        elem_ctx c = {op, op == MTFL_UNARY_CLAMP ? -0.5f : 1.7f, 0.75f,
                      needs_positive ? positive : mixed, NULL, {shape[0], shape[1], shape[2]}};
        /* the reference walks the transposed view [129, 33, 7] in row-major order */
        size_t at = 0;
        for (int64_t i = 0; i < shape[2]; i++)
            for (int64_t j = 0; j < shape[1]; j++)
                for (int64_t k = 0; k < shape[0]; k++)
                    want[at++] = (float)unary_reference(op, c.x[(k * shape[1] + j) * shape[2] + i], c.a, c.b);
        char what[64];
        snprintf(what, sizeof what, "unary %s", mtfl_unary_name(op));
        check_everywhere(what, run_unary, &c, want, 2e-6, TOL_ELEMENTWISE);
    }
    free(mixed), free(positive), free(want);
}

static mtfl_tensor *run_binary(mtfl_device *dev, const void *p)
{
    const elem_ctx *c = p;
    mtfl_tensor *x = tensor_from(dev, 3, c->shape, c->x);
    mtfl_tensor *y = tensor_from(dev, 3, c->shape, c->y);
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, 3, c->shape));
    if (c->op < 0) {
        CHECK_OK(mtfl_copy(out, x));
        CHECK_OK(mtfl_axpy(out, c->a, y));
    } else {
        CHECK_OK(mtfl_binary_param(c->op, out, x, y, c->a));
    }
    mtfl_tensor_release(x);
    mtfl_tensor_release(y);
    return out;
}

Test(ops, binary_ops_and_axpy)
{
    int64_t shape[3] = {5, 100, 201};
    size_t n = 5 * 100 * 201;
    float *x = random_floats(n, 3, 0.2f, 3.0f), *y = random_floats(n, 4, -2.0f, 2.0f);
    float *want = malloc(n * sizeof *want);
    for (int op = -1; op < MTFL_BINARY_COUNT; op++) {
        elem_ctx c = {op, -0.3f, 0, x, y, {shape[0], shape[1], shape[2]}};
        for (size_t i = 0; i < n; i++) {
            double u = x[i], v = y[i];
            switch (op) {
            case -1: want[i] = (float)(u + (double)-0.3f * v); break;
            case MTFL_BINARY_ADD: want[i] = (float)(u + v); break;
            case MTFL_BINARY_SUB: want[i] = (float)(u - v); break;
            case MTFL_BINARY_MUL: want[i] = (float)(u * v); break;
            case MTFL_BINARY_DIV: want[i] = (float)(u / v); break;
            case MTFL_BINARY_POW: want[i] = (float)pow(u, v); break;
            case MTFL_BINARY_MAX: want[i] = (float)fmax(u, v); break;
            case MTFL_BINARY_MIN: want[i] = (float)fmin(u, v); break;
            case MTFL_BINARY_RELU_GRAD: want[i] = (float)(v > 0 ? u : 0); break;
            case MTFL_BINARY_TANH_GRAD: want[i] = (float)(u * (1 - v * v)); break;
            case MTFL_BINARY_LEAKY_RELU_GRAD: want[i] = (float)(v > 0 ? u : (double)c.a * u); break;
            case MTFL_BINARY_ABS_TANH_GRAD:
                want[i] = (float)((v > 0 ? u : v < 0 ? -u : 0) * (1 - tanh(v) * tanh(v)));
                break;
            case MTFL_BINARY_PRELU_SLOPE_GRAD: want[i] = (float)(v > 0 ? 0 : u * v); break;
            case MTFL_BINARY_SIGMOID_GRAD: want[i] = (float)(u * v * (1 - v)); break;
            default: cr_assert_fail("binary op %d has no reference here", op);
            }
        }
        char what[64];
        snprintf(what, sizeof what, "binary %s", op < 0 ? "axpy" : mtfl_binary_name(op));
        /* sums of O(1) operands can cancel to near zero, where a relative error means
         * nothing: those are measured relative to the operands' scale (floor 1) */
        bool cancels = op < 0 || op == MTFL_BINARY_ADD || op == MTFL_BINARY_SUB ||
                       op == MTFL_BINARY_TANH_GRAD || op == MTFL_BINARY_SIGMOID_GRAD ||
                       op == MTFL_BINARY_ABS_TANH_GRAD;
        check_everywhere_floor(what, run_binary, &c, want, 2e-6, TOL_ELEMENTWISE, cancels ? 1.0 : 1e-6);
    }
    free(x), free(y), free(want);
}

Test(ops, in_place_ops_alias_their_input)
{
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        float v[4] = {1, -2, 3, -4};
        int64_t n = 4;
        mtfl_tensor *t = tensor_from(dev, 1, &n, v);
        CHECK_OK(mtfl_unary(MTFL_UNARY_MUL_SCALAR, t, t, 2.0f, 0));
        CHECK_OK(mtfl_binary(MTFL_BINARY_ADD, t, t, t));
        float want[4] = {4, -8, 12, -16};
        expect_values(t, want, 4, 0, "in-place mul then add");
        mtfl_tensor_release(t);
    }
}

/* ---- reductions ------------------------------------------------------------------- */

typedef struct { int op, dim; int ndim; int64_t shape[3]; const float *x; } reduce_ctx;

static mtfl_tensor *run_reduce(mtfl_device *dev, const void *p)
{
    const reduce_ctx *c = p;
    mtfl_tensor *x = tensor_from(dev, c->ndim, c->shape, c->x);
    int64_t shape[3];
    int nd = mtfl_reduce_shape(x, c->dim, false, shape);
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, nd, shape));
    CHECK_OK(mtfl_reduce(c->op, out, x, c->dim));
    mtfl_tensor_release(x);
    return out;
}

/* Double-precision reference over [outer, len, inner]. Sums are checked relative to
 * the sum of |x|, so the reference output is that ratio's denominator's scale. */
static void reduce_reference(const reduce_ctx *c, float *want)
{
    size_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < c->ndim; i++) {
        if (c->dim < 0 || i == c->dim) len *= (size_t)c->shape[i];
        else if (i < c->dim) outer *= (size_t)c->shape[i];
        else inner *= (size_t)c->shape[i];
    }
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double sum = 0, best = c->x[o * len * inner + i];
            size_t arg = 0;
            for (size_t l = 0; l < len; l++) {
                double v = c->x[(o * len + l) * inner + i];
                sum += v;
                bool better = c->op == MTFL_REDUCE_MAX || c->op == MTFL_REDUCE_ARGMAX ? v > best : v < best;
                if (better) { best = v; arg = l; }
            }
            double r;
            switch (c->op) {
            case MTFL_REDUCE_SUM: r = sum; break;
            case MTFL_REDUCE_MEAN: r = sum / (double)len; break;
            case MTFL_REDUCE_MAX: case MTFL_REDUCE_MIN: r = best; break;
            default: r = (double)arg; break;
            }
            want[o * inner + i] = (float)r;
        }
}

Test(ops, reductions_over_each_dimension_and_all, .timeout = 300)
{
    /* inputs in [0.5, 1.5): sums cannot cancel, so relative error is meaningful */
    struct { int ndim; int64_t shape[3]; } cases[] = {
        {3, {3, 1000, 7}}, {1, {3000000}}, {2, {300, 513}}, {3, {2, 1, 4097}}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t n = 1;
        for (int i = 0; i < cases[k].ndim; i++) n *= (size_t)cases[k].shape[i];
        float *x = random_floats(n, 10 + (unsigned)k, 0.5f, 1.5f);
        float *want = malloc(n * sizeof *want);
        for (int op = 0; op < MTFL_REDUCE_COUNT; op++)
            for (int dim = -1; dim < cases[k].ndim; dim++) {
                reduce_ctx c = {op, dim, cases[k].ndim, {0}, x};
                memcpy(c.shape, cases[k].shape, sizeof c.shape);
                reduce_reference(&c, want);
                char what[96];
                snprintf(what, sizeof what, "%s over dim %d of case %zu", mtfl_reduce_name(op), dim + 1, k);
                check_everywhere(what, run_reduce, &c, want, TOL_ELEMENTWISE, TOL_ELEMENTWISE);
            }
        free(x), free(want);
    }
}

Test(ops, argmax_takes_the_first_of_ties)
{
    float v[8] = {1, 5, 5, 2, 7, 7, 7, 0};
    int64_t shape[2] = {2, 4};
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        mtfl_tensor *x = tensor_from(dev, 2, shape, v);
        int64_t two = 2;
        mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, 1, &two));
        CHECK_OK(mtfl_reduce(MTFL_REDUCE_ARGMAX, out, x, 1));
        float want[2] = {1, 0};
        expect_values(out, want, 2, 0, "argmax ties");
        mtfl_tensor *all = CHECK_PTR(mtfl_tensor_new(dev, 0, NULL));
        CHECK_OK(mtfl_reduce(MTFL_REDUCE_ARGMAX, all, x, -1));
        float flat = 4;
        expect_values(all, &flat, 1, 0, "argmax over all");
        mtfl_tensor_release(all), mtfl_tensor_release(out), mtfl_tensor_release(x);
    }
}

/* ---- matmul ----------------------------------------------------------------------- */

typedef struct {
    int64_t batch, m, n, k;
    bool ta, tb, shared_b, view_transpose;
    const float *a, *b;
} mm_ctx;

static mtfl_tensor *run_matmul(mtfl_device *dev, const void *p)
{
    const mm_ctx *c = p;
    int64_t ashape[3] = {c->batch, c->ta ? c->k : c->m, c->ta ? c->m : c->k};
    int64_t bshape[3] = {c->batch, c->tb ? c->n : c->k, c->tb ? c->k : c->n};
    bool batched = c->batch > 0;
    mtfl_tensor *a = tensor_from(dev, batched ? 3 : 2, batched ? ashape : ashape + 1, c->a);
    mtfl_tensor *b = c->shared_b ? tensor_from(dev, 2, bshape + 1, c->b)
                                 : tensor_from(dev, batched ? 3 : 2, batched ? bshape : bshape + 1, c->b);
    bool ta = c->ta;
    if (c->view_transpose) {
        /* hand matmul a transposed view instead of the flag: it must read the strides */
        mtfl_tensor *at = CHECK_PTR(mtfl_tensor_transpose(a, a->ndim - 2, a->ndim - 1));
        mtfl_tensor_release(a);
        a = at;
        ta = !ta;
    }
    int64_t shape[3];
    int nd = mtfl_matmul_shape(a, b, ta, c->tb, shape);
    cr_assert_geq(nd, 0, "matmul_shape: %s", mtfl_last_error());
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, nd, shape));
    CHECK_OK(mtfl_matmul(out, a, b, ta, c->tb, 1.0f, 0.0f));
    mtfl_tensor_release(a), mtfl_tensor_release(b);
    return out;
}

/* Reference in double; checked relative to sum_k |a b| via a floor at that scale. */
static void matmul_reference(const mm_ctx *c, float *want)
{
    int64_t batches = c->batch > 0 ? c->batch : 1;
    for (int64_t q = 0; q < batches; q++)
        for (int64_t i = 0; i < c->m; i++)
            for (int64_t j = 0; j < c->n; j++) {
                double s = 0;
                for (int64_t l = 0; l < c->k; l++) {
                    double av = c->ta ? c->a[q * c->m * c->k + l * c->m + i] : c->a[q * c->m * c->k + i * c->k + l];
                    int64_t qb = c->shared_b ? 0 : q;
                    double bv = c->tb ? c->b[qb * c->k * c->n + j * c->k + l] : c->b[qb * c->k * c->n + l * c->n + j];
                    s += av * bv;
                }
                want[(q * c->m + i) * c->n + j] = (float)s;
            }
}

Test(ops, matmul_transposes_batches_and_views, .timeout = 300)
{
    mm_ctx shapes[] = {
        {0, 65, 33, 129, 0, 0, 0, 0, 0, 0}, {3, 17, 40, 23, 0, 0, 0, 0, 0, 0},
        {4, 9, 31, 50, 0, 0, 1, 0, 0, 0}, {0, 1, 300, 70, 0, 0, 0, 0, 0, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int flags = 0; flags < 8; flags++) {
            mm_ctx c = shapes[s];
            c.ta = flags & 1;
            c.tb = (flags >> 1) & 1;
            c.view_transpose = (flags >> 2) & 1;
            int64_t batches = c.batch > 0 ? c.batch : 1;
            /* inputs in [0.5, 1.5): no cancellation, so relative error is the norm-wise one */
            float *a = random_floats((size_t)(batches * c.m * c.k), 20 + (unsigned)s, 0.5f, 1.5f);
            float *b = random_floats((size_t)(batches * c.k * c.n), 30 + (unsigned)s, 0.5f, 1.5f);
            c.a = a;
            c.b = b;
            float *want = malloc((size_t)(batches * c.m * c.n) * sizeof *want);
            matmul_reference(&c, want);
            char what[128];
            snprintf(what, sizeof what, "matmul %lldx%lldx%lldx%lld ta=%d tb=%d shared_b=%d view=%d",
                     (long long)c.batch, (long long)c.m, (long long)c.n, (long long)c.k, c.ta, c.tb,
                     c.shared_b, c.view_transpose);
            check_everywhere(what, run_matmul, &c, want, TOL_GEMM, TOL_GEMM);
            free(a), free(b), free(want);
        }
}

Test(ops, matmul_accumulates_with_alpha_and_beta)
{
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        int64_t s22[2] = {2, 2};
        float av[4] = {1, 2, 3, 4}, bv[4] = {5, 6, 7, 8}, cv[4] = {1, 1, 1, 1};
        mtfl_tensor *a = tensor_from(dev, 2, s22, av), *b = tensor_from(dev, 2, s22, bv);
        mtfl_tensor *c = tensor_from(dev, 2, s22, cv);
        CHECK_OK(mtfl_matmul(c, a, b, false, false, 2.0f, 3.0f));
        float want[4] = {2 * 19 + 3, 2 * 22 + 3, 2 * 43 + 3, 2 * 50 + 3};
        expect_values(c, want, 4, 1e-6, "alpha*A*B + beta*C");
        mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(c);
    }
}

/* ---- copies ------------------------------------------------------------------------ */

typedef struct { const float *x; int64_t shape[4]; int perm; } copy_ctx;

static mtfl_tensor *run_strided_copy(mtfl_device *dev, const void *p)
{
    const copy_ctx *c = p;
    mtfl_tensor *x = tensor_from(dev, 4, c->shape, c->x);
    mtfl_tensor *v1 = CHECK_PTR(mtfl_tensor_transpose(x, 0, 3));
    mtfl_tensor *v2 = CHECK_PTR(mtfl_tensor_narrow(v1, 2, 1, c->shape[2] - 2));
    mtfl_tensor *v3 = CHECK_PTR(mtfl_tensor_transpose(v2, 1, c->perm));
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_contiguous(v3));
    mtfl_tensor_release(x), mtfl_tensor_release(v1), mtfl_tensor_release(v2), mtfl_tensor_release(v3);
    return out;
}

Test(ops, strided_copies_agree)
{
    int64_t shape[4] = {3, 5, 7, 11};
    float *x = random_floats(3 * 5 * 7 * 11, 5, -1, 1);
    for (int perm = 1; perm < 4; perm++) {
        copy_ctx c = {x, {3, 5, 7, 11}, perm};
        (void)shape;
        check_everywhere("strided copy", run_strided_copy, &c, NULL, 0, 0);
    }
    free(x);
}

Test(ops, copies_across_devices_round_trip)
{
    int64_t shape[2] = {37, 53};
    float *x = random_floats(37 * 53, 6, -5, 5);
    for (int d = 0; d < opencl_device_count(); d++) {
        mtfl_tensor *cpu = tensor_from(mtfl_device_cpu(), 2, shape, x);
        mtfl_tensor *cpu_t = CHECK_PTR(mtfl_tensor_transpose(cpu, 0, 1));
        mtfl_tensor *on_cl = CHECK_PTR(mtfl_tensor_to(cpu_t, opencl_device(d)));
        cr_expect_eq(mtfl_tensor_device(on_cl), opencl_device(d));
        mtfl_tensor *back = CHECK_PTR(mtfl_tensor_to(on_cl, mtfl_device_cpu()));
        mtfl_tensor *want = CHECK_PTR(mtfl_tensor_contiguous(cpu_t));
        float *w = values_of(want);
        expect_values(back, w, 37 * 53, 0, "cpu -> opencl -> cpu");
        free(w);
        mtfl_tensor_release(cpu), mtfl_tensor_release(cpu_t), mtfl_tensor_release(on_cl);
        mtfl_tensor_release(back), mtfl_tensor_release(want);
    }
    free(x);
}

/* ---- cat and stack ----------------------------------------------------------------- */

typedef struct { const float *x; int dim; bool stack; } join_ctx;

/* Three [4, 5, 6] tensors (the second a transposed view, to be gathered), or for cat
 * [4, 5, 6], [4, 2, 6] ... along dim: the sizes along dim are 4 - dim, 2 and 3. */
static mtfl_tensor *run_join(mtfl_device *dev, const void *p)
{
    const join_ctx *c = p;
    mtfl_tensor *parts[3];
    for (int i = 0; i < 3; i++) {
        int64_t shape[3] = {4, 5, 6};
        if (!c->stack) shape[c->dim] = i == 0 ? 4 - c->dim : i + 1;
        int64_t swapped[3] = {shape[0], shape[2], shape[1]};
        if (i == 1) {
            mtfl_tensor *t = tensor_from(dev, 3, swapped, c->x + 100 * i);
            parts[i] = CHECK_PTR(mtfl_tensor_transpose(t, 1, 2));
            mtfl_tensor_release(t);
        } else {
            parts[i] = tensor_from(dev, 3, shape, c->x + 100 * i);
        }
    }
    const mtfl_tensor *list[3] = {parts[0], parts[1], parts[2]};
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = c->stack ? mtfl_stack_shape(list, 3, c->dim, shape) : mtfl_cat_shape(list, 3, c->dim, shape);
    cr_assert(ndim > 0, "%s", mtfl_last_error());
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, ndim, shape));
    CHECK_OK(c->stack ? mtfl_stack(out, list, 3, c->dim) : mtfl_cat(out, list, 3, c->dim));
    for (int i = 0; i < 3; i++) mtfl_tensor_release(parts[i]);
    return out;
}

/* The joined tensor in row-major order: for each index before dim, the parts' blocks
 * from dim on, one after another. */
static void join_reference(const join_ctx *c, float *want)
{
    int64_t at = 0, outer = 1;
    for (int d = 0; d < c->dim; d++) outer *= (int64_t[]){4, 5, 6}[d];
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < 3; i++) {
            int64_t shape[3] = {4, 5, 6}, block = 1;
            if (!c->stack) shape[c->dim] = i == 0 ? 4 - c->dim : i + 1;
            for (int d = c->dim; d < 3; d++) block *= shape[d];
            for (int64_t k = 0; k < block; k++) {
                int64_t flat = o * block + k; /* row-major index into part i's shape */
                int64_t i0 = flat / (shape[1] * shape[2]), i1 = flat / shape[2] % shape[1], i2 = flat % shape[2];
                /* part 1 is stored as [d0, d2, d1] */
                int64_t stored = i == 1 ? (i0 * shape[2] + i2) * shape[1] + i1 : flat;
                want[at++] = c->x[100 * i + stored];
            }
        }
}

Test(ops, cat_and_stack_along_each_dimension)
{
    float *x = random_floats(400, 31, -1, 1);
    float want[3 * 120];
    for (int dim = 0; dim < 3; dim++) {
        join_ctx c = {x, dim, false};
        join_reference(&c, want);
        check_everywhere("cat", run_join, &c, want, 0, 0);
    }
    for (int dim = 0; dim < 4; dim++) {
        join_ctx c = {x, dim, true};
        join_reference(&c, want);
        check_everywhere("stack", run_join, &c, want, 0, 0);
    }
    free(x);
}

Test(ops, cat_and_stack_misuse_is_an_error)
{
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t a_shape[2] = {2, 3}, b_shape[2] = {2, 4};
    mtfl_tensor *a = CHECK_PTR(mtfl_tensor_new(cpu, 2, a_shape)), *b = CHECK_PTR(mtfl_tensor_new(cpu, 2, b_shape));
    const mtfl_tensor *list[2] = {a, b};
    int64_t shape[MTFL_MAX_DIMS];
    cr_expect_eq(mtfl_cat_shape(list, 2, 0, shape), -1);
    cr_expect(strstr(mtfl_last_error(), "cat: tensor 2 [2x4] does not match tensor 1 [2x3] (sizes must "
                                        "agree except along dimension 1)") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_cat_shape(list, 2, 1, shape), 2);
    cr_expect(shape[0] == 2 && shape[1] == 7);
    cr_expect_eq(mtfl_stack_shape(list, 2, 0, shape), -1);
    cr_expect(strstr(mtfl_last_error(), "stack: tensor 2 [2x4] does not match tensor 1 [2x3]") != NULL,
              "%s", mtfl_last_error());
    cr_expect_eq(mtfl_cat_shape(list, 0, 0, shape), -1);
    cr_expect(strstr(mtfl_last_error(), "cat: expects at least one tensor") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_cat_shape(list, 2, 2, shape), -1);
    cr_expect(strstr(mtfl_last_error(), "cat: dimension 3 out of range") != NULL, "%s", mtfl_last_error());
    /* an output of the wrong shape */
    mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(cpu, 2, b_shape));
    cr_expect_eq(mtfl_cat(out, list, 2, 1), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "cat: output is [2x4], should be [2x7]") != NULL, "%s", mtfl_last_error());
    if (opencl_device_count() > 0) {
        mtfl_tensor *c = CHECK_PTR(mtfl_tensor_new(opencl_device(0), 2, a_shape));
        const mtfl_tensor *mixed[2] = {a, c};
        cr_expect_eq(mtfl_stack_shape(mixed, 2, 0, shape), -1);
        cr_expect(strstr(mtfl_last_error(), "stack: tensor 2 [2x3] is on opencl:0, tensor 1 [2x3] on cpu") != NULL,
                  "%s", mtfl_last_error());
        mtfl_tensor_release(c);
    }
    mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(out);
}
