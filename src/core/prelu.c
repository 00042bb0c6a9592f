/*
 * prelu.c - the parametric ReLU: a learned slope for negative inputs, one per channel
 * (dimension 1 of [N, C, ...]) or one for the whole tensor.
 *
 * The forward and the input gradient are one backend op (dst = x > 0 ? src : slope[c]
 * src). The slope's gradient is a per-channel sum of dy * x over the negative inputs:
 * an elementwise product followed by two of the backend's reductions (over the
 * positions inside each channel, then over the batch), which are already tuned for
 * every shape on every device.
 */
#include "tensor_internal.h"

typedef struct {
    size_t outer, channels, inner;
} prelu_layout;

static mtfl_status layout_of(const char *op, const mtfl_tensor *x, const mtfl_tensor *slope,
                             prelu_layout *l)
{
    char sx[128], ss[128];
    size_t n = mtfl_numel(x);
    bool shared = slope->ndim == 1 && slope->shape[0] == 1;
    bool per_channel = slope->ndim == 1 && x->ndim >= 2 && slope->shape[0] == x->shape[1];
    if (!shared && !per_channel)
        return mtfl_fail(MTFL_ERR_ARG, "%s: slope %s matches neither dimension 2 of input %s "
                         "nor one shared slope [1]", op, mtfl_shape_str(slope, ss, sizeof ss),
                         mtfl_shape_str(x, sx, sizeof sx));
    if (mtfl_tensor_device(slope) != mtfl_tensor_device(x))
        return mtfl_fail(MTFL_ERR_DEVICE, "%s: slope on %s, input %s on %s", op,
                         mtfl_tensor_device(slope)->id, mtfl_shape_str(x, sx, sizeof sx),
                         mtfl_tensor_device(x)->id);
    *l = (prelu_layout){1, 1, n};
    if (per_channel && !shared) {
        l->outer = (size_t)x->shape[0];
        l->channels = (size_t)x->shape[1];
        l->inner = l->outer > 0 && l->channels > 0 ? n / (l->outer * l->channels) : 0;
    }
    return MTFL_OK;
}

/* dst = x > 0 ? src : slope[c] * src; dst is contiguous, src and x any layout. */
static mtfl_status apply(mtfl_tensor *dst, const mtfl_tensor *src, const mtfl_tensor *x,
                         const mtfl_tensor *slope, const prelu_layout *l)
{
    mtfl_device *dev = mtfl_tensor_device(x);
    MTFL_REQUIRE_OP(dev, prelu, "prelu");
    mtfl_tensor *sc = mtfl_tensor_contiguous(src);
    mtfl_tensor *xc = sc ? mtfl_tensor_contiguous(x) : NULL;
    mtfl_tensor *slc = xc ? mtfl_tensor_contiguous(slope) : NULL;
    mtfl_status st = slc ? dev->backend->prelu(dev, mtfl_tensor_buf(dst), mtfl_tensor_buf(sc),
                                               mtfl_tensor_buf(xc), mtfl_tensor_buf(slc),
                                               l->outer, l->channels, l->inner)
                         : mtfl_last_status();
    mtfl_tensor_release(sc);
    mtfl_tensor_release(xc);
    mtfl_tensor_release(slc);
    return st;
}

mtfl_status mtfl_prelu_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_tensor *slope)
{
    prelu_layout l;
    mtfl_status st;
    if ((st = layout_of("prelu", x, slope, &l)) ||
        (st = mtfl_expect_tensor("prelu", "output", y, x->ndim, x->shape, mtfl_tensor_device(x), true)))
        return st;
    if (mtfl_numel(x) == 0) return MTFL_OK;
    return apply(y, x, x, slope, &l);
}

/* dslope += the sum over batch and positions of dy * x where x <= 0. */
static mtfl_status slope_gradient(mtfl_tensor *dslope, const mtfl_tensor *dy,
                                  const mtfl_tensor *x, const prelu_layout *l)
{
    mtfl_device *dev = mtfl_tensor_device(x);
    int64_t full[3] = {(int64_t)l->outer, (int64_t)l->channels, (int64_t)l->inner};
    int64_t per_sample[2] = {full[0], full[1]};
    mtfl_tensor *terms = mtfl_tensor_new(dev, 3, full);
    mtfl_tensor *sums = terms ? mtfl_tensor_new(dev, 2, per_sample) : NULL;
    mtfl_tensor *total = sums ? mtfl_tensor_new(dev, 1, full + 1) : NULL;
    mtfl_tensor *dy3 = total ? mtfl_tensor_reshape(dy, 3, full) : NULL;
    mtfl_tensor *x3 = dy3 ? mtfl_tensor_reshape(x, 3, full) : NULL;
    mtfl_status st = x3 ? MTFL_OK : mtfl_last_status();
    if (st == MTFL_OK) st = mtfl_binary(MTFL_BINARY_PRELU_SLOPE_GRAD, terms, dy3, x3);
    if (st == MTFL_OK) st = mtfl_reduce(MTFL_REDUCE_SUM, sums, terms, 2);
    if (st == MTFL_OK) st = mtfl_reduce(MTFL_REDUCE_SUM, total, sums, 0);
    if (st == MTFL_OK) st = mtfl_axpy(dslope, 1.0f, total);
    mtfl_tensor_release(terms);
    mtfl_tensor_release(sums);
    mtfl_tensor_release(total);
    mtfl_tensor_release(dy3);
    mtfl_tensor_release(x3);
    return st;
}

mtfl_status mtfl_prelu_backward(mtfl_tensor *dx, mtfl_tensor *dslope, const mtfl_tensor *dy,
                                const mtfl_tensor *x, const mtfl_tensor *slope)
{
    prelu_layout l;
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_status st;
    if ((st = layout_of("prelu_backward", x, slope, &l)) ||
        (st = mtfl_expect_tensor("prelu_backward", "gradOutput", dy, x->ndim, x->shape, dev, false)) ||
        (dx && (st = mtfl_expect_tensor("prelu_backward", "gradInput", dx, x->ndim, x->shape, dev, true))) ||
        (dslope && (st = mtfl_expect_tensor("prelu_backward", "slope gradient", dslope, 1,
                                            slope->shape, dev, false))))
        return st;
    if (mtfl_numel(x) == 0) return MTFL_OK;
    if (dx && (st = apply(dx, dy, x, slope, &l))) return st;
    /* reshape needs contiguous operands; the binding's tensors are, views get copied */
    if (!dslope) return MTFL_OK;
    mtfl_tensor *dyc = mtfl_tensor_contiguous(dy);
    mtfl_tensor *xc = dyc ? mtfl_tensor_contiguous(x) : NULL;
    st = xc ? slope_gradient(dslope, dyc, xc, &l) : mtfl_last_status();
    mtfl_tensor_release(dyc);
    mtfl_tensor_release(xc);
    return st;
}
