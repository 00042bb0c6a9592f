/*
 * photometric.c - colour jitter, grayscale, blur and erasing on a rendered image
 * (float planes [3][n][n] in [0, 1]), after the geometric warp. The draws come from
 * their own counter-based stream, so that turning these on leaves every sample's
 * geometric jitter (and old runs' batches) as they were.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "rng.h"

enum {
    DRAW_BRIGHTNESS, DRAW_CONTRAST, DRAW_SATURATION, DRAW_GRAY, DRAW_BLUR, DRAW_SIGMA,
    DRAW_ERASE, DRAW_AREA, DRAW_ASPECT, DRAW_ERASE_X, DRAW_ERASE_Y, DRAW_NOISE,
    PHOTO_DRAWS_PER_SAMPLE = 16
};

/* BT.601, as mtfl_image_luma */
#define LUMA_R 0.299f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

mtfl_photo mtfl_photo_none(void)
{
    return (mtfl_photo){.brightness = 1, .contrast = 1, .saturation = 1};
}

static float factor(float strength, uint64_t seed, uint64_t at)
{
    return strength > 0 ? 1.0f + mtfl_uniform_at(seed, at, -strength, strength) : 1.0f;
}

/* The rectangle: area and aspect drawn, clipped to the image, placed uniformly. */
static void draw_rectangle(mtfl_photo *p, const mtfl_augment *a, int size, uint64_t seed, uint64_t at)
{
    float area = mtfl_uniform_at(seed, at + DRAW_AREA, a->erase_area[0], a->erase_area[1]) * (float)size * (float)size;
    float lo = logf(a->erase_aspect[0]), hi = logf(a->erase_aspect[1]);
    float aspect = expf(mtfl_uniform_at(seed, at + DRAW_ASPECT, lo, hi));   /* height / width */
    int w = (int)lroundf(sqrtf(area / aspect)), h = (int)lroundf(sqrtf(area * aspect));
    w = w > size ? size : w, h = h > size ? size : h;
    if (w < 1 || h < 1) return;
    p->erase_w = w, p->erase_h = h;
    p->erase_x = (int)(mtfl_uniform_at(seed, at + DRAW_ERASE_X, 0, 1) * (float)(size - w + 1));
    p->erase_y = (int)(mtfl_uniform_at(seed, at + DRAW_ERASE_Y, 0, 1) * (float)(size - h + 1));
    p->erase_x = p->erase_x > size - w ? size - w : p->erase_x;
    p->erase_y = p->erase_y > size - h ? size - h : p->erase_y;
    p->erase_mean = a->erase_mean;
    p->noise = mtfl_rng_bits(seed, at + DRAW_NOISE);
}

mtfl_photo mtfl_photo_draw(const mtfl_augment *a, int size, uint64_t seed, uint64_t stream)
{
    mtfl_photo p = mtfl_photo_none();
    if (!mtfl_augment_photometric(a)) return p;
    seed = mtfl_rng_mix(seed ^ 0x70686f746fULL);   /* "photo": apart from the geometric draws */
    uint64_t at = stream * PHOTO_DRAWS_PER_SAMPLE;
    p.brightness = factor(a->brightness, seed, at + DRAW_BRIGHTNESS);
    p.contrast = factor(a->contrast, seed, at + DRAW_CONTRAST);
    p.saturation = factor(a->saturation, seed, at + DRAW_SATURATION);
    p.gray = a->grayscale > 0 && mtfl_uniform_at(seed, at + DRAW_GRAY, 0, 1) < a->grayscale;
    if (a->blur > 0 && mtfl_uniform_at(seed, at + DRAW_BLUR, 0, 1) < a->blur)
        p.sigma = mtfl_uniform_at(seed, at + DRAW_SIGMA, a->blur_sigma[0], a->blur_sigma[1]);
    if (a->erase > 0 && a->erase_area[1] > 0 && mtfl_uniform_at(seed, at + DRAW_ERASE, 0, 1) < a->erase)
        draw_rectangle(&p, a, size, seed, at);
    return p;
}

/* ---- the operations ------------------------------------------------------------------ */

static inline float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

static void brighten(float *chw, size_t n, float f)
{
    for (size_t i = 0; i < 3 * n; i++) chw[i] = clamp01(chw[i] * f);
}

/* Blends with the image's mean gray: f 0 gives a flat gray image, 1 the image. */
static void set_contrast(float *chw, size_t n, float f)
{
    const float *r = chw, *g = chw + n, *b = chw + 2 * n;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
    float mean = (float)(sum / (double)n), keep = (1 - f) * mean;
    for (size_t i = 0; i < 3 * n; i++) chw[i] = clamp01(chw[i] * f + keep);
}

/* Blends each pixel with its own gray: f 0 is grayscale, 1 the image. */
static void saturate(float *chw, size_t n, float f)
{
    float *r = chw, *g = chw + n, *b = chw + 2 * n;
    for (size_t i = 0; i < n; i++) {
        float keep = (1 - f) * (LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i]);
        r[i] = clamp01(r[i] * f + keep), g[i] = clamp01(g[i] * f + keep), b[i] = clamp01(b[i] * f + keep);
    }
}

static void to_gray(float *chw, size_t n)
{
    float *r = chw, *g = chw + n, *b = chw + 2 * n;
    for (size_t i = 0; i < n; i++) r[i] = g[i] = b[i] = LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i];
}

#define MAX_RADIUS 60

/* Separable Gaussian, radius ceil(3 sigma), edges repeated; rows into tmp (each row
 * first copied with its edges repeated into pad, so that the taps need no bounds),
 * then columns back, a whole row at a time so that the inner loops run along memory. */
static void blur(float *chw, int size, float sigma, float *tmp, float *pad)
{
    int radius = (int)ceilf(3 * sigma);
    radius = radius > MAX_RADIUS ? MAX_RADIUS : radius;
    if (radius < 1) return;
    float w[MAX_RADIUS + 1], total = 0;
    for (int k = 0; k <= radius; k++) total += (k ? 2 : 1) * (w[k] = expf(-(float)(k * k) / (2 * sigma * sigma)));
    for (int k = 0; k <= radius; k++) w[k] /= total;
    size_t n = (size_t)size * (size_t)size;
    for (int ch = 0; ch < 3; ch++) {
        float *plane = chw + ch * n;
        for (int y = 0; y < size; y++) {
            const float *in = plane + (size_t)y * size;
            float *out = tmp + (size_t)y * size, *mid = pad + radius;
            for (int k = 1; k <= radius; k++) pad[radius - k] = in[0], mid[size - 1 + k] = in[size - 1];
            memcpy(mid, in, (size_t)size * sizeof *in);
            for (int x = 0; x < size; x++) out[x] = w[0] * mid[x];
            for (int k = 1; k <= radius; k++)
                for (int x = 0; x < size; x++) out[x] += w[k] * (mid[x - k] + mid[x + k]);
        }
        for (int y = 0; y < size; y++) {
            float *out = plane + (size_t)y * size;
            const float *mid = tmp + (size_t)y * size;
            for (int x = 0; x < size; x++) out[x] = w[0] * mid[x];
            for (int k = 1; k <= radius; k++) {
                const float *up = tmp + (size_t)(y - k < 0 ? 0 : y - k) * size;
                const float *down = tmp + (size_t)(y + k >= size ? size - 1 : y + k) * size;
                for (int x = 0; x < size; x++) out[x] += w[k] * (up[x] + down[x]);
            }
        }
    }
}

static void erase(const mtfl_photo *p, float *chw, int size)
{
    size_t n = (size_t)size * (size_t)size;
    float mean[3] = {0, 0, 0};
    for (int ch = 0; ch < 3 && p->erase_mean; ch++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += chw[ch * n + i];
        mean[ch] = (float)(sum / (double)n);
    }
    for (int ch = 0; ch < 3; ch++)
        for (int y = p->erase_y; y < p->erase_y + p->erase_h; y++)
            for (int x = p->erase_x; x < p->erase_x + p->erase_w; x++) {
                size_t at = ch * n + (size_t)y * size + x;
                chw[at] = p->erase_mean ? mean[ch] : mtfl_rng_uniform01(p->noise, at);
            }
}

mtfl_status mtfl_photo_apply(const mtfl_photo *p, float *chw, int size)
{
    size_t n = (size_t)size * (size_t)size;
    if (p->brightness != 1) brighten(chw, n, p->brightness);
    if (p->contrast != 1) set_contrast(chw, n, p->contrast);
    if (p->saturation != 1) saturate(chw, n, p->saturation);
    if (p->gray) to_gray(chw, n);
    if (p->sigma > 0) {
        float *tmp = malloc((n + (size_t)size + 2 * MAX_RADIUS) * sizeof *tmp);
        if (!tmp) return mtfl_fail(MTFL_ERR_OOM, "augment: out of memory to blur a %dx%d image", size, size);
        blur(chw, size, p->sigma, tmp, tmp + n);
        free(tmp);
    }
    if (p->erase_w > 0) erase(p, chw, size);
    return MTFL_OK;
}
