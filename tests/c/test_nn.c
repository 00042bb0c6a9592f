/*
 * test_nn.c - the layer ops: the CPU backend against direct double-precision loops,
 * every OpenCL device against the CPU, and the convolution's grouping of samples
 * under a small workspace limit against the ungrouped result.
 *
 * Tolerances: 1e-4 relative (floor 1) for convolutions (GEMM sums of up to a few
 * hundred products) and batch normalisation (inputs near 42 with a spread of 1: float
 * x - mean keeps about 1e-6 of the spread, and 1/sqrt rounds), 1e-5 for everything
 * else; indices exact.
 */
#include <omp.h>
#include <string.h>

#include "test_util.h"

#define TOL_CONV 1e-4
#define TOL 1e-5

static void expect_close(const float *got, const float *want, size_t n, double tol, double floor,
                         const char *what, const char *where)
{
    double err = max_rel_error(got, want, n, floor);
    cr_expect_leq(err, tol, "%s on %s: relative error %.3g above %.3g", what, where, err, tol);
}

/* ---- convolution -------------------------------------------------------------------- */

typedef struct {
    int n, c, h, w, f, kh, kw, stride, pad;
} conv_case;

static int out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* y[n,f,oh,ow] = b[f] + sum_{c,i,j} x[n,c,oh*s-p+i,ow*s-p+j] w[f,c,i,j] */
static void conv_reference(const conv_case *k, const float *x, const float *w, const float *b, float *y)
{
    int oh = out_size(k->h, k->kh, k->stride, k->pad), ow = out_size(k->w, k->kw, k->stride, k->pad);
    for (int n = 0; n < k->n; n++)
        for (int f = 0; f < k->f; f++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double s = b[f];
                    for (int c = 0; c < k->c; c++)
                        for (int u = 0; u < k->kh; u++)
                            for (int v = 0; v < k->kw; v++) {
                                int r = i * k->stride - k->pad + u, q = j * k->stride - k->pad + v;
                                if (r >= 0 && r < k->h && q >= 0 && q < k->w)
                                    s += (double)x[((n * k->c + c) * k->h + r) * k->w + q] *
                                         w[((f * k->c + c) * k->kh + u) * k->kw + v];
                            }
                    y[((n * k->f + f) * oh + i) * ow + j] = (float)s;
                }
}

/* The backward pass by the same loops: dx and dw as sums of dy times the other factor. */
static void conv_backward_reference(const conv_case *k, const float *x, const float *w, const float *dy,
                                    float *dx, float *dw, float *db)
{
    int oh = out_size(k->h, k->kh, k->stride, k->pad), ow = out_size(k->w, k->kw, k->stride, k->pad);
    size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->f * k->c * k->kh * k->kw;
    double *ddx = calloc(nx, sizeof *ddx), *ddw = calloc(nw, sizeof *ddw), *ddb = calloc((size_t)k->f, sizeof *ddb);
    for (int n = 0; n < k->n; n++)
        for (int f = 0; f < k->f; f++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    double g = dy[((n * k->f + f) * oh + i) * ow + j];
                    ddb[f] += g;
                    for (int c = 0; c < k->c; c++)
                        for (int u = 0; u < k->kh; u++)
                            for (int v = 0; v < k->kw; v++) {
                                int r = i * k->stride - k->pad + u, q = j * k->stride - k->pad + v;
                                if (r < 0 || r >= k->h || q < 0 || q >= k->w) continue;
                                size_t xi = ((size_t)(n * k->c + c) * k->h + r) * k->w + q;
                                size_t wi = ((size_t)(f * k->c + c) * k->kh + u) * k->kw + v;
                                ddx[xi] += g * w[wi];
                                ddw[wi] += g * x[xi];
                            }
                }
    for (size_t i = 0; i < nx; i++) dx[i] = (float)ddx[i];
    for (size_t i = 0; i < nw; i++) dw[i] = (float)ddw[i];
    for (int i = 0; i < k->f; i++) db[i] = (float)ddb[i];
    free(ddx), free(ddw), free(ddb);
}

typedef struct {
    float *y, *dx, *dw, *db;
} conv_result;

static conv_result run_conv(mtfl_device *dev, const conv_case *k, const float *x, const float *w,
                            const float *b, const float *dy)
{
    int oh = out_size(k->h, k->kh, k->stride, k->pad), ow = out_size(k->w, k->kw, k->stride, k->pad);
    int64_t xs[4] = {k->n, k->c, k->h, k->w}, ws[4] = {k->f, k->c, k->kh, k->kw}, bs[1] = {k->f};
    int64_t ys[4] = {k->n, k->f, oh, ow};
    mtfl_window g = {k->kh, k->kw, k->stride, k->stride, k->pad, k->pad, false};
    mtfl_tensor *tx = tensor_from(dev, 4, xs, x), *tw = tensor_from(dev, 4, ws, w);
    mtfl_tensor *tb = tensor_from(dev, 1, bs, b), *tdy = tensor_from(dev, 4, ys, dy);
    mtfl_tensor *ty = CHECK_PTR(mtfl_tensor_new(dev, 4, ys)), *tdx = CHECK_PTR(mtfl_tensor_new(dev, 4, xs));
    mtfl_tensor *tdw = CHECK_PTR(mtfl_tensor_new(dev, 4, ws)), *tdb = CHECK_PTR(mtfl_tensor_new(dev, 1, bs));
    CHECK_OK(mtfl_conv2d_forward(ty, tx, tw, tb, &g));
    /* gradients accumulate: start from 1, the test subtracts it again */
    CHECK_OK(mtfl_fill(tdw, 1.0f));
    CHECK_OK(mtfl_fill(tdb, 1.0f));
    CHECK_OK(mtfl_conv2d_backward(tdx, tdw, tdb, tdy, tx, tw, &g));
    CHECK_OK(mtfl_unary(MTFL_UNARY_ADD_SCALAR, tdw, tdw, -1.0f, 0));
    CHECK_OK(mtfl_unary(MTFL_UNARY_ADD_SCALAR, tdb, tdb, -1.0f, 0));
    conv_result r = {values_of(ty), values_of(tdx), values_of(tdw), values_of(tdb)};
    mtfl_tensor *all[] = {tx, tw, tb, tdy, ty, tdx, tdw, tdb};
    for (size_t i = 0; i < 8; i++) mtfl_tensor_release(all[i]);
    return r;
}

static void free_result(conv_result r) { free(r.y), free(r.dx), free(r.dw), free(r.db); }

static void check_conv_case(const conv_case *k, size_t workspace)
{
    int oh = out_size(k->h, k->kh, k->stride, k->pad), ow = out_size(k->w, k->kw, k->stride, k->pad);
    size_t nx = (size_t)k->n * k->c * k->h * k->w, nw = (size_t)k->f * k->c * k->kh * k->kw;
    size_t ny = (size_t)k->n * k->f * oh * ow;
    float *x = random_floats(nx, 1, -1, 1), *w = random_floats(nw, 2, -1, 1);
    float *b = random_floats((size_t)k->f, 3, -1, 1), *dy = random_floats(ny, 4, -1, 1);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    float *db = malloc((size_t)k->f * sizeof *db);
    conv_reference(k, x, w, b, y);
    conv_backward_reference(k, x, w, dy, dx, dw, db);

    mtfl_set_workspace_limit(workspace);
    char what[160];
    snprintf(what, sizeof what, "conv %dx%dx%dx%d f%d k%dx%d s%d p%d workspace %zu", k->n, k->c,
             k->h, k->w, k->f, k->kh, k->kw, k->stride, k->pad, workspace);
    conv_result cpu = run_conv(mtfl_device_cpu(), k, x, w, b, dy);
    expect_close(cpu.y, y, ny, TOL_CONV, 1.0, what, "cpu (forward)");
    expect_close(cpu.dx, dx, nx, TOL_CONV, 1.0, what, "cpu (input gradient)");
    expect_close(cpu.dw, dw, nw, TOL_CONV, 1.0, what, "cpu (weight gradient)");
    expect_close(cpu.db, db, (size_t)k->f, TOL_CONV, 1.0, what, "cpu (bias gradient)");
    for (int d = 0; d < opencl_device_count(); d++) {
        conv_result cl = run_conv(opencl_device(d), k, x, w, b, dy);
        expect_close(cl.y, cpu.y, ny, TOL_CONV, 1.0, what, opencl_device(d)->id);
        expect_close(cl.dx, cpu.dx, nx, TOL_CONV, 1.0, what, opencl_device(d)->id);
        expect_close(cl.dw, cpu.dw, nw, TOL_CONV, 1.0, what, opencl_device(d)->id);
        expect_close(cl.db, cpu.db, (size_t)k->f, TOL_CONV, 1.0, what, opencl_device(d)->id);
        free_result(cl);
    }
    mtfl_set_workspace_limit(0);
    free_result(cpu);
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db);
}

Test(nn, conv2d_forward_and_backward, .timeout = 600)
{
    conv_case cases[] = {
        {3, 3, 11, 9, 4, 5, 5, 1, 2},  /* the seed's 'same' 5x5 */
        {2, 2, 10, 12, 3, 3, 3, 2, 1}, /* strided */
        {5, 4, 6, 6, 2, 1, 1, 1, 0},   /* 1x1 */
        {1, 1, 7, 5, 1, 3, 2, 1, 0},   /* non-square kernel, no padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_conv_case(&cases[i], (size_t)256 << 20); /* the whole batch in one group */
        check_conv_case(&cases[i], 1);                  /* one sample per group */
        check_conv_case(&cases[i], 4000);               /* groups of a few, with a remainder */
    }
}

/* The CPU backend's results are the same bits on 1, 2 or 3 threads: runs that split the
 * cores between them (--jobs, MPI ranks on one machine) train exactly what one process
 * with all the cores trains. Shapes: the seed network's layers at a small batch, a
 * fully connected product that OpenBLAS would thread, and a full sum. */
static bool same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

Test(nn, cpu_results_do_not_depend_on_the_thread_count, .timeout = 300)
{
    int threads_before = omp_get_max_threads();
    conv_case k = {24, 16, 24, 24, 32, 5, 5, 1, 2};
    int oh = out_size(k.h, k.kh, k.stride, k.pad), ow = out_size(k.w, k.kw, k.stride, k.pad);
    size_t nx = (size_t)k.n * k.c * k.h * k.w, nw = (size_t)k.f * k.c * k.kh * k.kw;
    size_t ny = (size_t)k.n * k.f * oh * ow;
    float *x = random_floats(nx, 11, -1, 1), *w = random_floats(nw, 12, -1, 1);
    float *b = random_floats((size_t)k.f, 13, -1, 1), *dy = random_floats(ny, 14, -1, 1);
    int64_t as[2] = {50, 4608}, bs[2] = {4608, 300}, cs[2] = {50, 300}, ss[1] = {1}, fs[1] = {3000000};
    float *av = random_floats(50 * 4608, 15, -1, 1), *bv = random_floats(4608 * 300, 16, -1, 1);
    float *fv = random_floats(3000000, 17, -1, 1);
    mtfl_device *cpu = mtfl_device_cpu();
    conv_result first = {0};
    float *first_mm = NULL, first_sum = 0;
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        conv_result r = run_conv(cpu, &k, x, w, b, dy);
        mtfl_tensor *a = tensor_from(cpu, 2, as, av), *bm = tensor_from(cpu, 2, bs, bv);
        mtfl_tensor *c = CHECK_PTR(mtfl_tensor_new(cpu, 2, cs)), *f = tensor_from(cpu, 1, fs, fv);
        mtfl_tensor *sum = CHECK_PTR(mtfl_tensor_new(cpu, 1, ss));
        CHECK_OK(mtfl_matmul(c, a, bm, false, false, 1.0f, 0.0f));
        CHECK_OK(mtfl_reduce(MTFL_REDUCE_SUM, sum, f, -1));
        float *mm = values_of(c), *sv = values_of(sum);
        if (threads == 1) {
            first = r, first_mm = mm, first_sum = sv[0];
        } else {
            cr_expect(same_bits(r.y, first.y, ny), "conv forward differs on %d threads", threads);
            cr_expect(same_bits(r.dx, first.dx, nx), "conv input gradient differs on %d threads", threads);
            cr_expect(same_bits(r.dw, first.dw, nw), "conv weight gradient differs on %d threads", threads);
            cr_expect(same_bits(r.db, first.db, (size_t)k.f), "conv bias gradient differs on %d threads", threads);
            cr_expect(same_bits(mm, first_mm, 50 * 300), "matmul 50x300x4608 differs on %d threads", threads);
            cr_expect(same_bits(sv, &first_sum, 1), "sum of 3e6 floats differs on %d threads: %.9g, %.9g",
                      threads, sv[0], first_sum);
            free_result(r), free(mm);
        }
        free(sv);
        mtfl_tensor *all[] = {a, bm, c, f, sum};
        for (size_t i = 0; i < 5; i++) mtfl_tensor_release(all[i]);
    }
    omp_set_num_threads(threads_before);
    free_result(first), free(first_mm);
    free(x), free(w), free(b), free(dy), free(av), free(bv), free(fv);
}

Test(nn, shape_functions_are_the_ops_rules)
{
    /* the seed's layers: 5x5 same convolutions, then 2x2 pools, 75 -> 38 in ceil mode */
    int64_t xs[4] = {64, 3, 150, 150}, ws[4] = {16, 3, 5, 5}, out[4];
    mtfl_window same5 = {5, 5, 1, 1, 2, 2, false}, pool = {2, 2, 2, 2, 0, 0, false};
    CHECK_OK(mtfl_conv2d_shape(4, xs, 4, ws, &same5, out));
    cr_expect(out[0] == 64 && out[1] == 16 && out[2] == 150 && out[3] == 150);
    int64_t p75[4] = {64, 32, 75, 75};
    pool.ceil_mode = true;
    CHECK_OK(mtfl_maxpool2d_shape(4, p75, &pool, out));
    cr_expect(out[0] == 64 && out[1] == 32 && out[2] == 38 && out[3] == 38, "ceil: %lld", (long long)out[2]);
    pool.ceil_mode = false;
    CHECK_OK(mtfl_maxpool2d_shape(4, p75, &pool, out));
    cr_expect(out[2] == 37, "floor: %lld", (long long)out[2]);
    /* stride 2 without padding: (9 - 3) / 2 + 1 */
    int64_t x9[4] = {1, 2, 9, 9}, w3[4] = {3, 2, 3, 3};
    mtfl_window s2 = {3, 3, 2, 2, 0, 0, false};
    CHECK_OK(mtfl_conv2d_shape(4, x9, 4, w3, &s2, out));
    cr_expect(out[2] == 4 && out[3] == 4);
    /* what does not fit is an error naming the op */
    int64_t x2d[2] = {4, 4};
    cr_expect_eq(mtfl_maxpool2d_shape(2, x2d, &pool, out), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "maxpool2d: input [4x4] is not [N,C,H,W]") != NULL, "%s", mtfl_last_error());
    int64_t tiny[4] = {1, 3, 3, 3};
    cr_expect_eq(mtfl_conv2d_shape(4, tiny, 4, ws, &(mtfl_window){5, 5, 1, 1, 0, 0, false}, out), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "conv2d: a 5x5 kernel (stride 1x1, padding 0x0) does not fit input [1x3x3x3]") != NULL,
              "%s", mtfl_last_error());
    cr_expect_eq(mtfl_conv2d_shape(4, xs, 4, ws, &(mtfl_window){3, 3, 1, 1, 1, 1, false}, out), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "conv2d: weight [16x3x5x5] does not match a 3x3 kernel") != NULL, "%s", mtfl_last_error());
}

Test(nn, conv2d_misuse_is_an_error)
{
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t xs[4] = {1, 3, 8, 8}, ws[4] = {4, 2, 3, 3}, ys[4] = {1, 4, 8, 8};
    mtfl_tensor *x = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs)), *w = CHECK_PTR(mtfl_tensor_new(cpu, 4, ws));
    mtfl_tensor *y = CHECK_PTR(mtfl_tensor_new(cpu, 4, ys));
    mtfl_window g = {3, 3, 1, 1, 1, 1, false};
    cr_expect_eq(mtfl_conv2d_forward(y, x, w, NULL, &g), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "conv2d: input [1x3x8x8] and weight [4x2x3x3] do not fit") != NULL,
              "%s", mtfl_last_error());
    mtfl_window big = {9, 9, 1, 1, 0, 0, false};
    int64_t w9[4] = {4, 3, 9, 9};
    mtfl_tensor *w2 = CHECK_PTR(mtfl_tensor_new(cpu, 4, w9));
    cr_expect_eq(mtfl_conv2d_forward(y, x, w2, NULL, &big), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "does not fit") != NULL, "%s", mtfl_last_error());
    mtfl_tensor_release(x), mtfl_tensor_release(w), mtfl_tensor_release(w2), mtfl_tensor_release(y);
}

/* ---- max pooling -------------------------------------------------------------------- */

static void pool_reference(const float *x, int planes, int h, int w, const mtfl_window *g, int oh,
                           int ow, float *y, float *idx, const float *dy, float *dx)
{
    memset(dx, 0, (size_t)planes * h * w * sizeof *dx);
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float best = -INFINITY;
                int at = -1;
                for (int u = 0; u < g->kernel_h; u++)
                    for (int v = 0; v < g->kernel_w; v++) {
                        int r = i * g->stride_h - g->pad_h + u, q = j * g->stride_w - g->pad_w + v;
                        if (r < 0 || r >= h || q < 0 || q >= w) continue;
                        if (at < 0 || x[(p * h + r) * w + q] > best) {
                            best = x[(p * h + r) * w + q];
                            at = r * w + q;
                        }
                    }
                size_t o = ((size_t)p * oh + i) * ow + j;
                y[o] = best;
                idx[o] = (float)at;
                dx[(size_t)p * h * w + at] += dy[o];
            }
}

Test(nn, maxpool2d_forward_and_backward)
{
    struct { int n, c, h, w; mtfl_window g; } cases[] = {
        {2, 3, 75, 75, {2, 2, 2, 2, 0, 0, true}},  /* the seed's 75 -> 38 */
        {1, 2, 9, 11, {3, 3, 2, 2, 1, 1, false}},  /* overlapping, padded */
        {2, 1, 8, 8, {2, 2, 2, 2, 0, 0, false}},
        /* the 2x2 fast path at every edge: odd rows, odd columns, each alone, ceil or not */
        {2, 2, 5, 5, {2, 2, 2, 2, 0, 0, true}},    /* TCDCN-like's 5 -> 3 */
        {1, 3, 7, 6, {2, 2, 2, 2, 0, 0, true}},
        {1, 2, 6, 9, {2, 2, 2, 2, 0, 0, true}},
        {1, 2, 75, 75, {2, 2, 2, 2, 0, 0, false}}, /* the last row and column dropped */
        {1, 1, 2, 2, {2, 2, 2, 2, 0, 0, false}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int planes = cases[k].n * cases[k].c, h = cases[k].h, w = cases[k].w;
        const mtfl_window *g = &cases[k].g;
        int oh = (int)mtfl_window_output(h, g->kernel_h, g->stride_h, g->pad_h, g->ceil_mode);
        int ow = (int)mtfl_window_output(w, g->kernel_w, g->stride_w, g->pad_w, g->ceil_mode);
        if (k == 0) cr_expect(oh == 38 && ow == 38, "ceil mode: 75 -> %d x %d", oh, ow);
        size_t nx = (size_t)planes * h * w, ny = (size_t)planes * oh * ow;
        /* integer-valued inputs from a small range: plenty of ties to break */
        float *x = random_floats(nx, 7, 0, 6), *dy = random_floats(ny, 8, -1, 1);
        for (size_t i = 0; i < nx; i++) x[i] = floorf(x[i]);
        float *y = malloc(ny * 4), *idx = malloc(ny * 4), *dx = malloc(nx * 4);
        pool_reference(x, planes, h, w, g, oh, ow, y, idx, dy, dx);
        for (int d = 0; d < mtfl_device_count(); d++) {
            mtfl_device *dev = mtfl_device_at(d);
            int64_t xs[4] = {cases[k].n, cases[k].c, h, w}, ys[4] = {cases[k].n, cases[k].c, oh, ow};
            mtfl_tensor *tx = tensor_from(dev, 4, xs, x), *tdy = tensor_from(dev, 4, ys, dy);
            mtfl_tensor *ty = CHECK_PTR(mtfl_tensor_new(dev, 4, ys)), *ti = CHECK_PTR(mtfl_tensor_new(dev, 4, ys));
            mtfl_tensor *tdx = CHECK_PTR(mtfl_tensor_new(dev, 4, xs));
            CHECK_OK(mtfl_maxpool2d_forward(ty, ti, tx, g));
            CHECK_OK(mtfl_maxpool2d_backward(tdx, tdy, ti, g));
            expect_values(ty, y, ny, 0, "maxpool output");
            expect_values(ti, idx, ny, 0, "maxpool indices");
            expect_values(tdx, dx, nx, TOL, "maxpool gradient");
            mtfl_tensor *all[] = {tx, tdy, ty, ti, tdx};
            for (size_t i = 0; i < 5; i++) mtfl_tensor_release(all[i]);
        }
        free(x), free(dy), free(y), free(idx), free(dx);
    }
}

/* ---- average pooling ---------------------------------------------------------------- */

/* Each output the mean of the window's elements inside the plane; dx by scattering dy /
 * count back over the same elements. */
static void avgpool_reference(const float *x, int planes, int h, int w, const mtfl_window *g, int oh,
                              int ow, float *y, const float *dy, float *dx)
{
    double *ddx = calloc((size_t)planes * h * w, sizeof *ddx);
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double sum = 0;
                int count = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int u = 0; u < g->kernel_h; u++)
                        for (int v = 0; v < g->kernel_w; v++) {
                            int r = i * g->stride_h - g->pad_h + u, q = j * g->stride_w - g->pad_w + v;
                            if (r < 0 || r >= h || q < 0 || q >= w) continue;
                            size_t at = ((size_t)p * h + r) * w + q;
                            if (pass == 0) sum += x[at], count++;
                            else ddx[at] += dy[((size_t)p * oh + i) * ow + j] / (double)count;
                        }
                y[((size_t)p * oh + i) * ow + j] = (float)(sum / count);
            }
    for (size_t i = 0; i < (size_t)planes * h * w; i++) dx[i] = (float)ddx[i];
    free(ddx);
}

Test(nn, avgpool2d_forward_and_backward)
{
    struct { int n, c, h, w; mtfl_window g; } cases[] = {
        {2, 3, 75, 75, {2, 2, 2, 2, 0, 0, true}},   /* a ceil-mode overhang: 1- and 2-element windows */
        {1, 2, 9, 11, {3, 3, 2, 2, 1, 1, false}},   /* overlapping, padding not counted */
        {2, 2, 10, 7, {3, 2, 1, 2, 1, 1, true}},
        {3, 4, 6, 5, {6, 5, 1, 1, 0, 0, false}},    /* the whole plane: global pooling */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int planes = cases[k].n * cases[k].c, h = cases[k].h, w = cases[k].w;
        const mtfl_window *g = &cases[k].g;
        int64_t xs[4] = {cases[k].n, cases[k].c, h, w}, ys[4];
        CHECK_OK(mtfl_avgpool2d_shape(4, xs, g, ys));
        int oh = (int)ys[2], ow = (int)ys[3];
        size_t nx = (size_t)planes * h * w, ny = (size_t)planes * oh * ow;
        float *x = random_floats(nx, 17, -2, 2), *dy = random_floats(ny, 18, -1, 1);
        float *y = malloc(ny * 4), *dx = malloc(nx * 4);
        avgpool_reference(x, planes, h, w, g, oh, ow, y, dy, dx);
        for (int d = 0; d < mtfl_device_count(); d++) {
            mtfl_device *dev = mtfl_device_at(d);
            mtfl_tensor *tx = tensor_from(dev, 4, xs, x), *tdy = tensor_from(dev, 4, ys, dy);
            mtfl_tensor *ty = CHECK_PTR(mtfl_tensor_new(dev, 4, ys)), *tdx = CHECK_PTR(mtfl_tensor_new(dev, 4, xs));
            CHECK_OK(mtfl_avgpool2d_forward(ty, tx, g));
            CHECK_OK(mtfl_avgpool2d_backward(tdx, tdy, g));
            float *gy = values_of(ty), *gdx = values_of(tdx);
            expect_close(gy, y, ny, TOL, 1, "avgpool output", dev->id);
            expect_close(gdx, dx, nx, TOL, 1, "avgpool gradient", dev->id);
            free(gy), free(gdx);
            mtfl_tensor *all[] = {tx, tdy, ty, tdx};
            for (size_t i = 0; i < 4; i++) mtfl_tensor_release(all[i]);
        }
        free(x), free(dy), free(y), free(dx);
    }
    /* what does not fit is an error naming the op and the shapes */
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t xs[4] = {1, 2, 4, 4}, wrong[4] = {1, 2, 3, 3}, flat[2] = {4, 4}, out[4];
    mtfl_window two = {2, 2, 2, 2, 0, 0, false};
    cr_expect_eq(mtfl_avgpool2d_shape(2, flat, &two, out), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "avgpool2d: input [4x4] is not [N,C,H,W]") != NULL, "%s", mtfl_last_error());
    mtfl_tensor *x = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs)), *y = CHECK_PTR(mtfl_tensor_new(cpu, 4, wrong));
    cr_expect_eq(mtfl_avgpool2d_forward(y, x, &two), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "avgpool2d: output is [1x2x3x3], should be [1x2x2x2]") != NULL, "%s",
              mtfl_last_error());
    cr_expect_eq(mtfl_avgpool2d_backward(x, y, &two), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "avgpool2d_backward: gradOutput is [1x2x3x3], should be [1x2x2x2]") != NULL,
              "%s", mtfl_last_error());
    mtfl_tensor_release(x), mtfl_tensor_release(y);
}

/* ---- batch normalisation ------------------------------------------------------------- */

typedef struct {
    int n, c, inner;
} norm_case;

#define NORM_AT(k, i, ch, j) ((((size_t)(i) * (k)->c + (ch)) * (k)->inner) + (j))

/* Per channel in double: batch mean and biased variance, y, and the gradients from dy
 * (training: through the batch statistics; otherwise with mean and var fixed). */
static void batchnorm_reference(const norm_case *k, const float *x, const float *w, const float *b,
                                const float *dy, bool training, const float *fixed_mean,
                                const float *fixed_var, float eps, float *y, float *dx, float *dw,
                                float *db, double *batch_mean, double *batch_var)
{
    double count = (double)k->n * k->inner;
    for (int ch = 0; ch < k->c; ch++) {
        double s = 0, q = 0;
        for (int i = 0; i < k->n; i++)
            for (int j = 0; j < k->inner; j++) s += x[NORM_AT(k, i, ch, j)];
        double mean = s / count;
        for (int i = 0; i < k->n; i++)
            for (int j = 0; j < k->inner; j++) q += pow(x[NORM_AT(k, i, ch, j)] - mean, 2);
        batch_mean[ch] = mean, batch_var[ch] = q / count;
        double m = training ? mean : fixed_mean[ch], v = training ? q / count : fixed_var[ch];
        double is = 1 / sqrt(v + eps), sdy = 0, sdyx = 0;
        for (int i = 0; i < k->n; i++)
            for (int j = 0; j < k->inner; j++) {
                size_t at = NORM_AT(k, i, ch, j);
                double xhat = (x[at] - m) * is;
                y[at] = (float)(xhat * w[ch] + b[ch]);
                sdy += dy[at], sdyx += dy[at] * xhat;
            }
        db[ch] = (float)sdy, dw[ch] = (float)sdyx;
        for (int i = 0; i < k->n; i++)
            for (int j = 0; j < k->inner; j++) {
                size_t at = NORM_AT(k, i, ch, j);
                double xhat = (x[at] - m) * is;
                double g = training ? dy[at] - sdy / count - xhat * sdyx / count : dy[at];
                dx[at] = (float)(w[ch] * is * g);
            }
    }
}

Test(nn, batchnorm_forward_and_backward)
{
    norm_case cases[] = {{8, 16, 400}, {12, 300, 1}, {1, 3, 35}, {2, 5, 1}};
    const float eps = 1e-5f, momentum = 0.25f;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const norm_case *nc = &cases[k];
        size_t nx = (size_t)nc->n * nc->c * nc->inner;
        /* far from zero: a one-pass variance would cancel */
        float *x = random_floats(nx, 21, 40, 44), *dy = random_floats(nx, 22, -1, 1);
        float *w = random_floats((size_t)nc->c, 23, -2, 2), *b = random_floats((size_t)nc->c, 24, -1, 1);
        float *fmean = random_floats((size_t)nc->c, 25, 41, 43), *fvar = random_floats((size_t)nc->c, 26, 0.5f, 2);
        float *y = malloc(nx * 4), *dx = malloc(nx * 4), *dw = malloc((size_t)nc->c * 4), *db = malloc((size_t)nc->c * 4);
        double *bm = malloc((size_t)nc->c * sizeof *bm), *bv = malloc((size_t)nc->c * sizeof *bv);
        float *want_rm = malloc((size_t)nc->c * 4), *want_rv = malloc((size_t)nc->c * 4);
        float *want_m = malloc((size_t)nc->c * 4), *want_v = malloc((size_t)nc->c * 4);
        int64_t xs[3] = {nc->n, nc->c, nc->inner}, cs[1] = {nc->c};
        int ndim = nc->inner == 1 ? 2 : 3;
        for (int training = 1; training >= 0; training--) {
            batchnorm_reference(nc, x, w, b, dy, training, fmean, fvar, eps, y, dx, dw, db, bm, bv);
            double count = (double)nc->n * nc->inner;
            for (int ch = 0; ch < nc->c; ch++) {
                want_m[ch] = (float)bm[ch], want_v[ch] = (float)bv[ch];
                want_rm[ch] = (float)((1 - momentum) * fmean[ch] + momentum * bm[ch]);
                want_rv[ch] = (float)((1 - momentum) * fvar[ch] + momentum * bv[ch] * count / (count - 1));
            }
            for (int d = 0; d < mtfl_device_count(); d++) {
                mtfl_device *dev = mtfl_device_at(d);
                mtfl_tensor *tx = tensor_from(dev, ndim, xs, x), *tdy = tensor_from(dev, ndim, xs, dy);
                mtfl_tensor *tw = tensor_from(dev, 1, cs, w), *tb = tensor_from(dev, 1, cs, b);
                /* the running statistics start at fmean, fvar; outside training they are
                 * what normalises */
                mtfl_tensor *trm = tensor_from(dev, 1, cs, fmean), *trv = tensor_from(dev, 1, cs, fvar);
                mtfl_tensor *tm = training ? CHECK_PTR(mtfl_tensor_new(dev, 1, cs)) : tensor_from(dev, 1, cs, fmean);
                mtfl_tensor *tv = training ? CHECK_PTR(mtfl_tensor_new(dev, 1, cs)) : tensor_from(dev, 1, cs, fvar);
                mtfl_tensor *ty = CHECK_PTR(mtfl_tensor_new(dev, ndim, xs)), *tdx = CHECK_PTR(mtfl_tensor_new(dev, ndim, xs));
                float ones[1024];
                for (int i = 0; i < nc->c; i++) ones[i] = 1.0f;
                /* dw and db start at 1: they are accumulated into */
                mtfl_tensor *tdw = tensor_from(dev, 1, cs, ones), *tdb = tensor_from(dev, 1, cs, ones);
                CHECK_OK(mtfl_batchnorm_forward(ty, tm, tv, training ? trm : NULL, training ? trv : NULL, tx, tw, tb,
                                                training, momentum, eps));
                CHECK_OK(mtfl_batchnorm_backward(tdx, tdw, tdb, tdy, tx, tm, tv, tw, training, eps));
                float *got[6] = {values_of(ty), values_of(tdx), values_of(tdw), values_of(tdb), values_of(trm),
                                 values_of(trv)};
                for (int ch = 0; ch < nc->c; ch++) got[2][ch] -= 1.0f, got[3][ch] -= 1.0f;
                const char *mode = training ? "training" : "evaluation";
                char what[64];
                snprintf(what, sizeof what, "batchnorm %s y (case %zu)", mode, k);
                expect_close(got[0], y, nx, 1e-4, 1, what, dev->id);
                snprintf(what, sizeof what, "batchnorm %s dx (case %zu)", mode, k);
                expect_close(got[1], dx, nx, 1e-4, 1, what, dev->id);
                snprintf(what, sizeof what, "batchnorm %s dweight (case %zu)", mode, k);
                expect_close(got[2], dw, (size_t)nc->c, 1e-4, 1, what, dev->id);
                snprintf(what, sizeof what, "batchnorm %s dbias (case %zu)", mode, k);
                expect_close(got[3], db, (size_t)nc->c, 1e-4, 1, what, dev->id);
                if (training) {
                    float *gm = values_of(tm), *gv = values_of(tv);
                    expect_close(gm, want_m, (size_t)nc->c, TOL, 1, "batchnorm batch mean", dev->id);
                    expect_close(gv, want_v, (size_t)nc->c, 1e-4, 1, "batchnorm batch variance", dev->id);
                    expect_close(got[4], want_rm, (size_t)nc->c, TOL, 1, "batchnorm running mean", dev->id);
                    expect_close(got[5], want_rv, (size_t)nc->c, 1e-4, 1, "batchnorm running variance", dev->id);
                    free(gm), free(gv);
                } else {
                    expect_close(got[4], fmean, (size_t)nc->c, 0, 1, "running mean untouched", dev->id);
                }
                for (int i = 0; i < 6; i++) free(got[i]);
                mtfl_tensor *all[] = {tx, tdy, tw, tb, trm, trv, tm, tv, ty, tdx, tdw, tdb};
                for (size_t i = 0; i < sizeof all / sizeof *all; i++) mtfl_tensor_release(all[i]);
            }
        }
        free(x), free(dy), free(w), free(b), free(fmean), free(fvar), free(y), free(dx), free(dw), free(db);
        free(bm), free(bv), free(want_rm), free(want_rv), free(want_m), free(want_v);
    }
}

Test(nn, batchnorm_misuse_is_an_error)
{
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t one[2] = {1, 4}, xs[4] = {2, 4, 3, 3}, c4[1] = {4}, c3[1] = {3}, single[4] = {1, 4, 1, 1};
    mtfl_tensor *x1 = CHECK_PTR(mtfl_tensor_new(cpu, 2, one)), *y1 = CHECK_PTR(mtfl_tensor_new(cpu, 2, one));
    mtfl_tensor *m = CHECK_PTR(mtfl_tensor_new(cpu, 1, c4)), *v = CHECK_PTR(mtfl_tensor_new(cpu, 1, c4));
    mtfl_tensor *w3 = CHECK_PTR(mtfl_tensor_new(cpu, 1, c3));
    mtfl_tensor *x = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs)), *y = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs));
    mtfl_tensor *xs1 = CHECK_PTR(mtfl_tensor_new(cpu, 4, single)), *ys1 = CHECK_PTR(mtfl_tensor_new(cpu, 4, single));
    cr_expect_eq(mtfl_batchnorm_forward(y1, m, v, NULL, NULL, x1, NULL, NULL, true, 0.1f, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "batchnorm: expected more than 1 value per channel when training, got input [1x4]")
              != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_forward(ys1, m, v, NULL, NULL, xs1, NULL, NULL, true, 0.1f, 1e-5f), MTFL_ERR_ARG);
    CHECK_OK(mtfl_fill(m, 0.0f));
    CHECK_OK(mtfl_fill(v, 1.0f));
    CHECK_OK(mtfl_batchnorm_forward(y1, m, v, NULL, NULL, x1, NULL, NULL, false, 0.1f, 1e-5f));
    cr_expect_eq(mtfl_batchnorm_forward(y, m, v, NULL, NULL, x, w3, NULL, true, 0.1f, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "batchnorm: weight is [3], should be [4]") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_forward(y1, m, v, NULL, NULL, x, NULL, NULL, true, 0.1f, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "batchnorm: output is [1x4], should be [2x4x3x3]") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_forward(y, m, v, m, NULL, x, NULL, NULL, true, 0.1f, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "running mean and variance go together") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_forward(y, m, v, NULL, NULL, x, NULL, NULL, true, 1.5f, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "momentum 1.5 in [0, 1]") != NULL, "%s", mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_backward(y, NULL, NULL, y1, x, m, v, NULL, true, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "batchnorm_backward: gradOutput is [1x4], should be [2x4x3x3]") != NULL, "%s",
              mtfl_last_error());
    cr_expect_eq(mtfl_batchnorm_backward(y, w3, NULL, y, x, m, v, NULL, true, 1e-5f), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "batchnorm_backward: weight gradient is [3], should be [4]") != NULL, "%s",
              mtfl_last_error());
    mtfl_tensor *all[] = {x1, y1, m, v, w3, x, y, xs1, ys1};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mtfl_tensor_release(all[i]);
}

/* ---- bias, softmax, cross-entropy --------------------------------------------------- */

Test(nn, channel_bias_softmax_and_cross_entropy)
{
    int rows = 37, classes = 5;
    float *logits = random_floats((size_t)rows * classes, 9, -40, 40);
    float *labels = random_floats((size_t)rows, 10, 0, (float)classes);
    for (int r = 0; r < rows; r++) labels[r] = floorf(labels[r]);
    float *loss = malloc((size_t)rows * 4), *grad = malloc((size_t)rows * classes * 4);
    float *probs = malloc((size_t)rows * classes * 4);
    float scale = 1.0f / (float)rows;
    for (int r = 0; r < rows; r++) {
        double max = -INFINITY, sum = 0;
        for (int k = 0; k < classes; k++) max = fmax(max, logits[r * classes + k]);
        for (int k = 0; k < classes; k++) sum += exp(logits[r * classes + k] - max);
        loss[r] = (float)(log(sum) + max - logits[r * classes + (int)labels[r]]);
        for (int k = 0; k < classes; k++) {
            double p = exp(logits[r * classes + k] - max) / sum;
            probs[r * classes + k] = (float)p;
            grad[r * classes + k] = (float)(scale * (p - (k == (int)labels[r])));
        }
    }
    int64_t ls[2] = {rows, classes}, ns[1] = {rows};
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        mtfl_tensor *tl = tensor_from(dev, 2, ls, logits), *ty = tensor_from(dev, 1, ns, labels);
        mtfl_tensor *tloss = CHECK_PTR(mtfl_tensor_new(dev, 1, ns)), *tg = CHECK_PTR(mtfl_tensor_new(dev, 2, ls));
        mtfl_tensor *tp = CHECK_PTR(mtfl_tensor_new(dev, 2, ls));
        CHECK_OK(mtfl_softmax_cross_entropy(tloss, tg, tl, ty, 0, scale));
        CHECK_OK(mtfl_softmax(tp, tl));
        expect_values(tloss, loss, (size_t)rows, TOL, "cross-entropy loss");
        float *got = values_of(tg);
        expect_close(got, grad, (size_t)rows * classes, TOL, scale, "cross-entropy gradient", dev->id);
        free(got);
        got = values_of(tp);
        expect_close(got, probs, (size_t)rows * classes, TOL, 1.0, "softmax", dev->id);
        free(got);

        /* a label that is not a class number is never read by the op: it makes that
         * sample's loss and gradient NaN, and mtfl_check_labels names it */
        float bad_labels[3] = {1, 5, 2.5f};
        int64_t three = 3, three_rows[2] = {3, classes};
        mtfl_tensor *bl = tensor_from(dev, 1, &three, bad_labels);
        mtfl_tensor *row = CHECK_PTR(mtfl_tensor_narrow(tl, 0, 0, 3));
        mtfl_tensor *bloss = CHECK_PTR(mtfl_tensor_new(dev, 1, &three));
        mtfl_tensor *bgrad = CHECK_PTR(mtfl_tensor_new(dev, 2, three_rows));
        CHECK_OK(mtfl_softmax_cross_entropy(bloss, bgrad, row, bl, 0, 1.0f));
        float *bl_loss = values_of(bloss), *bl_grad = values_of(bgrad);
        cr_expect(isfinite(bl_loss[0]) && isnan(bl_loss[1]) && isnan(bl_loss[2]),
                  "%s: losses %g %g %g", dev->id, bl_loss[0], bl_loss[1], bl_loss[2]);
        for (int k = 0; k < classes; k++)
            cr_expect(isfinite(bl_grad[k]) && isnan(bl_grad[classes + k]) && isnan(bl_grad[2 * classes + k]),
                      "%s: gradient column %d", dev->id, k);
        free(bl_loss);
        free(bl_grad);
        cr_expect_eq(mtfl_check_labels(bl, classes, 0), MTFL_ERR_ARG);
        cr_expect(strstr(mtfl_last_error(), "label 5 of sample 1 is not a class number 0..4") != NULL,
                  "%s", mtfl_last_error());
        /* 1-based, as from Lua: the same labels shifted by one are classes 1..5 */
        cr_expect_eq(mtfl_check_labels(bl, 6, 1), MTFL_ERR_ARG);
        cr_expect(strstr(mtfl_last_error(), "label 2.5 of sample 3 is not a class number 1..6") != NULL,
                  "%s", mtfl_last_error());
        mtfl_tensor_release(bgrad);

        /* bias over dimension 1 of [2, 3, 4] */
        int64_t xs[3] = {2, 3, 4}, bs[1] = {3};
        float b[3] = {1, 10, 100}, want[24];
        for (int i = 0; i < 24; i++) want[i] = b[(i / 4) % 3];
        mtfl_tensor *x = CHECK_PTR(mtfl_tensor_new(dev, 3, xs)), *tb = tensor_from(dev, 1, bs, b);
        CHECK_OK(mtfl_fill(x, 0));
        CHECK_OK(mtfl_add_channel_bias(x, tb, 1));
        expect_values(x, want, 24, 0, "channel bias");
        mtfl_tensor *all[] = {tl, ty, tloss, tg, tp, bl, row, bloss, x, tb};
        for (size_t i = 0; i < 10; i++) mtfl_tensor_release(all[i]);
    }
    free(logits), free(labels), free(loss), free(grad), free(probs);
}

/* ---- optimizers --------------------------------------------------------------------- */

Test(nn, adam_and_sgd_follow_their_formulas)
{
    size_t n = 10007;
    float *p0 = random_floats(n, 11, -1, 1), *g = random_floats(n, 12, -1, 1);
    mtfl_adam_config c = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, 0.0f};
    /* three Adam steps in double, as Kingma & Ba write them */
    double *p = malloc(n * sizeof *p), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) p[i] = p0[i];
    for (int t = 1; t <= 3; t++)
        for (size_t i = 0; i < n; i++) {
            double gi = g[i] + c.weight_decay * p[i];
            m[i] = c.beta1 * m[i] + (1 - c.beta1) * gi;
            v[i] = c.beta2 * v[i] + (1 - c.beta2) * gi * gi;
            double mh = m[i] / (1 - pow(c.beta1, t)), vh = v[i] / (1 - pow(c.beta2, t));
            p[i] -= c.lr * mh / (sqrt(vh) + c.eps);
        }
    float *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = (float)p[i];
    /* SGD with momentum: two steps */
    float *want_sgd = malloc(n * sizeof *want_sgd);
    for (size_t i = 0; i < n; i++) {
        double q = p0[i], vel = 0;
        for (int t = 0; t < 2; t++) {
            vel = 0.9 * vel + (g[i] + 0.001 * q);
            q -= 0.1 * vel;
        }
        want_sgd[i] = (float)q;
    }
    /* AdamW in double (Loshchilov & Hutter): p -= lr * wd * p, then the Adam step */
    float *want_w = malloc(n * sizeof *want_w);
    for (size_t i = 0; i < n; i++) {
        double q = p0[i], mi = 0, vi = 0;
        for (int t = 1; t <= 3; t++) {
            mi = 0.9 * mi + 0.1 * g[i];
            vi = 0.999 * vi + 0.001 * (double)g[i] * g[i];
            double mh = mi / (1 - pow(0.9, t)), vh = vi / (1 - pow(0.999, t));
            q = q - 1e-2 * 0.05 * q - 1e-2 * mh / (sqrt(vh) + 1e-8);
        }
        want_w[i] = (float)q;
    }
    int64_t shape[1] = {(int64_t)n};
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        mtfl_tensor *tp = tensor_from(dev, 1, shape, p0), *tg = tensor_from(dev, 1, shape, g);
        mtfl_tensor *tm = CHECK_PTR(mtfl_tensor_new(dev, 1, shape)), *tv = CHECK_PTR(mtfl_tensor_new(dev, 1, shape));
        CHECK_OK(mtfl_fill(tm, 0));
        CHECK_OK(mtfl_fill(tv, 0));
        for (int t = 1; t <= 3; t++) CHECK_OK(mtfl_adam_step(tp, tg, tm, tv, &c, t));
        /* parameters are O(1) and updates can cancel them to near 0: floor 1 */
        float *got = values_of(tp);
        expect_close(got, want, n, TOL, 1.0, "adam", dev->id);
        free(got);
        CHECK_OK(mtfl_tensor_write(tp, p0, n));
        CHECK_OK(mtfl_fill(tm, 0));
        for (int t = 0; t < 2; t++) CHECK_OK(mtfl_sgd_step(tp, tg, tm, 0.1f, 0.9f, 0.001f));
        got = values_of(tp);
        expect_close(got, want_sgd, n, TOL, 1.0, "sgd with momentum", dev->id);
        free(got);
        /* AdamW: three steps, the decay beside the moments (want_w) */
        mtfl_adam_config cw = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.0f, 0.05f};
        CHECK_OK(mtfl_tensor_write(tp, p0, n));
        CHECK_OK(mtfl_fill(tm, 0));
        CHECK_OK(mtfl_fill(tv, 0));
        for (int t = 1; t <= 3; t++) CHECK_OK(mtfl_adam_step(tp, tg, tm, tv, &cw, t));
        got = values_of(tp);
        expect_close(got, want_w, n, TOL, 1.0, "adamw", dev->id);
        free(got);
        cr_expect_eq(mtfl_adam_step(tp, tg, tm, tv, &c, 0), MTFL_ERR_ARG, "step 0 is an error");
        cw.decoupled_weight_decay = -1.0f;
        cr_expect_eq(mtfl_adam_step(tp, tg, tm, tv, &cw, 1), MTFL_ERR_ARG, "a negative decay is an error");
        mtfl_tensor_release(tp), mtfl_tensor_release(tg), mtfl_tensor_release(tm), mtfl_tensor_release(tv);
    }
    free(p0), free(g), free(p), free(m), free(v), free(want), free(want_sgd), free(want_w);
}

/* ---- landmark losses ---------------------------------------------------------------- */

/* f(d) and f'(d) in double, straight from the definitions (mtfl.h) */
static double landmark_penalty(mtfl_landmark_kind kind, double d, double *slope)
{
    double ad = fabs(d), sign = d > 0 ? 1 : (d < 0 ? -1 : 0);
    double w = 10, eps = 2, beta = 1.5, c = w - w * log(1 + w / eps);
    switch (kind) {
    case MTFL_LANDMARK_L2: *slope = d; return d * d / 2;
    case MTFL_LANDMARK_L1: *slope = sign; return ad;
    case MTFL_LANDMARK_SMOOTH_L1:
        *slope = ad < beta ? d / beta : sign;
        return ad < beta ? d * d / (2 * beta) : ad - beta / 2;
    case MTFL_LANDMARK_WING:
        *slope = ad < w ? sign * w / (eps + ad) : sign;
        return ad < w ? w * log(1 + ad / eps) : ad - c;
    }
    return NAN;
}

Test(nn, landmark_losses_follow_their_formulas)
{
    size_t rows = 301, cols = 10, n = rows * cols;
    /* differences from -30 to 30: both pieces of wing (w 10) and of smooth L1 (beta 1.5) */
    float *pred = random_floats(n, 21, -30, 30), *target = random_floats(n, 22, -1, 1);
    float *weight = random_floats(rows, 23, 0.01f, 0.1f);
    float *want_loss = malloc(rows * sizeof *want_loss), *want_grad = malloc(n * sizeof *want_grad);
    int64_t shape[2] = {(int64_t)rows, (int64_t)cols}, wshape[1] = {(int64_t)rows};
    for (int kind = MTFL_LANDMARK_L2; kind <= MTFL_LANDMARK_WING; kind++) {
        mtfl_landmark_loss_config c = {(mtfl_landmark_kind)kind, 10.0f, 2.0f, 1.5f};
        for (size_t r = 0; r < rows; r++) {
            double sum = 0;
            for (size_t k = 0; k < cols; k++) {
                double slope;
                size_t i = r * cols + k;
                sum += landmark_penalty(c.kind, (double)(pred[i] - target[i]), &slope);
                want_grad[i] = (float)(0.5 * weight[r] * slope);
            }
            want_loss[r] = (float)(weight[r] * sum);
        }
        for (int d = 0; d < mtfl_device_count(); d++) {
            mtfl_device *dev = mtfl_device_at(d);
            mtfl_tensor *tp = tensor_from(dev, 2, shape, pred), *tt = tensor_from(dev, 2, shape, target);
            mtfl_tensor *tw = tensor_from(dev, 1, wshape, weight);
            mtfl_tensor *loss = CHECK_PTR(mtfl_tensor_new(dev, 1, wshape));
            mtfl_tensor *grad = CHECK_PTR(mtfl_tensor_new(dev, 2, shape));
            CHECK_OK(mtfl_landmark_loss(loss, grad, tp, tt, tw, &c, 0.5f));
            float *got = values_of(loss);
            expect_close(got, want_loss, rows, TOL, 1.0, "landmark loss", dev->id);
            free(got);
            got = values_of(grad);
            expect_close(got, want_grad, n, TOL, 1e-3, "landmark loss gradient", dev->id);
            free(got);
            /* wrong shapes are errors naming the op */
            cr_expect_eq(mtfl_landmark_loss(loss, grad, tp, tw, NULL, &c, 1.0f), MTFL_ERR_ARG);
            cr_expect(strstr(mtfl_last_error(), "landmark_loss") != NULL, "%s", mtfl_last_error());
            cr_expect_eq(mtfl_landmark_loss(loss, grad, tp, tt, tp, &c, 1.0f), MTFL_ERR_ARG);
            mtfl_landmark_loss_config bad = {MTFL_LANDMARK_WING, 10.0f, 0.0f, 1.0f};
            cr_expect_eq(mtfl_landmark_loss(loss, grad, tp, tt, NULL, &bad, 1.0f), MTFL_ERR_ARG);
            mtfl_tensor *all[] = {tp, tt, tw, loss, grad};
            for (size_t i = 0; i < 5; i++) mtfl_tensor_release(all[i]);
        }
    }
    free(pred), free(target), free(weight), free(want_loss), free(want_grad);
}

/* ---- activation gradients and broadcasting ------------------------------------------- */

Test(nn, activation_gradients_and_broadcasting)
{
    size_t n = 3001;
    float *dy = random_floats(n, 13, -1, 1), *y = random_floats(n, 14, -1, 1);
    float *want = malloc(n * sizeof *want);
    int64_t shape[1] = {(int64_t)n};
    mtfl_binary_op ops[3] = {MTFL_BINARY_RELU_GRAD, MTFL_BINARY_TANH_GRAD, MTFL_BINARY_SIGMOID_GRAD};
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < n; i++) {
            double u = dy[i], v = y[i];
            want[i] = (float)(k == 0 ? (v > 0 ? u : 0) : k == 1 ? u * (1 - v * v) : u * v * (1 - v));
        }
        for (int d = 0; d < mtfl_device_count(); d++) {
            mtfl_device *dev = mtfl_device_at(d);
            mtfl_tensor *a = tensor_from(dev, 1, shape, dy), *b = tensor_from(dev, 1, shape, y);
            mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, 1, shape));
            CHECK_OK(mtfl_binary(ops[k], out, a, b));
            /* 1 - y^2 cancels near |y| = 1: errors relative to the O(1) inputs */
            float *got = values_of(out);
            expect_close(got, want, n, TOL, 1.0, mtfl_binary_name(ops[k]), dev->id);
            free(got);
            mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(out);
        }
    }
    for (int d = 0; d < mtfl_device_count(); d++) {
        mtfl_device *dev = mtfl_device_at(d);
        int64_t col[2] = {3, 1}, row[1] = {4}, full[2] = {3, 4};
        float cv[3] = {1, 2, 3}, rv[4] = {10, 20, 30, 40}, bw[12];
        for (int i = 0; i < 12; i++) bw[i] = cv[i / 4] * rv[i % 4];
        mtfl_tensor *a = tensor_from(dev, 2, col, cv), *b = tensor_from(dev, 1, row, rv);
        mtfl_tensor *out = CHECK_PTR(mtfl_tensor_new(dev, 2, full));
        CHECK_OK(mtfl_binary(MTFL_BINARY_MUL, out, a, b));
        expect_values(out, bw, 12, 0, "[3x1] * [4] broadcast");
        int64_t bad[1] = {3};
        mtfl_tensor *c = CHECK_PTR(mtfl_tensor_new(dev, 1, bad));
        cr_expect_eq(mtfl_binary(MTFL_BINARY_ADD, out, b, c), MTFL_ERR_ARG);
        cr_expect(strstr(mtfl_last_error(), "add: shapes [4] and [3] differ") != NULL, "%s", mtfl_last_error());
        mtfl_tensor_release(a), mtfl_tensor_release(b), mtfl_tensor_release(c), mtfl_tensor_release(out);
    }
    free(dy), free(y), free(want);
}

/* ---- PReLU ----------------------------------------------------------------------------- */

/* x [N, C, H, W] with one slope per channel, or a shared one: the output, the input
 * gradient and the accumulated slope gradient against a double-precision reference. */
static void check_prelu(mtfl_device *dev, const int64_t *xs, int64_t slopes)
{
    size_t n = (size_t)(xs[0] * xs[1] * xs[2] * xs[3]), inner = (size_t)(xs[2] * xs[3]);
    float *x = random_floats(n, 21, -2, 2), *dy = random_floats(n, 22, -1, 1);
    float *a = random_floats((size_t)slopes, 23, 0.05f, 0.5f), start[64];
    float *y_want = malloc(n * 4), *dx_want = malloc(n * 4), ds_want[64];
    double ds[64] = {0};
    for (int64_t c = 0; c < slopes; c++) start[c] = 0.5f;   /* the gradient is added to this */
    for (size_t i = 0; i < n; i++) {
        size_t c = slopes == 1 ? 0 : (i / inner) % (size_t)xs[1];
        y_want[i] = x[i] > 0 ? x[i] : (float)((double)a[c] * x[i]);
        dx_want[i] = x[i] > 0 ? dy[i] : (float)((double)a[c] * dy[i]);
        if (x[i] <= 0) ds[c] += (double)dy[i] * x[i];
    }
    for (int64_t c = 0; c < slopes; c++) ds_want[c] = (float)(0.5 + ds[c]);
    mtfl_tensor *tx = tensor_from(dev, 4, xs, x), *tdy = tensor_from(dev, 4, xs, dy);
    mtfl_tensor *ta = tensor_from(dev, 1, &slopes, a), *tds = tensor_from(dev, 1, &slopes, start);
    mtfl_tensor *ty = CHECK_PTR(mtfl_tensor_new(dev, 4, xs)), *tdx = CHECK_PTR(mtfl_tensor_new(dev, 4, xs));
    CHECK_OK(mtfl_prelu_forward(ty, tx, ta));
    CHECK_OK(mtfl_prelu_backward(tdx, tds, tdy, tx, ta));
    float *got = values_of(ty);
    expect_close(got, y_want, n, TOL, 1.0, "prelu", dev->id);
    free(got);
    got = values_of(tdx);
    expect_close(got, dx_want, n, TOL, 1.0, "prelu input gradient", dev->id);
    free(got);
    /* a sum of n / slopes terms of size about 1 */
    got = values_of(tds);
    expect_close(got, ds_want, (size_t)slopes, TOL, (double)n / (double)slopes, "prelu slope gradient", dev->id);
    free(got);
    /* dx may be skipped: the slope gradient is added again */
    CHECK_OK(mtfl_prelu_backward(NULL, tds, tdy, tx, ta));
    got = values_of(tds);
    for (int64_t c = 0; c < slopes; c++) ds_want[c] = (float)(0.5 + 2 * ds[c]);
    expect_close(got, ds_want, (size_t)slopes, TOL, (double)n / (double)slopes, "prelu slope gradient, twice", dev->id);
    free(got);
    mtfl_tensor *all[] = {tx, tdy, ta, tds, ty, tdx};
    for (size_t i = 0; i < 6; i++) mtfl_tensor_release(all[i]);
    free(x), free(dy), free(a), free(y_want), free(dx_want);
}

Test(nn, prelu_per_channel_and_shared)
{
    int64_t xs[4] = {5, 7, 9, 11};
    for (int d = 0; d < mtfl_device_count(); d++) {
        check_prelu(mtfl_device_at(d), xs, 7);
        check_prelu(mtfl_device_at(d), xs, 1);
    }
    /* a slope that fits neither rule, and a gradient of the wrong shape */
    mtfl_device *cpu = mtfl_device_cpu();
    int64_t three = 3;
    mtfl_tensor *x = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs)), *y = CHECK_PTR(mtfl_tensor_new(cpu, 4, xs));
    mtfl_tensor *bad = CHECK_PTR(mtfl_tensor_new(cpu, 1, &three));
    cr_expect_eq(mtfl_prelu_forward(y, x, bad), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "prelu: slope [3] matches neither dimension 2 of input [5x7x9x11]") != NULL,
              "%s", mtfl_last_error());
    int64_t seven = 7;
    mtfl_tensor *a = CHECK_PTR(mtfl_tensor_new(cpu, 1, &seven));
    CHECK_OK(mtfl_fill(a, 0.25f));
    cr_expect_eq(mtfl_prelu_backward(NULL, bad, y, x, a), MTFL_ERR_ARG);
    cr_expect(strstr(mtfl_last_error(), "prelu_backward: slope gradient is [3], should be [7]") != NULL,
              "%s", mtfl_last_error());
    mtfl_tensor_release(x), mtfl_tensor_release(y), mtfl_tensor_release(bad), mtfl_tensor_release(a);
}
