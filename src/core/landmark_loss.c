/*
 * landmark_loss.c - the landmark regression losses (L2, L1, smooth L1, Wing) as one
 * fused op: each face's loss and the gradient in one pass, on the device that holds
 * the prediction, so a training step reads nothing back but its loss.
 */
#include <math.h>

#include "tensor_internal.h"

static const char *const kind_names[] = {"l2", "l1", "smooth_l1", "wing"};

static mtfl_status check_config(const mtfl_landmark_loss_config *c, float *a, float *b, float *k)
{
    *a = *b = *k = 0.0f;
    switch (c->kind) {
    case MTFL_LANDMARK_L2:
    case MTFL_LANDMARK_L1:
        return MTFL_OK;
    case MTFL_LANDMARK_SMOOTH_L1:
        if (!(c->beta > 0 && isfinite(c->beta)))
            return mtfl_fail(MTFL_ERR_ARG, "landmark_loss: smooth_l1 needs beta > 0, got %g", c->beta);
        *a = c->beta;
        return MTFL_OK;
    case MTFL_LANDMARK_WING:
        if (!(c->w > 0 && isfinite(c->w) && c->epsilon > 0 && isfinite(c->epsilon)))
            return mtfl_fail(MTFL_ERR_ARG, "landmark_loss: wing needs w > 0 and epsilon > 0, got w %g "
                             "epsilon %g", c->w, c->epsilon);
        *a = c->w;
        *b = c->epsilon;
        /* C joins the two pieces at |d| = w, so the loss is continuous there */
        *k = (float)((double)c->w - (double)c->w * log1p((double)c->w / c->epsilon));
        return MTFL_OK;
    }
    return mtfl_fail(MTFL_ERR_ARG, "landmark_loss: unknown kind %d", (int)c->kind);
}

mtfl_status mtfl_landmark_loss(mtfl_tensor *loss, mtfl_tensor *grad, const mtfl_tensor *prediction,
                               const mtfl_tensor *target, const mtfl_tensor *weight,
                               const mtfl_landmark_loss_config *c, float grad_scale)
{
    char s[128], t[128];
    mtfl_device *dev = mtfl_tensor_device(prediction);
    float a, b, k;
    mtfl_status st = check_config(c, &a, &b, &k);
    if (st) return st;
    const char *op = kind_names[c->kind];
    if (prediction->ndim != 2)
        return mtfl_fail(MTFL_ERR_ARG, "landmark_loss (%s): prediction %s is not [N, coordinates]", op,
                         mtfl_shape_str(prediction, s, sizeof s));
    if (!mtfl_same_shape(prediction, target))
        return mtfl_fail(MTFL_ERR_ARG, "landmark_loss (%s): prediction %s and target %s differ in shape",
                         op, mtfl_shape_str(prediction, s, sizeof s), mtfl_shape_str(target, t, sizeof t));
    if ((st = mtfl_expect_tensor("landmark_loss", "target", target, 2, prediction->shape, dev, false)) ||
        (st = mtfl_expect_tensor("landmark_loss", "loss", loss, 1, prediction->shape, dev, true)) ||
        (grad && (st = mtfl_expect_tensor("landmark_loss", "gradient", grad, 2, prediction->shape, dev, true))) ||
        (weight && (st = mtfl_expect_tensor("landmark_loss", "face weights", weight, 1, prediction->shape,
                                            dev, false))))
        return st;
    MTFL_REQUIRE_OP(dev, landmark_loss, "landmark_loss");
    if (prediction->shape[0] == 0) return MTFL_OK;
    mtfl_tensor *pc = mtfl_tensor_contiguous(prediction);
    mtfl_tensor *tc = pc ? mtfl_tensor_contiguous(target) : NULL;
    mtfl_tensor *wc = tc && weight ? mtfl_tensor_contiguous(weight) : NULL;
    if (!tc || (weight && !wc)) {
        mtfl_tensor_release(pc);
        mtfl_tensor_release(tc);
        return mtfl_last_status();
    }
    mtfl_buf none = {NULL, 0};
    st = dev->backend->landmark_loss(dev, mtfl_tensor_buf(loss), grad ? mtfl_tensor_buf(grad) : none,
                                     mtfl_tensor_buf(pc), mtfl_tensor_buf(tc),
                                     wc ? mtfl_tensor_buf(wc) : none, (size_t)prediction->shape[0],
                                     (size_t)prediction->shape[1], c->kind, a, b, k, grad_scale);
    mtfl_tensor_release(pc);
    mtfl_tensor_release(tc);
    mtfl_tensor_release(wc);
    return st;
}
