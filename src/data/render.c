/*
 * render.c - bilinear resampling of stored pixels through a view. An axis-aligned view
 * has the same source column for an output column on every row: both taps and weights
 * are computed once per column and once per row, and the inner loop is four
 * multiply-adds per channel. A rotated view maps each output pixel through the whole
 * affine map, with the bounds checks only near the stored image's edges.
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

static inline void store(float value, int ch, size_t at, size_t plane, float *chw, uint8_t *hwc)
{
    if (chw) chw[ch * plane + at] = value * (1.0f / 255.0f);
    if (hwc) hwc[at * 3 + ch] = (uint8_t)(value + 0.5f);
}

/* Source position (pixel-centre indices) of output pixel (x, y) is base + x * dx + y *
 * dy: the inverse of the view's map, which is affine. */
typedef struct { float base_x, base_y, dx_x, dx_y, dy_x, dy_y; } inverse_map;

static inverse_map invert(const mtfl_view *v)
{
    /* output point (X, Y) -> unmirrored, untranslated, turned back about the centre,
     * then back through the box's scale and origin */
    float c = 0.5f * (float)v->size, m = v->mirror ? -1.0f : 1.0f;
    float x0 = (v->mirror ? (float)v->size - 0.5f : 0.5f) - v->translate - c, y0 = 0.5f - c;
    float ca = v->cos_a, sa = v->sin_a;
    inverse_map t;
    t.base_x = (c + ca * x0 + sa * y0) / v->scale_x + v->origin_x - 0.5f;
    t.base_y = (c - sa * x0 + ca * y0) / v->scale_y + v->origin_y - 0.5f;
    t.dx_x = ca * m / v->scale_x, t.dx_y = -sa * m / v->scale_y;
    t.dy_x = sa / v->scale_x, t.dy_y = ca / v->scale_y;
    return t;
}

/* Bilinear at source position (sx, sy), near an edge: taps clamped, or weighted 0
 * outside under black fill. */
static void sample_edge(const uint8_t *pixels, int width, int height, size_t stride, bool black_fill,
                        float sx, float sy, float out[3])
{
    if (!(fabsf(sx) < 1e7f && fabsf(sy) < 1e7f)) sx = sy = -2;   /* as in make_taps */
    float fx = floorf(sx), fy = floorf(sy), wx = sx - fx, wy = sy - fy;
    long xa = (long)fx, xb = xa + 1, ya = (long)fy, yb = ya + 1;
    float w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
    if (black_fill) {
        if (xa < 0 || xa >= width) w00 = w10 = 0;
        if (xb < 0 || xb >= width) w01 = w11 = 0;
        if (ya < 0 || ya >= height) w00 = w01 = 0;
        if (yb < 0 || yb >= height) w10 = w11 = 0;
    }
    xa = xa < 0 ? 0 : xa >= width ? width - 1 : xa, xb = xb < 0 ? 0 : xb >= width ? width - 1 : xb;
    ya = ya < 0 ? 0 : ya >= height ? height - 1 : ya, yb = yb < 0 ? 0 : yb >= height ? height - 1 : yb;
    const uint8_t *r0 = pixels + (size_t)ya * stride, *r1 = pixels + (size_t)yb * stride;
    for (int ch = 0; ch < 3; ch++)
        out[ch] = r0[xa * 3 + ch] * w00 + r0[xb * 3 + ch] * w01 + r1[xa * 3 + ch] * w10 + r1[xb * 3 + ch] * w11;
}

/* Narrows [*lo, *hi] to the x with 0 <= a + d x < limit: where all four taps of a
 * coordinate that moves by d per output pixel lie inside. */
static void narrow(float a, float d, float limit, float *lo, float *hi)
{
    if (d == 0) {
        if (!(a >= 0 && a < limit)) *lo = 1, *hi = 0;
        return;
    }
    float x0 = -a / d, x1 = (limit - a) / d;
    *lo = fmaxf(*lo, fminf(x0, x1)), *hi = fminf(*hi, fmaxf(x0, x1));
}

static mtfl_status render_rotated(const mtfl_view *v, const uint8_t *pixels, int width, int height,
                                  bool black_fill, float *chw, uint8_t *hwc)
{
    int n = v->size;
    inverse_map t = invert(v);
    size_t plane = (size_t)n * (size_t)n, stride = (size_t)width * 3;
    for (int y = 0; y < n; y++) {
        float ax = t.base_x + (float)y * t.dy_x, ay = t.base_y + (float)y * t.dy_y;
        /* the span of the row whose taps are all inside, a pixel in from each end so
         * that rounding cannot put a tap outside: there, no clamping and no floor */
        float lo = 0, hi = (float)n;
        narrow(ax, t.dx_x, (float)(width - 1), &lo, &hi);
        narrow(ay, t.dx_y, (float)(height - 1), &lo, &hi);
        int first = lo < hi ? (int)fmaxf(0, ceilf(lo) + 1) : n, end = lo < hi ? (int)fminf((float)n, floorf(hi) - 1) : n;
        if (end < first) end = first;
        for (int x = 0; x < n; x++) {
            float sx = ax + (float)x * t.dx_x, sy = ay + (float)x * t.dx_y, value[3];
            size_t at = (size_t)y * n + x;
            if (x >= first && x < end) {
                int xa = (int)sx, ya = (int)sy;   /* both >= 0: truncation is floor */
                float wx = sx - (float)xa, wy = sy - (float)ya;
                const uint8_t *r0 = pixels + (size_t)ya * stride + (size_t)xa * 3, *r1 = r0 + stride;
                for (int ch = 0; ch < 3; ch++) {
                    float top = r0[ch] + wx * (float)(r0[3 + ch] - r0[ch]);
                    float bottom = r1[ch] + wx * (float)(r1[3 + ch] - r1[ch]);
                    value[ch] = top + wy * (bottom - top);
                }
            } else {
                sample_edge(pixels, width, height, stride, black_fill, sx, sy, value);
            }
            for (int ch = 0; ch < 3; ch++) store(value[ch], ch, at, plane, chw, hwc);
        }
    }
    return MTFL_OK;
}

mtfl_status mtfl_render(const mtfl_view *v, const uint8_t *pixels, int width, int height,
                 bool black_fill, float *chw, uint8_t *hwc)
{
    if (v->rotated) return render_rotated(v, pixels, width, height, black_fill, chw, hwc);
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
                store(top * wy0 + bottom * wy1, ch, at, plane, chw, hwc);
            }
        }
    }
    if (cols != stack) free(cols);
    return MTFL_OK;
}
