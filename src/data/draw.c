/*
 * draw.c - marks, lines and text on uint8 RGB images, for the annotated faces of the
 * contact sheets. Shapes are drawn by coverage: a pixel takes the colour in proportion
 * to how far inside the shape its centre lies, within half a pixel, which antialiases
 * edges without supersampling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-braces"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#include "data_internal.h"

static void blend(mtfl_image *img, int x, int y, mtfl_rgb c, float alpha)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height || alpha <= 0) return;
    if (alpha > 1) alpha = 1;
    uint8_t *p = img->pixels + ((size_t)y * (size_t)img->width + (size_t)x) * (size_t)img->channels;
    uint8_t rgb[3] = {c.r, c.g, c.b};
    for (int k = 0; k < img->channels && k < 3; k++)
        p[k] = (uint8_t)lroundf((float)p[k] * (1 - alpha) + (float)rgb[k] * alpha);
}

void mtfl_draw_fill(mtfl_image *img, mtfl_rgb c)
{
    mtfl_draw_rect(img, 0, 0, img->width, img->height, c);
}

void mtfl_draw_rect(mtfl_image *img, int x, int y, int w, int h, mtfl_rgb c)
{
    for (int j = y < 0 ? 0 : y; j < y + h && j < img->height; j++)
        for (int i = x < 0 ? 0 : x; i < x + w && i < img->width; i++) blend(img, i, j, c, 1);
}

/* Distance from p to the segment a-b. */
static float segment_distance(float px, float py, float ax, float ay, float bx, float by)
{
    float dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    float t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return hypotf(px - (ax + t * dx), py - (ay + t * dy));
}

/* How far outside the mark a point lies (negative inside). */
static float mark_distance(mtfl_mark mark, float dx, float dy, float r)
{
    float w = fmaxf(1.0f, r / 3);
    switch (mark) {
    case MTFL_MARK_DISC: return hypotf(dx, dy) - r;
    case MTFL_MARK_RING: return fabsf(hypotf(dx, dy) - r + w / 2) - w / 2;
    default: {
        float d1 = segment_distance(dx, dy, -r, -r, r, r), d2 = segment_distance(dx, dy, -r, r, r, -r);
        return fminf(d1, d2) - w / 2;
    }
    }
}

void mtfl_draw_mark(mtfl_image *img, float x, float y, float radius, mtfl_mark mark, mtfl_rgb c)
{
    if (!isfinite(x) || !isfinite(y) || !(radius > 0) || radius > 1e4f) return;
    int x0 = (int)floorf(x - radius - 1), x1 = (int)ceilf(x + radius + 1);
    int y0 = (int)floorf(y - radius - 1), y1 = (int)ceilf(y + radius + 1);
    if (x1 < 0 || y1 < 0 || x0 >= img->width || y0 >= img->height) return;
    for (int j = y0 < 0 ? 0 : y0; j <= y1 && j < img->height; j++)
        for (int i = x0 < 0 ? 0 : x0; i <= x1 && i < img->width; i++)
            blend(img, i, j, c, 0.5f - mark_distance(mark, (float)i + 0.5f - x, (float)j + 0.5f - y, radius));
}

/* Signed distance to an ellipse, to first order: (k - 1) / |grad k| with k the
 * ellipse's implicit function, exact on the boundary, good within a few pixels. */
static float ellipse_distance(float qx, float qy, float rx, float ry)
{
    float k = sqrtf(qx * qx / (rx * rx) + qy * qy / (ry * ry));
    float g = sqrtf(qx * qx / (rx * rx * rx * rx) + qy * qy / (ry * ry * ry * ry));
    return g > 1e-12f ? (k * k - k) / g : -fminf(rx, ry);
}

void mtfl_draw_ellipse(mtfl_image *img, const mtfl_ellipse *e, mtfl_rgb c, float alpha)
{
    if (!(e->rx > 0.1f && e->ry > 0.1f) || !isfinite(e->x) || !isfinite(e->y)) return;
    float reach = fmaxf(e->rx, e->ry) + e->stroke + 1, cs = cosf(e->angle), sn = sinf(e->angle);
    int x0 = (int)floorf(e->x - reach), x1 = (int)ceilf(e->x + reach);
    int y0 = (int)floorf(e->y - reach), y1 = (int)ceilf(e->y + reach);
    for (int j = y0 < 0 ? 0 : y0; j <= y1 && j < img->height; j++)
        for (int i = x0 < 0 ? 0 : x0; i <= x1 && i < img->width; i++) {
            float dx = (float)i + 0.5f - e->x, dy = (float)j + 0.5f - e->y;
            float d = ellipse_distance(cs * dx + sn * dy, -sn * dx + cs * dy, e->rx, e->ry);
            if (e->stroke > 0) d = fabsf(d) - e->stroke / 2;
            blend(img, i, j, c, alpha * fminf(1.0f, 0.5f - d));
        }
}

void mtfl_draw_line(mtfl_image *img, float x0, float y0, float x1, float y1, float width, mtfl_rgb c)
{
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || !(width > 0)) return;
    float pad = width / 2 + 1;
    int i0 = (int)floorf(fminf(x0, x1) - pad), i1 = (int)ceilf(fmaxf(x0, x1) + pad);
    int j0 = (int)floorf(fminf(y0, y1) - pad), j1 = (int)ceilf(fmaxf(y0, y1) + pad);
    i0 = i0 < 0 ? 0 : i0, j0 = j0 < 0 ? 0 : j0;
    for (int j = j0; j <= j1 && j < img->height; j++)
        for (int i = i0; i <= i1 && i < img->width; i++) {
            float d = segment_distance((float)i + 0.5f, (float)j + 0.5f, x0, y0, x1, y1);
            blend(img, i, j, c, 0.5f - (d - width / 2));
        }
}

/* stb_easy_font indexes a table by character: only printable ASCII may reach it. */
static void printable(char *out, size_t size, const char *text)
{
    size_t n = 0;
    for (; text[n] && n + 1 < size; n++) {
        unsigned char ch = (unsigned char)text[n];
        out[n] = ch == '\n' || (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    out[n] = '\0';
}

int mtfl_text_width(const char *text, int scale)
{
    char safe[256];
    printable(safe, sizeof safe, text);
    return stb_easy_font_width(safe) * (scale < 1 ? 1 : scale);
}

int mtfl_draw_text(mtfl_image *img, int x, int y, const char *text, int scale, mtfl_rgb c)
{
    /* stb_easy_font gives quads (4 vertices of x, y, z, colour: 64 bytes): filled
     * rectangles; 255 characters need at most a few thousand */
    enum { MAX_QUADS = 4000 };
    float *quads = malloc((size_t)MAX_QUADS * 64);
    if (!quads) return 0;
    unsigned char colour[4] = {255, 255, 255, 255};
    char safe[256];
    printable(safe, sizeof safe, text);
    scale = scale < 1 ? 1 : scale;
    int n = stb_easy_font_print(0, 0, safe, colour, quads, MAX_QUADS * 64);
    for (int q = 0; q < n; q++) {
        const float *v = quads + (size_t)q * 16;   /* vertex 0 and vertex 2 are opposite corners */
        int qx = (int)v[0], qy = (int)v[1], qw = (int)v[8] - qx, qh = (int)v[9] - qy;
        mtfl_draw_rect(img, x + qx * scale, y + qy * scale, qw * scale, qh * scale, c);
    }
    free(quads);
    return stb_easy_font_width(safe) * scale;
}

mtfl_status mtfl_draw_paste(mtfl_image *dst, const mtfl_image *src, int x, int y)
{
    if (dst->channels != src->channels)
        return mtfl_fail(MTFL_ERR_ARG, "paste: %d channels into %d", src->channels, dst->channels);
    for (int j = 0; j < src->height; j++) {
        int dy = y + j;
        if (dy < 0 || dy >= dst->height) continue;
        int i0 = x < 0 ? -x : 0, i1 = x + src->width > dst->width ? dst->width - x : src->width;
        if (i1 <= i0) return MTFL_OK;
        size_t c = (size_t)src->channels;
        memcpy(dst->pixels + ((size_t)dy * (size_t)dst->width + (size_t)(x + i0)) * c,
               src->pixels + ((size_t)j * (size_t)src->width + (size_t)i0) * c, (size_t)(i1 - i0) * c);
    }
    return MTFL_OK;
}
