/*
 * image_bytes.c - uint8 pixel buffers (as image decoders produce them) to and from
 * float tensors. The conversion runs on the host; one transfer moves the result.
 */
#include <math.h>
#include <stdlib.h>

#include "tensor_internal.h"

static mtfl_status check_image_shape(const char *op, const mtfl_tensor *t, int height,
                                     int width, int channels, bool chw)
{
    char s[128];
    int64_t want[3] = {chw ? channels : height, chw ? height : width, chw ? width : channels};
    bool ok = height > 0 && width > 0 && channels > 0 && mtfl_numel(t) ==
              (size_t)height * (size_t)width * (size_t)channels;
    if (ok && t->ndim == 3)
        ok = t->shape[0] == want[0] && t->shape[1] == want[1] && t->shape[2] == want[2];
    if (ok) return MTFL_OK;
    char w[128];
    return mtfl_fail(MTFL_ERR_ARG, "%s: a %dx%dx%d image needs a tensor of shape %s, got %s",
                     op, height, width, channels, mtfl_dims_str(3, want, w, sizeof w),
                     mtfl_shape_str(t, s, sizeof s));
}

mtfl_status mtfl_from_bytes(mtfl_tensor *t, const uint8_t *pixels, int height, int width,
                            int channels, bool chw, float scale)
{
    mtfl_status st = check_image_shape("from_bytes", t, height, width, channels, chw);
    if (st) return st;
    size_t n = (size_t)height * (size_t)width * (size_t)channels, plane = (size_t)height * (size_t)width;
    float *host = malloc(n * sizeof *host);
    if (!host) return mtfl_fail(MTFL_ERR_OOM, "from_bytes: out of host memory");
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < channels; c++) {
            size_t at = chw ? (size_t)c * plane + p : p * (size_t)channels + (size_t)c;
            host[at] = pixels[p * (size_t)channels + (size_t)c] * scale;
        }
    st = mtfl_tensor_write(t, host, n);
    free(host);
    return st;
}

mtfl_status mtfl_to_bytes(const mtfl_tensor *t, uint8_t *pixels, int height, int width,
                          int channels, bool chw, float scale)
{
    mtfl_status st = check_image_shape("to_bytes", t, height, width, channels, chw);
    if (st) return st;
    if (scale == 0.0f) return mtfl_fail(MTFL_ERR_ARG, "to_bytes: scale is 0");
    size_t n = (size_t)height * (size_t)width * (size_t)channels, plane = (size_t)height * (size_t)width;
    float *host = malloc(n * sizeof *host);
    if (!host) return mtfl_fail(MTFL_ERR_OOM, "to_bytes: out of host memory");
    st = mtfl_tensor_read(t, host, n);
    for (size_t p = 0; st == MTFL_OK && p < plane; p++)
        for (int c = 0; c < channels; c++) {
            size_t at = chw ? (size_t)c * plane + p : p * (size_t)channels + (size_t)c;
            float v = host[at] / scale;
            /* NaN goes to 0 rather than to undefined behaviour in the cast */
            v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
            pixels[p * (size_t)channels + (size_t)c] = (uint8_t)lrintf(v);
        }
    free(host);
    return st;
}
