/*
 * opencl_nn.c - the neural-network layers as kernel launches (kernels in cl/nn.cl).
 *
 * Each op is a single launch over the whole batch: no per-sample loop on the host and
 * no transfer, so a training step stays queued on the device from input to optimiser.
 * The adjoints (col2im, the pooling backward pass) gather instead of scattering with
 * atomics: deterministic, and equal bit for bit to the CPU backend's sums.
 *
 * Positions within a plane are int arithmetic in the kernels (fast on every GPU), so
 * planes must hold fewer than 2^31 elements; everything that grows with the batch or
 * the channels is a ulong.
 */
#include <limits.h>

#include "opencl_internal.h"

/* Matches mtfl_window_geometry in cl/nn.cl, field for field. */
static cl_int8 window_arg(const mtfl_window *g, size_t out_h, size_t out_w)
{
    cl_int8 w = {{g->kernel_h, g->kernel_w, g->stride_h, g->stride_w, g->pad_h, g->pad_w,
                  (cl_int)out_h, (cl_int)out_w}};
    return w;
}

static bool product_fits_int(size_t a, size_t b) { return a == 0 || b <= INT_MAX / a; }

/* The kernels index a plane, input or output, with an int. (Empty sizes are fine: the
 * launch then has no work and the kernels divide by none of them.) */
static mtfl_status check_planes(const char *op, size_t height, size_t width, size_t out_h,
                                size_t out_w)
{
    if (!product_fits_int(height, width) || !product_fits_int(out_h, out_w))
        return MTFL_FAIL_HERE(MTFL_ERR_ARG,
                              "opencl: %s of %zux%zu planes into %zux%zu: a plane must hold "
                              "fewer than 2^31 elements",
                              op, height, width, out_h, out_w);
    return MTFL_OK;
}

mtfl_status mtfl_opencl_im2col(mtfl_device *dev, mtfl_buf cols, mtfl_buf x, size_t batch,
                               size_t channels, size_t height, size_t width,
                               const mtfl_window *g, size_t out_h, size_t out_w)
{
    mtfl_status status = check_planes("im2col", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem cols_mem = cols.handle, x_mem = x.handle;
    cl_ulong cols_off = cols.offset, x_off = x.offset, channels_arg = channels;
    cl_ulong columns = (cl_ulong)batch * out_h * out_w;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_IM2COL, channels * columns, MTFL_CL_ARG(cols_mem),
                            MTFL_CL_ARG(cols_off), MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off),
                            MTFL_CL_ARG(channels_arg), MTFL_CL_ARG(height_arg),
                            MTFL_CL_ARG(width_arg), MTFL_CL_ARG(window), MTFL_CL_ARG(columns));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_col2im(mtfl_device *dev, mtfl_buf dx, mtfl_buf cols, size_t batch,
                               size_t channels, size_t height, size_t width,
                               const mtfl_window *g, size_t out_h, size_t out_w)
{
    mtfl_status status = check_planes("col2im", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dx_mem = dx.handle, cols_mem = cols.handle;
    cl_ulong dx_off = dx.offset, cols_off = cols.offset;
    cl_ulong planes = (cl_ulong)batch * channels, channels_arg = channels;
    cl_ulong columns = (cl_ulong)batch * out_h * out_w;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_COL2IM, planes * height * width, MTFL_CL_ARG(dx_mem),
                            MTFL_CL_ARG(dx_off), MTFL_CL_ARG(cols_mem), MTFL_CL_ARG(cols_off),
                            MTFL_CL_ARG(planes), MTFL_CL_ARG(channels_arg),
                            MTFL_CL_ARG(height_arg), MTFL_CL_ARG(width_arg),
                            MTFL_CL_ARG(window), MTFL_CL_ARG(columns));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_maxpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf indices,
                                        mtfl_buf x, size_t planes, size_t height, size_t width,
                                        const mtfl_window *g, size_t out_h, size_t out_w)
{
    mtfl_status status = check_planes("max pooling", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem y_mem = y.handle, indices_mem = indices.handle, x_mem = x.handle;
    cl_ulong y_off = y.offset, indices_off = indices.offset, x_off = x.offset;
    cl_ulong planes_arg = planes;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_MAXPOOL_FORWARD, planes * out_h * out_w,
                            MTFL_CL_ARG(y_mem), MTFL_CL_ARG(y_off), MTFL_CL_ARG(indices_mem),
                            MTFL_CL_ARG(indices_off), MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off),
                            MTFL_CL_ARG(planes_arg), MTFL_CL_ARG(height_arg),
                            MTFL_CL_ARG(width_arg), MTFL_CL_ARG(window));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_maxpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy,
                                         mtfl_buf indices, size_t planes, size_t height,
                                         size_t width, const mtfl_window *g, size_t out_h,
                                         size_t out_w)
{
    mtfl_status status = check_planes("max pooling backward", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dx_mem = dx.handle, dy_mem = dy.handle, indices_mem = indices.handle;
    cl_ulong dx_off = dx.offset, dy_off = dy.offset, indices_off = indices.offset;
    cl_ulong planes_arg = planes;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_MAXPOOL_BACKWARD, planes * height * width,
                            MTFL_CL_ARG(dx_mem), MTFL_CL_ARG(dx_off), MTFL_CL_ARG(dy_mem),
                            MTFL_CL_ARG(dy_off), MTFL_CL_ARG(indices_mem),
                            MTFL_CL_ARG(indices_off), MTFL_CL_ARG(planes_arg),
                            MTFL_CL_ARG(height_arg), MTFL_CL_ARG(width_arg),
                            MTFL_CL_ARG(window));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_avgpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf x, size_t planes,
                                        size_t height, size_t width, const mtfl_window *g,
                                        size_t out_h, size_t out_w)
{
    mtfl_status status = check_planes("average pooling", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem y_mem = y.handle, x_mem = x.handle;
    cl_ulong y_off = y.offset, x_off = x.offset, planes_arg = planes;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_AVGPOOL_FORWARD, planes * out_h * out_w,
                            MTFL_CL_ARG(y_mem), MTFL_CL_ARG(y_off), MTFL_CL_ARG(x_mem),
                            MTFL_CL_ARG(x_off), MTFL_CL_ARG(planes_arg), MTFL_CL_ARG(height_arg),
                            MTFL_CL_ARG(width_arg), MTFL_CL_ARG(window));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_avgpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, size_t planes,
                                         size_t height, size_t width, const mtfl_window *g,
                                         size_t out_h, size_t out_w)
{
    mtfl_status status = check_planes("average pooling backward", height, width, out_h, out_w);
    if (status != MTFL_OK)
        return status;
    mtfl_opencl_device *cl;
    status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dx_mem = dx.handle, dy_mem = dy.handle;
    cl_ulong dx_off = dx.offset, dy_off = dy.offset, planes_arg = planes;
    cl_int height_arg = (cl_int)height, width_arg = (cl_int)width;
    cl_int8 window = window_arg(g, out_h, out_w);
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_AVGPOOL_BACKWARD, planes * height * width,
                            MTFL_CL_ARG(dx_mem), MTFL_CL_ARG(dx_off), MTFL_CL_ARG(dy_mem),
                            MTFL_CL_ARG(dy_off), MTFL_CL_ARG(planes_arg), MTFL_CL_ARG(height_arg),
                            MTFL_CL_ARG(width_arg), MTFL_CL_ARG(window));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_channel_bias(mtfl_device *dev, mtfl_buf x, mtfl_buf bias, size_t outer,
                                     size_t channels, size_t inner)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem x_mem = x.handle, bias_mem = bias.handle;
    cl_ulong x_off = x.offset, bias_off = bias.offset;
    cl_ulong n = (cl_ulong)outer * channels * inner, channels_arg = channels, inner_arg = inner;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_CHANNEL_BIAS, n, MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off),
                            MTFL_CL_ARG(bias_mem), MTFL_CL_ARG(bias_off), MTFL_CL_ARG(n),
                            MTFL_CL_ARG(channels_arg), MTFL_CL_ARG(inner_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_prelu(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, mtfl_buf x,
                              mtfl_buf slope, size_t outer, size_t channels, size_t inner)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem dst_mem = dst.handle, src_mem = src.handle, x_mem = x.handle, slope_mem = slope.handle;
    cl_ulong dst_off = dst.offset, src_off = src.offset, x_off = x.offset;
    cl_ulong slope_off = slope.offset;
    cl_ulong n = (cl_ulong)outer * channels * inner, channels_arg = channels, inner_arg = inner;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_PRELU, n, MTFL_CL_ARG(dst_mem), MTFL_CL_ARG(dst_off),
                            MTFL_CL_ARG(src_mem), MTFL_CL_ARG(src_off), MTFL_CL_ARG(x_mem),
                            MTFL_CL_ARG(x_off), MTFL_CL_ARG(slope_mem), MTFL_CL_ARG(slope_off),
                            MTFL_CL_ARG(n), MTFL_CL_ARG(channels_arg), MTFL_CL_ARG(inner_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_softmax(mtfl_device *dev, mtfl_buf probs, mtfl_buf logits, size_t rows,
                                size_t classes)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem probs_mem = probs.handle, logits_mem = logits.handle;
    cl_ulong probs_off = probs.offset, logits_off = logits.offset;
    cl_ulong rows_arg = rows, classes_arg = classes;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_SOFTMAX, rows, MTFL_CL_ARG(probs_mem),
                            MTFL_CL_ARG(probs_off), MTFL_CL_ARG(logits_mem),
                            MTFL_CL_ARG(logits_off), MTFL_CL_ARG(rows_arg),
                            MTFL_CL_ARG(classes_arg));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_softmax_xent(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                     mtfl_buf logits, mtfl_buf labels, size_t rows,
                                     size_t classes, int first_class, float grad_scale)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    /* no gradient: a NULL buffer argument, which the kernel never reads */
    cl_mem loss_mem = loss.handle, grad_mem = grad.handle, logits_mem = logits.handle;
    cl_mem labels_mem = labels.handle;
    cl_ulong loss_off = loss.offset, grad_off = grad.handle ? grad.offset : 0;
    cl_ulong logits_off = logits.offset, labels_off = labels.offset;
    cl_int has_grad = grad.handle != NULL;
    cl_ulong rows_arg = rows, classes_arg = classes;
    cl_int first = first_class;
    cl_float scale = grad_scale;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_SOFTMAX_XENT, rows, MTFL_CL_ARG(loss_mem),
                            MTFL_CL_ARG(loss_off), MTFL_CL_ARG(grad_mem), MTFL_CL_ARG(grad_off),
                            MTFL_CL_ARG(has_grad), MTFL_CL_ARG(logits_mem),
                            MTFL_CL_ARG(logits_off), MTFL_CL_ARG(labels_mem),
                            MTFL_CL_ARG(labels_off), MTFL_CL_ARG(rows_arg),
                            MTFL_CL_ARG(classes_arg), MTFL_CL_ARG(first), MTFL_CL_ARG(scale));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_adam(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf m,
                             mtfl_buf v, size_t n, float lr_t, float beta1, float beta2,
                             float eps_t, float weight_decay, float decay)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_mem param_mem = param.handle, grad_mem = grad.handle, m_mem = m.handle, v_mem = v.handle;
    cl_ulong param_off = param.offset, grad_off = grad.offset, m_off = m.offset;
    cl_ulong v_off = v.offset, count = n;
    cl_float lr_arg = lr_t, beta1_arg = beta1, beta2_arg = beta2, eps_arg = eps_t;
    cl_float l2 = weight_decay, decoupled = decay;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_ADAM, n, MTFL_CL_ARG(param_mem), MTFL_CL_ARG(param_off),
                            MTFL_CL_ARG(grad_mem), MTFL_CL_ARG(grad_off), MTFL_CL_ARG(m_mem),
                            MTFL_CL_ARG(m_off), MTFL_CL_ARG(v_mem), MTFL_CL_ARG(v_off),
                            MTFL_CL_ARG(count), MTFL_CL_ARG(lr_arg), MTFL_CL_ARG(beta1_arg),
                            MTFL_CL_ARG(beta2_arg), MTFL_CL_ARG(eps_arg), MTFL_CL_ARG(l2),
                            MTFL_CL_ARG(decoupled));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_landmark_loss(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                      mtfl_buf prediction, mtfl_buf target, mtfl_buf weight,
                                      size_t rows, size_t cols, mtfl_landmark_kind kind, float a,
                                      float b, float c, float grad_scale)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    /* no gradient or no weights: a NULL buffer argument, which the kernel never reads */
    cl_mem loss_mem = loss.handle, grad_mem = grad.handle, pred_mem = prediction.handle;
    cl_mem target_mem = target.handle, weight_mem = weight.handle;
    cl_ulong loss_off = loss.offset, grad_off = grad.handle ? grad.offset : 0;
    cl_ulong pred_off = prediction.offset, target_off = target.offset;
    cl_ulong weight_off = weight.handle ? weight.offset : 0;
    cl_int has_grad = grad.handle != NULL, has_weight = weight.handle != NULL, kind_arg = kind;
    cl_ulong rows_arg = rows, cols_arg = cols;
    cl_float a_arg = a, b_arg = b, c_arg = c, scale = grad_scale;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_LANDMARK_LOSS, rows, MTFL_CL_ARG(loss_mem),
                            MTFL_CL_ARG(loss_off), MTFL_CL_ARG(grad_mem), MTFL_CL_ARG(grad_off),
                            MTFL_CL_ARG(has_grad), MTFL_CL_ARG(pred_mem), MTFL_CL_ARG(pred_off),
                            MTFL_CL_ARG(target_mem), MTFL_CL_ARG(target_off),
                            MTFL_CL_ARG(weight_mem), MTFL_CL_ARG(weight_off),
                            MTFL_CL_ARG(has_weight), MTFL_CL_ARG(rows_arg), MTFL_CL_ARG(cols_arg),
                            MTFL_CL_ARG(kind_arg), MTFL_CL_ARG(a_arg), MTFL_CL_ARG(b_arg),
                            MTFL_CL_ARG(c_arg), MTFL_CL_ARG(scale));
    mtfl_opencl_unlock(cl);
    return status;
}

mtfl_status mtfl_opencl_sgd(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf velocity,
                            size_t n, float lr, float momentum, float weight_decay)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    /* no velocity: a NULL buffer argument, which the kernel never reads */
    cl_mem param_mem = param.handle, grad_mem = grad.handle, velocity_mem = velocity.handle;
    cl_ulong param_off = param.offset, grad_off = grad.offset;
    cl_ulong velocity_off = velocity.handle ? velocity.offset : 0, count = n;
    cl_int has_velocity = velocity.handle != NULL;
    cl_float lr_arg = lr, momentum_arg = momentum, decay = weight_decay;
    status = MTFL_CL_LAUNCH(cl, MTFL_CL_SGD, n, MTFL_CL_ARG(param_mem), MTFL_CL_ARG(param_off),
                            MTFL_CL_ARG(grad_mem), MTFL_CL_ARG(grad_off),
                            MTFL_CL_ARG(velocity_mem), MTFL_CL_ARG(velocity_off),
                            MTFL_CL_ARG(has_velocity), MTFL_CL_ARG(count),
                            MTFL_CL_ARG(lr_arg), MTFL_CL_ARG(momentum_arg), MTFL_CL_ARG(decay));
    mtfl_opencl_unlock(cl);
    return status;
}
