/*
 * nn_landmarks.cl - the landmark losses (src/core/landmark_loss.c): one work-item per
 * face, its coordinates' penalties summed in the order the CPU backend sums them, in
 * double where the device has it (mtfl_acc, nn.cl). Kinds as in mtfl_landmark_kind.
 */

/* f(d) and f'(d) of one coordinate; a, b, c as in src/core/backend.h */
float mtfl_landmark_term(int kind, float d, float a, float b, float c, float *slope)
{
    float ad = fabs(d), sign = d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
    if (kind == 0) {            /* l2 */
        *slope = d;
        return 0.5f * d * d;
    }
    if (kind == 1) {            /* l1 */
        *slope = sign;
        return ad;
    }
    if (kind == 2) {            /* smooth l1 */
        if (ad < a) {
            *slope = d / a;
            return 0.5f * d * d / a;
        }
        *slope = sign;
        return ad - 0.5f * a;
    }
    if (ad < a) {               /* wing */
        *slope = sign * a / (b + ad);
        return a * log1p(ad / b);
    }
    *slope = sign;
    return ad - c;
}

/* has_weight 0 / has_grad 0: that buffer may be NULL and is never read or written */
__kernel void mtfl_landmark_loss(__global float *loss, ulong loss_off, __global float *grad,
                                 ulong grad_off, int has_grad, __global const float *pred,
                                 ulong pred_off, __global const float *target, ulong target_off,
                                 __global const float *weight, ulong weight_off, int has_weight,
                                 ulong rows, ulong cols, int kind, float a, float b, float c,
                                 float grad_scale)
{
    MTFL_NN_FOR_EACH(r, rows) {
        float w = has_weight ? weight[weight_off + r] : 1.0f, scale = grad_scale * w;
        mtfl_acc sum = 0;
        for (ulong k = 0; k < cols; k++) {
            ulong i = r * cols + k;
            float slope;
            sum += mtfl_landmark_term(kind, pred[pred_off + i] - target[target_off + i], a, b, c, &slope);
            if (has_grad)
                grad[grad_off + i] = scale * slope;
        }
        loss[loss_off + r] = (float)(w * sum);
    }
}
