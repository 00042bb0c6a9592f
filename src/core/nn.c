/*
 * nn.c - the layer ops other than convolution and batch normalisation: max and average
 * pooling, bias, softmax
 * cross-entropy and the optimizers' fused updates. Each checks its arguments and hands
 * contiguous buffers to the backend.
 */
#include <math.h>
#include <stdlib.h>

#include "tensor_internal.h"

static mtfl_status expect_shape(const char *op, const char *what, const mtfl_tensor *t,
                                int ndim, const int64_t *shape, const mtfl_device *dev)
{
    return mtfl_expect_tensor(op, what, t, ndim, shape, dev, true);
}

/* Runs f on a contiguous copy of x (x itself when it already is). */
#define WITH_CONTIGUOUS(xc, x, body)                        \
    do {                                                    \
        mtfl_tensor *xc = mtfl_tensor_contiguous(x);        \
        if (!xc) return mtfl_last_status();                 \
        mtfl_status st_ = (body);                           \
        mtfl_tensor_release(xc);                            \
        return st_;                                         \
    } while (0)

/* ---- max pooling -------------------------------------------------------------- */

/* The one shape rule of max pooling; op names the caller in the message. */
static mtfl_status pool_shape(const char *op, int ndim, const int64_t *x_shape, const mtfl_window *g,
                              int64_t *shape)
{
    char s[128];
    if (ndim != 4)
        return mtfl_fail(MTFL_ERR_ARG, "%s: input %s is not [N,C,H,W]", op,
                         mtfl_dims_str(ndim, x_shape, s, sizeof s));
    if (g->pad_h * 2 > g->kernel_h || g->pad_w * 2 > g->kernel_w)
        return mtfl_fail(MTFL_ERR_ARG, "%s: padding %dx%d is more than half the %dx%d window",
                         op, g->pad_h, g->pad_w, g->kernel_h, g->kernel_w);
    shape[0] = x_shape[0];
    shape[1] = x_shape[1];
    shape[2] = mtfl_window_output(x_shape[2], g->kernel_h, g->stride_h, g->pad_h, g->ceil_mode);
    shape[3] = mtfl_window_output(x_shape[3], g->kernel_w, g->stride_w, g->pad_w, g->ceil_mode);
    if (shape[2] <= 0 || shape[3] <= 0)
        return mtfl_fail(MTFL_ERR_ARG, "%s: a %dx%d window (stride %dx%d) does not fit input %s", op,
                         g->kernel_h, g->kernel_w, g->stride_h, g->stride_w,
                         mtfl_dims_str(ndim, x_shape, s, sizeof s));
    return MTFL_OK;
}

mtfl_status mtfl_maxpool2d_shape(int ndim, const int64_t *x_shape, const mtfl_window *g, int64_t *out)
{
    return pool_shape("maxpool2d", ndim, x_shape, g, out);
}

static mtfl_status pool_output(const char *op, const mtfl_tensor *x_or_dx, const mtfl_window *g,
                               int64_t *shape)
{
    return pool_shape(op, x_or_dx->ndim, x_or_dx->shape, g, shape);
}

mtfl_status mtfl_maxpool2d_forward(mtfl_tensor *y, mtfl_tensor *indices, const mtfl_tensor *x,
                                   const mtfl_window *g)
{
    int64_t out[4];
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_status st;
    if ((st = pool_output("maxpool2d", x, g, out)) ||
        (st = expect_shape("maxpool2d", "output", y, 4, out, dev)) ||
        (st = expect_shape("maxpool2d", "indices", indices, 4, out, dev)))
        return st;
    MTFL_REQUIRE_OP(dev, maxpool_forward, "maxpool2d");
    if (mtfl_numel(y) == 0) return MTFL_OK;
    WITH_CONTIGUOUS(xc, x, dev->backend->maxpool_forward(
        dev, mtfl_tensor_buf(y), mtfl_tensor_buf(indices), mtfl_tensor_buf(xc),
        (size_t)(out[0] * out[1]), (size_t)x->shape[2], (size_t)x->shape[3], g,
        (size_t)out[2], (size_t)out[3]));
}

mtfl_status mtfl_maxpool2d_backward(mtfl_tensor *dx, const mtfl_tensor *dy,
                                    const mtfl_tensor *indices, const mtfl_window *g)
{
    int64_t out[4];
    mtfl_device *dev = mtfl_tensor_device(dx);
    mtfl_status st;
    if ((st = pool_output("maxpool2d_backward", dx, g, out)) ||
        (st = expect_shape("maxpool2d_backward", "indices", indices, 4, out, dev)))
        return st;
    char s[128];
    if (!mtfl_is_contiguous(dx))
        return mtfl_fail(MTFL_ERR_ARG, "maxpool2d_backward: gradInput %s must be contiguous",
                         mtfl_shape_str(dx, s, sizeof s));
    MTFL_REQUIRE_OP(dev, maxpool_backward, "maxpool2d_backward");
    if (mtfl_numel(dx) == 0) return MTFL_OK;
    if (mtfl_numel(indices) == 0) return mtfl_fill(dx, 0.0f);
    mtfl_tensor *dyc = mtfl_tensor_contiguous(dy);
    if (!dyc) return mtfl_last_status();
    st = expect_shape("maxpool2d_backward", "gradOutput", dyc, 4, out, dev);
    if (st == MTFL_OK)
        st = dev->backend->maxpool_backward(dev, mtfl_tensor_buf(dx), mtfl_tensor_buf(dyc),
                                            mtfl_tensor_buf(indices), (size_t)(out[0] * out[1]),
                                            (size_t)dx->shape[2], (size_t)dx->shape[3], g,
                                            (size_t)out[2], (size_t)out[3]);
    mtfl_tensor_release(dyc);
    return st;
}

/* ---- average pooling ------------------------------------------------------------ */

/* Max pooling's shape rule: a window always holds at least one input element, so no
 * average divides by zero. */
mtfl_status mtfl_avgpool2d_shape(int ndim, const int64_t *x_shape, const mtfl_window *g, int64_t *out)
{
    return pool_shape("avgpool2d", ndim, x_shape, g, out);
}

mtfl_status mtfl_avgpool2d_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_window *g)
{
    int64_t out[4];
    mtfl_device *dev = mtfl_tensor_device(x);
    mtfl_status st;
    if ((st = pool_output("avgpool2d", x, g, out)) ||
        (st = expect_shape("avgpool2d", "output", y, 4, out, dev)))
        return st;
    MTFL_REQUIRE_OP(dev, avgpool_forward, "avgpool2d");
    if (mtfl_numel(y) == 0) return MTFL_OK;
    WITH_CONTIGUOUS(xc, x, dev->backend->avgpool_forward(
        dev, mtfl_tensor_buf(y), mtfl_tensor_buf(xc), (size_t)(out[0] * out[1]),
        (size_t)x->shape[2], (size_t)x->shape[3], g, (size_t)out[2], (size_t)out[3]));
}

mtfl_status mtfl_avgpool2d_backward(mtfl_tensor *dx, const mtfl_tensor *dy, const mtfl_window *g)
{
    int64_t out[4];
    mtfl_device *dev = mtfl_tensor_device(dx);
    mtfl_status st;
    char s[128];
    if ((st = pool_output("avgpool2d_backward", dx, g, out)) ||
        (st = mtfl_expect_tensor("avgpool2d_backward", "gradOutput", dy, 4, out, dev, false)))
        return st;
    if (!mtfl_is_contiguous(dx))
        return mtfl_fail(MTFL_ERR_ARG, "avgpool2d_backward: gradInput %s must be contiguous",
                         mtfl_shape_str(dx, s, sizeof s));
    MTFL_REQUIRE_OP(dev, avgpool_backward, "avgpool2d_backward");
    if (mtfl_numel(dx) == 0) return MTFL_OK;
    WITH_CONTIGUOUS(dyc, dy, dev->backend->avgpool_backward(
        dev, mtfl_tensor_buf(dx), mtfl_tensor_buf(dyc), (size_t)(out[0] * out[1]),
        (size_t)dx->shape[2], (size_t)dx->shape[3], g, (size_t)out[2], (size_t)out[3]));
}

/* ---- bias ----------------------------------------------------------------------- */

mtfl_status mtfl_add_channel_bias(mtfl_tensor *x, const mtfl_tensor *bias, int dim)
{
    char sx[128], sb[128];
    mtfl_device *dev = mtfl_tensor_device(x);
    if (dim < 0 || dim >= x->ndim || bias->ndim != 1 || bias->shape[0] != x->shape[dim])
        return mtfl_fail(MTFL_ERR_ARG, "add_channel_bias: bias %s does not match dimension %d "
                         "of %s", mtfl_shape_str(bias, sb, sizeof sb), dim + 1,
                         mtfl_shape_str(x, sx, sizeof sx));
    if (mtfl_tensor_device(bias) != dev)
        return mtfl_fail(MTFL_ERR_DEVICE, "add_channel_bias: bias on %s, input on %s",
                         mtfl_tensor_device(bias)->id, dev->id);
    if (!mtfl_is_contiguous(x))
        return mtfl_fail(MTFL_ERR_ARG, "add_channel_bias: %s must be contiguous",
                         mtfl_shape_str(x, sx, sizeof sx));
    size_t outer = 1, inner = 1;
    for (int i = 0; i < dim; i++) outer *= (size_t)x->shape[i];
    for (int i = dim + 1; i < x->ndim; i++) inner *= (size_t)x->shape[i];
    MTFL_REQUIRE_OP(dev, channel_bias, "add_channel_bias");
    if (mtfl_numel(x) == 0) return MTFL_OK;
    WITH_CONTIGUOUS(bc, bias, dev->backend->channel_bias(dev, mtfl_tensor_buf(x), mtfl_tensor_buf(bc),
                                                         outer, (size_t)bias->shape[0], inner));
}

/* ---- softmax and cross-entropy -------------------------------------------------- */

static mtfl_status check_logits(const char *op, const mtfl_tensor *logits)
{
    char s[128];
    if (logits->ndim != 2 || logits->shape[1] < 1)
        return mtfl_fail(MTFL_ERR_ARG, "%s: logits %s are not [N, classes]", op,
                         mtfl_shape_str(logits, s, sizeof s));
    return MTFL_OK;
}

mtfl_status mtfl_softmax(mtfl_tensor *probs, const mtfl_tensor *logits)
{
    mtfl_status st;
    mtfl_device *dev = mtfl_tensor_device(logits);
    if ((st = check_logits("softmax", logits)) ||
        (st = expect_shape("softmax", "output", probs, 2, logits->shape, dev)))
        return st;
    MTFL_REQUIRE_OP(dev, softmax, "softmax");
    if (mtfl_numel(probs) == 0) return MTFL_OK;
    WITH_CONTIGUOUS(lc, logits, dev->backend->softmax(dev, mtfl_tensor_buf(probs), mtfl_tensor_buf(lc),
                                                      (size_t)logits->shape[0], (size_t)logits->shape[1]));
}

/* One pass over labels that were read to the host: the first that is not a class
 * number names its sample. */
mtfl_status mtfl_check_labels(const mtfl_tensor *labels, int64_t classes, int first_class)
{
    char s[128];
    if (first_class < 0)
        return mtfl_fail(MTFL_ERR_ARG, "cross_entropy: first class %d is negative", first_class);
    if (labels->ndim != 1)
        return mtfl_fail(MTFL_ERR_ARG, "cross_entropy: labels %s are not [N]",
                         mtfl_shape_str(labels, s, sizeof s));
    size_t n = mtfl_numel(labels);
    float *host = malloc((n ? n : 1) * sizeof *host);
    if (!host) return mtfl_fail(MTFL_ERR_OOM, "cross_entropy: out of host memory");
    mtfl_status st = mtfl_tensor_read(labels, host, n);
    for (size_t i = 0; st == MTFL_OK && i < n; i++) {
        float c = host[i] - (float)first_class;
        if (!(c >= 0 && c < (float)classes && c == floorf(c)))
            st = mtfl_fail(MTFL_ERR_ARG, "cross_entropy: label %g of sample %zu is not a class "
                           "number %d..%lld", (double)host[i], i + (size_t)first_class, first_class,
                           (long long)(first_class + classes - 1));
    }
    free(host);
    return st;
}

/* The labels are never read here: reading them from a device would wait for its whole
 * queue, once per step. A label that is not a class number makes its sample's loss and
 * gradient row NaN instead, which the loss's one read shows (mtfl_check_labels then
 * names it). */
mtfl_status mtfl_softmax_cross_entropy(mtfl_tensor *loss, mtfl_tensor *grad,
                                       const mtfl_tensor *logits, const mtfl_tensor *labels,
                                       int first_class, float grad_scale)
{
    mtfl_status st;
    mtfl_device *dev = mtfl_tensor_device(logits);
    if ((st = check_logits("cross_entropy", logits)) ||
        (st = expect_shape("cross_entropy", "loss", loss, 1, logits->shape, dev)) ||
        (grad && (st = expect_shape("cross_entropy", "gradient", grad, 2, logits->shape, dev))))
        return st;
    char s[128];
    if (labels->ndim != 1 || labels->shape[0] != logits->shape[0])
        return mtfl_fail(MTFL_ERR_ARG, "cross_entropy: labels %s do not match %lld samples",
                         mtfl_shape_str(labels, s, sizeof s), (long long)logits->shape[0]);
    if (mtfl_tensor_device(labels) != dev)
        return mtfl_fail(MTFL_ERR_DEVICE, "cross_entropy: labels on %s, logits on %s",
                         mtfl_tensor_device(labels)->id, dev->id);
    MTFL_REQUIRE_OP(dev, softmax_xent, "cross_entropy");
    if (logits->shape[0] == 0) return MTFL_OK;
    mtfl_tensor *lc = mtfl_tensor_contiguous(logits);
    mtfl_tensor *yc = lc ? mtfl_tensor_contiguous(labels) : NULL;
    if (!yc) {
        mtfl_tensor_release(lc);
        return mtfl_last_status();
    }
    mtfl_buf gb = grad ? mtfl_tensor_buf(grad) : (mtfl_buf){NULL, 0};
    st = dev->backend->softmax_xent(dev, mtfl_tensor_buf(loss), gb, mtfl_tensor_buf(lc),
                                    mtfl_tensor_buf(yc), (size_t)logits->shape[0],
                                    (size_t)logits->shape[1], first_class, grad_scale);
    mtfl_tensor_release(lc);
    mtfl_tensor_release(yc);
    return st;
}

/* ---- optimizers ----------------------------------------------------------------- */

static mtfl_status check_state(const char *op, const mtfl_tensor *param, const mtfl_tensor *t,
                               const char *what)
{
    return expect_shape(op, what, t, param->ndim, param->shape, mtfl_tensor_device(param));
}

mtfl_status mtfl_adam_step(mtfl_tensor *param, const mtfl_tensor *grad, mtfl_tensor *m,
                           mtfl_tensor *v, const mtfl_adam_config *c, int64_t step)
{
    mtfl_status st;
    if ((st = check_state("adam", param, param, "parameter")) ||
        (st = check_state("adam", param, grad, "gradient")) ||
        (st = check_state("adam", param, m, "first moment")) ||
        (st = check_state("adam", param, v, "second moment")))
        return st;
    if (step < 1) return mtfl_fail(MTFL_ERR_ARG, "adam: step %lld (counts from 1)", (long long)step);
    if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1 && c->eps > 0 && c->lr >= 0 &&
          c->weight_decay >= 0 && c->decoupled_weight_decay >= 0))
        return mtfl_fail(MTFL_ERR_ARG, "adam: bad hyper-parameters lr %g beta1 %g beta2 %g eps %g "
                         "weight_decay %g decoupled_weight_decay %g", c->lr, c->beta1, c->beta2, c->eps,
                         c->weight_decay, c->decoupled_weight_decay);
    MTFL_REQUIRE_OP(mtfl_tensor_device(param), adam, "adam");
    if (mtfl_numel(param) == 0) return MTFL_OK;
    /* bias corrections folded into the step size and epsilon (see backend.h) */
    double c1 = 1.0 - pow(c->beta1, (double)step), c2 = 1.0 - pow(c->beta2, (double)step);
    float lr_t = (float)(c->lr * sqrt(c2) / c1), eps_t = (float)(c->eps * sqrt(c2));
    mtfl_device *dev = mtfl_tensor_device(param);
    return dev->backend->adam(dev, mtfl_tensor_buf(param), mtfl_tensor_buf(grad), mtfl_tensor_buf(m),
                              mtfl_tensor_buf(v), mtfl_numel(param), lr_t, c->beta1, c->beta2,
                              eps_t, c->weight_decay, c->lr * c->decoupled_weight_decay);
}

mtfl_status mtfl_sgd_step(mtfl_tensor *param, const mtfl_tensor *grad, mtfl_tensor *velocity,
                          float lr, float momentum, float weight_decay)
{
    mtfl_status st;
    if ((st = check_state("sgd", param, param, "parameter")) ||
        (st = check_state("sgd", param, grad, "gradient")) ||
        (velocity && (st = check_state("sgd", param, velocity, "velocity"))))
        return st;
    if (momentum != 0.0f && !velocity)
        return mtfl_fail(MTFL_ERR_ARG, "sgd: momentum %g needs a velocity buffer", momentum);
    MTFL_REQUIRE_OP(mtfl_tensor_device(param), sgd, "sgd");
    if (mtfl_numel(param) == 0) return MTFL_OK;
    mtfl_device *dev = mtfl_tensor_device(param);
    mtfl_buf vb = velocity && momentum != 0.0f ? mtfl_tensor_buf(velocity) : (mtfl_buf){NULL, 0};
    return dev->backend->sgd(dev, mtfl_tensor_buf(param), mtfl_tensor_buf(grad), vb,
                             mtfl_numel(param), lr, momentum, weight_decay);
}
