/*
 * render.c - bilinear resampling of stored pixels through a view. The view is axis
 * aligned, so the source column of an output column is the same on every row: both
 * taps and weights are computed once per column and once per row, and the inner loop
 * is four multiply-adds per channel.
 */
#include <math.h>
#include <stdlib.h>

#include "data_internal.h"

typedef struct {
    int i0, i1;       /* clamped source indices */
    float w0, w1;     /* their weights; zero for a tap outside the image under black fill */
} taps;

/* Output coordinate o (a pixel centre) -> source position, as pixel-centre indices. */
static void make_taps(taps *t, int n, int src_n, float origin, float scale, float translate,
                      bool mirror, int size, bool black_fill)
{
    for (int o = 0; o < n; o++) {
        float x = (float)o + 0.5f;
        if (mirror) x = (float)size - x;
        float s = (x - translate) / scale + origin - 0.5f;
        if (!(fabsf(s) < 1e7f)) s = -2;   /* NaN or absurd geometry (a damaged cache): fill */
        float f = floorf(s);
        float frac = s - f;
        long a = (long)f, b = a + 1;
        t[o].w0 = 1.0f - frac, t[o].w1 = frac;
        if (black_fill) {
            if (a < 0 || a >= src_n) t[o].w0 = 0;
            if (b < 0 || b >= src_n) t[o].w1 = 0;
        }
        t[o].i0 = (int)(a < 0 ? 0 : a >= src_n ? src_n - 1 : a);
        t[o].i1 = (int)(b < 0 ? 0 : b >= src_n ? src_n - 1 : b);
    }
}

mtfl_status mtfl_render(const mtfl_view *v, const uint8_t *pixels, int width, int height,
                 bool black_fill, float *chw, uint8_t *hwc)
{
    int n = v->size;
    taps stack[2 * 512];
    taps *cols = n <= 512 ? stack : malloc(2 * (size_t)n * sizeof *cols);
    if (!cols) return mtfl_fail(MTFL_ERR_OOM, "render: out of memory at size %d", n);
    taps *rows = cols + n;
    make_taps(cols, n, width, v->origin_x, v->scale_x, v->translate, v->mirror, n, black_fill);
    make_taps(rows, n, height, v->origin_y, v->scale_y, 0, false, n, black_fill);
    size_t plane = (size_t)n * (size_t)n, stride = (size_t)width * 3;
    for (int y = 0; y < n; y++) {
        const uint8_t *r0 = pixels + (size_t)rows[y].i0 * stride;
        const uint8_t *r1 = pixels + (size_t)rows[y].i1 * stride;
        float wy0 = rows[y].w0, wy1 = rows[y].w1;
        for (int x = 0; x < n; x++) {
            const taps *c = &cols[x];
            size_t a = (size_t)c->i0 * 3, b = (size_t)c->i1 * 3, at = (size_t)y * n + x;
            for (int ch = 0; ch < 3; ch++) {
                float top = r0[a + ch] * c->w0 + r0[b + ch] * c->w1;
                float bottom = r1[a + ch] * c->w0 + r1[b + ch] * c->w1;
                float value = top * wy0 + bottom * wy1;
                if (chw) chw[ch * plane + at] = value * (1.0f / 255.0f);
                if (hwc) hwc[at * 3 + ch] = (uint8_t)(value + 0.5f);
            }
        }
    }
    if (cols != stack) free(cols);
    return MTFL_OK;
}
