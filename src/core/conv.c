/*
 * conv.c - 2-D convolution as im2col + GEMM over groups of samples.
 *
 * The whole batch would be one im2col and one GEMM, but its column buffer grows with
 * the batch (the seed's first layer at batch 64: 75 x 1.44M floats, 432 MB), and a
 * 2 GiB GPU cannot spare that. So samples are taken in groups as large as the
 * workspace limit allows; each group is still one im2col and one GEMM, never a loop
 * over single samples. The columns are laid out [C*KH*KW, group*OH*OW], so the GEMM
 * result is [F, group, OH*OW] and a strided copy turns it into [group, F, OH, OW].
 */
#include "tensor_internal.h"

/* 0: each device's own, an eighth of its budget between 32 MiB and 1 GiB: 256 MiB on
 * a 2 GiB GPU, 1 GiB (the whole batch of the seed's first layer in two groups) where
 * memory is plentiful. */
static size_t workspace_setting;

void mtfl_set_workspace_limit(size_t bytes) { workspace_setting = bytes; }

size_t mtfl_workspace_limit(const mtfl_device *dev)
{
    if (workspace_setting) return workspace_setting;
    size_t eighth = (dev->memory_limit ? dev->memory_limit : dev->memory) / 8;
    size_t low = (size_t)32 << 20, high = (size_t)1 << 30;
    return eighth < low ? low : eighth > high ? high : eighth;
}

int64_t mtfl_window_output(int64_t in, int kernel, int stride, int pad, bool ceil_mode)
{
    if (kernel <= 0 || stride <= 0 || pad < 0 || in + 2 * pad < kernel) return -1;
    int64_t span = in + 2 * pad - kernel;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    /* a window starting entirely in the right padding sees no input: drop it */
    if (ceil_mode && (out - 1) * stride >= in + pad) out--;
    return out;
}

typedef mtfl_conv_dims conv_dims;

/* The one shape rule of a convolution; op names the caller in the message. */
static mtfl_status conv_shape(const char *op, int x_ndim, const int64_t *x_shape, int w_ndim,
                              const int64_t *w_shape, const mtfl_window *g, int64_t *out)
{
    char sx[128], sw[128];
    if (x_ndim != 4 || w_ndim != 4 || x_shape[1] != w_shape[1])
        return mtfl_fail(MTFL_ERR_ARG, "%s: input %s and weight %s do not fit (want [N,C,H,W] "
                         "and [F,C,KH,KW] with the same C)", op, mtfl_dims_str(x_ndim, x_shape, sx, sizeof sx),
                         mtfl_dims_str(w_ndim, w_shape, sw, sizeof sw));
    if (w_shape[2] != g->kernel_h || w_shape[3] != g->kernel_w)
        return mtfl_fail(MTFL_ERR_ARG, "%s: weight %s does not match a %dx%d kernel", op,
                         mtfl_dims_str(w_ndim, w_shape, sw, sizeof sw), g->kernel_h, g->kernel_w);
    out[0] = x_shape[0];
    out[1] = w_shape[0];
    out[2] = mtfl_window_output(x_shape[2], g->kernel_h, g->stride_h, g->pad_h, false);
    out[3] = mtfl_window_output(x_shape[3], g->kernel_w, g->stride_w, g->pad_w, false);
    if (out[2] <= 0 || out[3] <= 0)
        return mtfl_fail(MTFL_ERR_ARG, "%s: a %dx%d kernel (stride %dx%d, padding %dx%d) does not "
                         "fit input %s", op, g->kernel_h, g->kernel_w, g->stride_h, g->stride_w,
                         g->pad_h, g->pad_w, mtfl_dims_str(x_ndim, x_shape, sx, sizeof sx));
    return MTFL_OK;
}

mtfl_status mtfl_conv2d_shape(int x_ndim, const int64_t *x_shape, int w_ndim,
                              const int64_t *w_shape, const mtfl_window *g, int64_t *out)
{
    return conv_shape("conv2d", x_ndim, x_shape, w_ndim, w_shape, g, out);
}

/* The shape rule, then the devices; op names the caller in the message. */
static mtfl_status check_conv(const char *op, const mtfl_tensor *x, const mtfl_tensor *w,
                              const mtfl_window *g, conv_dims *d)
{
    int64_t out[4];
    mtfl_status st = conv_shape(op, x->ndim, x->shape, w->ndim, w->shape, g, out);
    if (st) return st;
    if (mtfl_tensor_device(x) != mtfl_tensor_device(w))
        return mtfl_fail(MTFL_ERR_DEVICE, "%s: input on %s, weight on %s", op,
                         mtfl_tensor_device(x)->id, mtfl_tensor_device(w)->id);
    *d = (conv_dims){x->shape[0], x->shape[1], x->shape[2], x->shape[3], w->shape[0], out[2], out[3]};
    return MTFL_OK;
}

/* Samples per group: one group's column buffer and GEMM result must fit the
 * workspace limit. At least one sample, whatever the limit. */
static int64_t group_size(const mtfl_device *dev, const conv_dims *d, const mtfl_window *g)
{
    size_t rows = (size_t)(d->c * g->kernel_h * g->kernel_w + d->f);
    size_t per_sample = rows * (size_t)(d->out_h * d->out_w) * sizeof(float);
    int64_t fit = (int64_t)(mtfl_workspace_limit(dev) / per_sample);
    return fit < 1 ? 1 : (fit > d->n ? d->n : fit);
}

/* One growing buffer per device, reused by every convolution: allocating and
 * first-touching hundreds of MB per call would cost more than the GEMM. It is charged
 * to the device's memory budget like any tensor. */
static mtfl_tensor *workspaces[MTFL_MAX_DEVICES];

void mtfl_release_workspaces(void)
{
    for (int i = 0; i < MTFL_MAX_DEVICES; i++) {
        mtfl_tensor_release(workspaces[i]);
        workspaces[i] = NULL;
    }
}

static mtfl_status workspace(mtfl_device *dev, size_t numel, mtfl_storage **out)
{
    int slot = mtfl_device_slot(dev);
    mtfl_tensor *w = workspaces[slot];
    if (!w || mtfl_numel(w) < numel) {
        mtfl_tensor_release(w);
        workspaces[slot] = NULL;
        int64_t n = (int64_t)numel;
        w = mtfl_tensor_new(dev, 1, &n);
        if (!w) return mtfl_last_status();
        workspaces[slot] = w;
    }
    *out = w->storage;
    return MTFL_OK;
}

/* A view that lives on the stack: for the workspace and for regroupings of tensors the
 * caller holds, so no reference counting is needed. */
static mtfl_tensor stack_view(mtfl_storage *s, size_t offset, int ndim, const int64_t *shape,
                              const int64_t *stride)
{
    mtfl_tensor t = {.storage = s, .offset = offset, .ndim = ndim};
    for (int i = 0; i < ndim; i++) {
        t.shape[i] = shape[i];
        t.stride[i] = stride[i];
    }
    return t;
}

static mtfl_status im2col(mtfl_tensor *cols, const mtfl_tensor *x, int64_t n0, int64_t nb,
                          const conv_dims *d, const mtfl_window *g)
{
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_buf xb = {x->storage->handle, x->offset + (size_t)(n0 * d->c * d->h * d->w)};
    return dev->backend->im2col(dev, mtfl_tensor_buf(cols), xb, (size_t)nb, (size_t)d->c,
                                (size_t)d->h, (size_t)d->w, g, (size_t)d->out_h, (size_t)d->out_w);
}

mtfl_status mtfl_conv2d_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_tensor *w,
                                const mtfl_tensor *bias, const mtfl_window *g)
{
    conv_dims d;
    mtfl_status st = check_conv("conv2d", x, w, g, &d);
    mtfl_device *dev = mtfl_tensor_device(x);
    int64_t yshape[4] = {d.n, d.f, d.out_h, d.out_w};
    if (st || (st = mtfl_expect_tensor("conv2d", "output", y, 4, yshape, dev, true))) return st;
    if (bias && (st = mtfl_expect_tensor("conv2d", "bias", bias, 1, &d.f, dev, false))) return st;
    MTFL_REQUIRE_OP(dev, im2col, "conv2d");
    if (d.n == 0) return MTFL_OK;

    mtfl_tensor *xc = mtfl_tensor_contiguous(x), *wc = xc ? mtfl_tensor_contiguous(w) : NULL;
    if (!wc) {
        mtfl_tensor_release(xc);
        return mtfl_last_status();
    }
    if (dev->backend->conv2d_forward) {
        mtfl_tensor *bc = bias ? mtfl_tensor_contiguous(bias) : NULL;
        st = bias && !bc ? mtfl_last_status()
                         : dev->backend->conv2d_forward(dev, mtfl_tensor_buf(y), mtfl_tensor_buf(xc),
                                                        mtfl_tensor_buf(wc),
                                                        bc ? mtfl_tensor_buf(bc) : (mtfl_buf){NULL, 0},
                                                        &d, g);
        mtfl_tensor_release(xc);
        mtfl_tensor_release(wc);
        mtfl_tensor_release(bc);
        return st;
    }
    int64_t ckk = d.c * g->kernel_h * g->kernel_w, p = d.out_h * d.out_w;
    int64_t nb = group_size(dev, &d, g);
    mtfl_storage *ws = NULL;
    st = workspace(dev, (size_t)((ckk + d.f) * nb * p), &ws);
    int64_t w2[2] = {d.f, ckk}, w2s[2] = {ckk, 1};
    mtfl_tensor w2d = stack_view(wc->storage, wc->offset, 2, w2, w2s);
    for (int64_t n0 = 0; st == MTFL_OK && n0 < d.n; n0 += nb) {
        int64_t cnt = d.n - n0 < nb ? d.n - n0 : nb;
        int64_t cs[2] = {ckk, cnt * p}, css[2] = {cnt * p, 1};
        mtfl_tensor cols = stack_view(ws, 0, 2, cs, css);
        if ((st = im2col(&cols, xc, n0, cnt, &d, g))) break;
        int64_t os[2] = {d.f, cnt * p}, oss[2] = {cnt * p, 1};
        if (cnt == 1) {
            /* one sample: [F, OH*OW] is already the layout of y[n] */
            mtfl_tensor out = stack_view(y->storage, y->offset + (size_t)(n0 * d.f * p), 2, os, oss);
            st = mtfl_matmul(&out, &w2d, &cols, false, false, 1.0f, 0.0f);
        } else {
            mtfl_tensor out = stack_view(ws, (size_t)(ckk * cnt * p), 2, os, oss);
            if ((st = mtfl_matmul(&out, &w2d, &cols, false, false, 1.0f, 0.0f))) break;
            /* [F, group, P] -> y's [group, F, P] */
            int64_t sh[3] = {cnt, d.f, p}, from[3] = {p, cnt * p, 1}, to[3] = {d.f * p, p, 1};
            mtfl_tensor src = stack_view(ws, (size_t)(ckk * cnt * p), 3, sh, from);
            mtfl_tensor dst = stack_view(y->storage, y->offset + (size_t)(n0 * d.f * p), 3, sh, to);
            st = mtfl_copy(&dst, &src);
        }
    }
    if (st == MTFL_OK && bias) st = mtfl_add_channel_bias(y, bias, 1);
    mtfl_tensor_release(xc);
    mtfl_tensor_release(wc);
    return st;
}

/* dbias += sum of dy over samples and positions: two reductions, [N,F,P] -> [N,F] -> [F]. */
static mtfl_status bias_gradient(mtfl_tensor *dbias, const mtfl_tensor *dy, const conv_dims *d)
{
    int64_t nf[2] = {d->n, d->f};
    int64_t s3[3] = {d->n, d->f, d->out_h * d->out_w};
    mtfl_tensor *dy3 = mtfl_tensor_reshape(dy, 3, s3);
    mtfl_tensor *per_sample = dy3 ? mtfl_tensor_new(mtfl_tensor_device(dy), 2, nf) : NULL;
    mtfl_tensor *sum = per_sample ? mtfl_tensor_new(mtfl_tensor_device(dy), 1, &d->f) : NULL;
    mtfl_status st = sum ? MTFL_OK : mtfl_last_status();
    if (st == MTFL_OK) st = mtfl_reduce(MTFL_REDUCE_SUM, per_sample, dy3, 2);
    if (st == MTFL_OK) st = mtfl_reduce(MTFL_REDUCE_SUM, sum, per_sample, 0);
    if (st == MTFL_OK) st = mtfl_axpy(dbias, 1.0f, sum);
    mtfl_tensor_release(dy3);
    mtfl_tensor_release(per_sample);
    mtfl_tensor_release(sum);
    return st;
}

mtfl_status mtfl_conv2d_backward(mtfl_tensor *dx, mtfl_tensor *dw, mtfl_tensor *dbias,
                                 const mtfl_tensor *dy, const mtfl_tensor *x,
                                 const mtfl_tensor *w, const mtfl_window *g)
{
    conv_dims d;
    mtfl_status st = check_conv("conv2d_backward", x, w, g, &d);
    if (st) return st;
    mtfl_device *dev = mtfl_tensor_device(x);
    int64_t yshape[4] = {d.n, d.f, d.out_h, d.out_w};
    const char *op = "conv2d_backward";
    if ((st = mtfl_expect_tensor(op, "gradOutput", dy, 4, yshape, dev, false)) ||
        (dx && (st = mtfl_expect_tensor(op, "gradInput", dx, 4, x->shape, dev, true))) ||
        (dw && (st = mtfl_expect_tensor(op, "weight gradient", dw, 4, w->shape, dev, true))) ||
        (dbias && (st = mtfl_expect_tensor(op, "bias gradient", dbias, 1, &d.f, dev, false))))
        return st;
    MTFL_REQUIRE_OP(dev, im2col, "conv2d_backward");
    MTFL_REQUIRE_OP(dev, col2im, "conv2d_backward");
    if (d.n == 0) return MTFL_OK;

    mtfl_tensor *xc = mtfl_tensor_contiguous(x), *wc = xc ? mtfl_tensor_contiguous(w) : NULL;
    mtfl_tensor *dyc = wc ? mtfl_tensor_contiguous(dy) : NULL;
    if (!dyc) {
        mtfl_tensor_release(xc);
        mtfl_tensor_release(wc);
        return mtfl_last_status();
    }
    if (dev->backend->conv2d_backward) {
        /* the backend's scratch first: nothing is accumulated into dbias before it exists */
        mtfl_buf dxb = dx ? mtfl_tensor_buf(dx) : (mtfl_buf){NULL, 0};
        mtfl_buf dwb = dw ? mtfl_tensor_buf(dw) : (mtfl_buf){NULL, 0};
        if (dx || dw)
            st = dev->backend->conv2d_backward(dev, dxb, dwb, mtfl_tensor_buf(dyc), mtfl_tensor_buf(xc),
                                               mtfl_tensor_buf(wc), &d, g);
        if (st == MTFL_OK && dbias) st = bias_gradient(dbias, dyc, &d);
        mtfl_tensor_release(xc);
        mtfl_tensor_release(wc);
        mtfl_tensor_release(dyc);
        return st;
    }
    /* the workspace first: nothing is accumulated into dw or dbias before every buffer
     * this op needs exists */
    int64_t ckk = d.c * g->kernel_h * g->kernel_w, p = d.out_h * d.out_w;
    int64_t nb = group_size(dev, &d, g);
    mtfl_storage *ws = NULL;
    if (dx || dw) st = workspace(dev, (size_t)((ckk + d.f) * nb * p), &ws);
    if (st == MTFL_OK && dbias) st = bias_gradient(dbias, dyc, &d);
    int64_t w2[2] = {d.f, ckk}, w2s[2] = {ckk, 1};
    mtfl_tensor w2d = stack_view(wc->storage, wc->offset, 2, w2, w2s);
    for (int64_t n0 = 0; st == MTFL_OK && (dx || dw) && n0 < d.n; n0 += nb) {
        int64_t cnt = d.n - n0 < nb ? d.n - n0 : nb;
        int64_t cs[2] = {ckk, cnt * p}, css[2] = {cnt * p, 1};
        int64_t os[2] = {d.f, cnt * p}, oss[2] = {cnt * p, 1};
        mtfl_tensor cols = stack_view(ws, 0, 2, cs, css);
        size_t dy_at = dyc->offset + (size_t)(n0 * d.f * p);
        /* dy of the group as [F, group*P]: y's layout is [group, F, P] */
        mtfl_tensor dyt = stack_view(dyc->storage, dy_at, 2, os, oss);
        if (cnt > 1) {
            int64_t sh[3] = {cnt, d.f, p}, from[3] = {d.f * p, p, 1}, to[3] = {p, cnt * p, 1};
            mtfl_tensor src = stack_view(dyc->storage, dy_at, 3, sh, from);
            mtfl_tensor dst = stack_view(ws, (size_t)(ckk * cnt * p), 3, sh, to);
            if ((st = mtfl_copy(&dst, &src))) break;
            dyt = stack_view(ws, (size_t)(ckk * cnt * p), 2, os, oss);
        }
        if (dw) {
            int64_t dws[2] = {d.f, ckk};
            mtfl_tensor dw2d = stack_view(dw->storage, dw->offset, 2, dws, w2s);
            if ((st = im2col(&cols, xc, n0, cnt, &d, g))) break;
            if ((st = mtfl_matmul(&dw2d, &dyt, &cols, false, true, 1.0f, 1.0f))) break;
        }
        if (dx) {
            /* the column buffer is free again: it takes W^T dy, then folds back */
            if ((st = mtfl_matmul(&cols, &w2d, &dyt, true, false, 1.0f, 0.0f))) break;
            mtfl_buf dxb = {dx->storage->handle, dx->offset + (size_t)(n0 * d.c * d.h * d.w)};
            st = dev->backend->col2im(dev, dxb, mtfl_tensor_buf(&cols), (size_t)cnt, (size_t)d.c,
                                      (size_t)d.h, (size_t)d.w, g, (size_t)d.out_h, (size_t)d.out_w);
        }
    }
    mtfl_tensor_release(xc);
    mtfl_tensor_release(wc);
    mtfl_tensor_release(dyc);
    return st;
}
