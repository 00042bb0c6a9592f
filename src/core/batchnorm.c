/*
 * batchnorm.c - batch normalisation of x [N, C, ...] per channel C: the statistics
 * are over the N samples and every position after C (N*H*W values for [N, C, H, W],
 * N for [N, F]). The core checks shapes and devices, makes x and dy contiguous and
 * hands the backend a [outer, channels, inner] view.
 */
#include "tensor_internal.h"

static mtfl_status check_x(const char *op, const mtfl_tensor *x, mtfl_norm_dims *d)
{
    char s[128];
    if (x->ndim < 2)
        return mtfl_fail(MTFL_ERR_ARG, "%s: input %s is not [N, C, ...]", op,
                         mtfl_shape_str(x, s, sizeof s));
    d->outer = (size_t)x->shape[0];
    d->channels = (size_t)x->shape[1];
    d->inner = 1;
    for (int i = 2; i < x->ndim; i++) d->inner *= (size_t)x->shape[i];
    return MTFL_OK;
}

/* A per-channel vector [C]; optional ones may be NULL. */
static mtfl_status check_vector(const char *op, const char *what, const mtfl_tensor *t,
                                const mtfl_tensor *x)
{
    if (!t) return MTFL_OK;
    return mtfl_expect_tensor(op, what, t, 1, &x->shape[1], mtfl_tensor_device(x), true);
}

static mtfl_buf buf_or_null(const mtfl_tensor *t)
{
    return t ? mtfl_tensor_buf(t) : (mtfl_buf){NULL, 0};
}

mtfl_status mtfl_batchnorm_forward(mtfl_tensor *y, mtfl_tensor *mean, mtfl_tensor *var,
                                   mtfl_tensor *running_mean, mtfl_tensor *running_var,
                                   const mtfl_tensor *x, const mtfl_tensor *weight,
                                   const mtfl_tensor *bias, bool training, float momentum,
                                   float eps)
{
    const char *op = "batchnorm";
    mtfl_norm_dims d;
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_status st;
    char s[128];
    if ((st = check_x(op, x, &d)) ||
        (st = mtfl_expect_tensor(op, "output", y, x->ndim, x->shape, dev, true)) ||
        (st = check_vector(op, "mean", mean, x)) || (st = check_vector(op, "variance", var, x)) ||
        (st = check_vector(op, "running mean", running_mean, x)) ||
        (st = check_vector(op, "running variance", running_var, x)) ||
        (st = check_vector(op, "weight", weight, x)) || (st = check_vector(op, "bias", bias, x)))
        return st;
    if (!mean || !var)
        return mtfl_fail(MTFL_ERR_ARG, "%s: needs mean and variance tensors", op);
    if (!running_mean != !running_var)
        return mtfl_fail(MTFL_ERR_ARG, "%s: running mean and variance go together", op);
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return mtfl_fail(MTFL_ERR_ARG, "%s: eps %g must be positive and momentum %g in [0, 1]",
                         op, eps, momentum);
    /* one value per channel has no variance (and the unbiased one divides by zero) */
    if (training && d.outer * d.inner <= 1)
        return mtfl_fail(MTFL_ERR_ARG, "%s: expected more than 1 value per channel when "
                         "training, got input %s", op, mtfl_shape_str(x, s, sizeof s));
    MTFL_REQUIRE_OP(dev, batchnorm_stats, op);
    MTFL_REQUIRE_OP(dev, batchnorm_apply, op);
    if (mtfl_numel(x) == 0) return MTFL_OK;
    d.eps = eps;
    d.momentum = momentum;
    mtfl_tensor *xc = mtfl_tensor_contiguous(x);
    if (!xc) return mtfl_last_status();
    st = MTFL_OK;
    if (training)
        st = dev->backend->batchnorm_stats(dev, mtfl_tensor_buf(mean), mtfl_tensor_buf(var),
                                           buf_or_null(running_mean), buf_or_null(running_var),
                                           mtfl_tensor_buf(xc), &d);
    if (st == MTFL_OK)
        st = dev->backend->batchnorm_apply(dev, mtfl_tensor_buf(y), mtfl_tensor_buf(xc),
                                           mtfl_tensor_buf(mean), mtfl_tensor_buf(var),
                                           buf_or_null(weight), buf_or_null(bias), &d);
    mtfl_tensor_release(xc);
    return st;
}

mtfl_status mtfl_batchnorm_backward(mtfl_tensor *dx, mtfl_tensor *dweight, mtfl_tensor *dbias,
                                    const mtfl_tensor *dy, const mtfl_tensor *x,
                                    const mtfl_tensor *mean, const mtfl_tensor *var,
                                    const mtfl_tensor *weight, bool training, float eps)
{
    const char *op = "batchnorm_backward";
    mtfl_norm_dims d;
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_status st;
    if ((st = check_x(op, x, &d)) ||
        (st = mtfl_expect_tensor(op, "gradOutput", dy, x->ndim, x->shape, dev, false)) ||
        (dx && (st = mtfl_expect_tensor(op, "gradInput", dx, x->ndim, x->shape, dev, true))) ||
        (st = check_vector(op, "mean", mean, x)) || (st = check_vector(op, "variance", var, x)) ||
        (st = check_vector(op, "weight", weight, x)) ||
        (st = check_vector(op, "weight gradient", dweight, x)) ||
        (st = check_vector(op, "bias gradient", dbias, x)))
        return st;
    if (!mean || !var)
        return mtfl_fail(MTFL_ERR_ARG, "%s: needs mean and variance tensors", op);
    if (!(eps > 0)) return mtfl_fail(MTFL_ERR_ARG, "%s: eps %g must be positive", op, eps);
    MTFL_REQUIRE_OP(dev, batchnorm_backward, op);
    if (mtfl_numel(x) == 0) return MTFL_OK;
    if (!dx && !dweight && !dbias) return MTFL_OK;
    d.eps = eps;
    d.momentum = 0.0f;
    /* the per-channel sums of dy and dy * xhat, for a backend that computes them in a
     * launch of their own */
    int64_t sums_shape[2] = {2, x->shape[1]};
    mtfl_tensor *sums = mtfl_tensor_new(dev, 2, sums_shape);
    mtfl_tensor *xc = sums ? mtfl_tensor_contiguous(x) : NULL;
    mtfl_tensor *dyc = xc ? mtfl_tensor_contiguous(dy) : NULL;
    if (!dyc) {
        st = mtfl_last_status();
    } else {
        st = dev->backend->batchnorm_backward(dev, buf_or_null(dx), buf_or_null(dweight),
                                              buf_or_null(dbias), mtfl_tensor_buf(sums),
                                              mtfl_tensor_buf(dyc), mtfl_tensor_buf(xc),
                                              mtfl_tensor_buf(mean), mtfl_tensor_buf(var),
                                              buf_or_null(weight), &d, training);
    }
    mtfl_tensor_release(dyc);
    mtfl_tensor_release(xc);
    mtfl_tensor_release(sums);
    return st;
}
