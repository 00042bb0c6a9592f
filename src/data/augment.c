/*
 * augment.c - where an output pixel comes from. A sample has a box (the region of its
 * stored pixels that fills the output: the whole image for the seed protocol, the face
 * crop for the crop protocol); augmentation zooms, shifts and turns that box,
 * translates the result horizontally and may mirror it, all as one affine map.
 * Landmarks go through the same map, so they stay on the same facial points; a mirror
 * also swaps left and right. The photometric draws are in photometric.c.
 */
#include <math.h>
#include <string.h>

#include "data_internal.h"

/* draws per sample: the streams of neighbouring samples never overlap */
enum { DRAW_ZOOM, DRAW_DX, DRAW_DY, DRAW_TRANSLATE, DRAW_MIRROR, DRAW_ROTATE, DRAWS_PER_SAMPLE = 8 };

#define DEG_TO_RAD 0.017453292519943295f

/* The ranges, field by field, so that the message names the one that is wrong. */
static mtfl_status check_range(const char *field, float v, float lo, float hi)
{
    if (v >= lo && v <= hi) return MTFL_OK;
    return mtfl_fail(MTFL_ERR_ARG, "augment: %s %g (%g..%g)", field, v, lo, hi);
}

static mtfl_status check_pair(const char *field, const float v[2], float lo, float hi)
{
    if (v[0] >= lo && v[0] <= v[1] && v[1] <= hi) return MTFL_OK;
    return mtfl_fail(MTFL_ERR_ARG, "augment: %s {%g, %g} (%g <= low <= high <= %g)", field, v[0], v[1], lo, hi);
}

mtfl_status mtfl_augment_check(const mtfl_augment *a)
{
    if (!(a->scale >= 0 && a->scale < 1))
        return mtfl_fail(MTFL_ERR_ARG, "augment: scale %g (0 <= scale < 1)", a->scale);
    mtfl_status s;
    if ((s = check_range("translate", a->translate, 0, 4096)) || (s = check_range("mirror", a->mirror, 0, 1)) ||
        (s = check_range("shift", a->shift, 0, 1)) || (s = check_range("rotate", a->rotate, 0, 180)) ||
        (s = check_range("brightness", a->brightness, 0, 1)) ||
        (s = check_range("contrast", a->contrast, 0, 1)) ||
        (s = check_range("saturation", a->saturation, 0, 1)) ||
        (s = check_range("grayscale", a->grayscale, 0, 1)) || (s = check_range("blur.p", a->blur, 0, 1)) ||
        (s = check_range("erase.p", a->erase, 0, 1)))
        return s;
    if (a->blur > 0 && (s = check_pair("blur.sigma", a->blur_sigma, 0, 20))) return s;
    if (a->erase > 0 && ((s = check_pair("erase.area", a->erase_area, 0, 1)) ||
                         (s = check_pair("erase.aspect", a->erase_aspect, 0.01f, 100))))
        return s;
    return MTFL_OK;
}

bool mtfl_augment_photometric(const mtfl_augment *a)
{
    return a && (a->brightness > 0 || a->contrast > 0 || a->saturation > 0 || a->grayscale > 0 ||
                 (a->blur > 0 && a->blur_sigma[1] > 0) || (a->erase > 0 && a->erase_area[1] > 0));
}

mtfl_jitter mtfl_jitter_none(void)
{
    return (mtfl_jitter){.zoom = 1.0f};
}

mtfl_jitter mtfl_jitter_draw(const mtfl_augment *a, uint64_t seed, uint64_t stream)
{
    uint64_t at = stream * DRAWS_PER_SAMPLE;
    mtfl_jitter j = mtfl_jitter_none();
    if (!a) return j;
    if (a->scale > 0) j.zoom = 1.0f + mtfl_uniform_at(seed, at + DRAW_ZOOM, -a->scale, a->scale);
    if (a->shift > 0) {
        j.dx = mtfl_uniform_at(seed, at + DRAW_DX, -a->shift, a->shift);
        j.dy = mtfl_uniform_at(seed, at + DRAW_DY, -a->shift, a->shift);
    }
    /* whole pixels: a translation alone then moves pixels without resampling them */
    if (a->translate > 0)
        j.translate = roundf(mtfl_uniform_at(seed, at + DRAW_TRANSLATE, -a->translate, a->translate));
    if (a->mirror > 0) j.mirror = mtfl_uniform_at(seed, at + DRAW_MIRROR, 0, 1) < a->mirror;
    if (a->rotate > 0) j.rotate = mtfl_uniform_at(seed, at + DRAW_ROTATE, -a->rotate, a->rotate);
    return j;
}

mtfl_view mtfl_view_make(const float box[4], int size, const mtfl_jitter *j)
{
    float w = box[2] * j->zoom, h = box[3] * j->zoom;
    float cx = box[0] + box[2] * (0.5f + j->dx), cy = box[1] + box[3] * (0.5f + j->dy);
    mtfl_view v = {.origin_x = cx - w / 2, .origin_y = cy - h / 2,
                   .scale_x = (float)size / w, .scale_y = (float)size / h,
                   .translate = j->translate, .mirror = j->mirror, .cos_a = 1, .size = size};
    /* no rotation stays exactly axis aligned: cos and sin of 0 through the general
     * path would still round the points differently */
    if (j->rotate != 0) {
        v.rotated = true;
        v.cos_a = cosf(j->rotate * DEG_TO_RAD), v.sin_a = sinf(j->rotate * DEG_TO_RAD);
    }
    return v;
}

/* Left eye <-> right eye, left mouth corner <-> right mouth corner; the nose stays. */
static const int mirrored_point[MTFL_POINTS] = {1, 0, 2, 4, 3};

void mtfl_view_points(const mtfl_view *v, const float *in, float *out)
{
    float tmp[MTFL_COORDS];
    float c = 0.5f * (float)v->size;
    for (int k = 0; k < MTFL_POINTS; k++) {
        float x = (in[k] - v->origin_x) * v->scale_x, y = (in[MTFL_POINTS + k] - v->origin_y) * v->scale_y;
        if (v->rotated) {
            float du = x - c, dv = y - c;
            x = c + v->cos_a * du - v->sin_a * dv;
            y = c + v->sin_a * du + v->cos_a * dv;
        }
        x += v->translate;
        tmp[k] = v->mirror ? (float)v->size - x : x;
        tmp[MTFL_POINTS + k] = y;
    }
    for (int k = 0; k < MTFL_POINTS; k++) {
        int from = v->mirror ? mirrored_point[k] : k;
        out[k] = tmp[from];
        out[MTFL_POINTS + k] = tmp[MTFL_POINTS + from];
    }
}

void mtfl_mirror_points(const float *in, float width, float *out)
{
    float tmp[MTFL_COORDS];
    for (int k = 0; k < MTFL_POINTS; k++) {
        int from = mirrored_point[k];
        tmp[k] = width - in[from];
        tmp[MTFL_POINTS + k] = in[MTFL_POINTS + from];
    }
    memcpy(out, tmp, sizeof tmp);
}

int mtfl_mirror_pose(int pose) { return pose >= 1 && pose <= 5 ? 6 - pose : pose; }

mtfl_status mtfl_render_sample(const mtfl_set *s, int i, int size, const mtfl_jitter *j,
                               bool black_fill, float *chw, uint8_t *hwc,
                               float points[MTFL_COORDS], uint8_t attr[MTFL_ATTRS])
{
    if (i < 0 || i >= s->count)
        return mtfl_fail(MTFL_ERR_ARG, "set %s: sample %d out of range 1..%d", s->name, i + 1, s->count);
    const mtfl_sample *m = &s->samples[i];
    mtfl_view v = mtfl_view_make(m->box, size, j);
    if (chw || hwc) {
        if (!s->pixels)
            return mtfl_fail(MTFL_ERR_ARG, "set %s: no pixels (it was loaded to count, not decode)", s->name);
        mtfl_status st = mtfl_render(&v, s->pixels + m->offset, m->width, m->height, black_fill, chw, hwc);
        if (st) return st;
    }
    if (points) mtfl_view_points(&v, m->points, points);
    if (attr) {
        memcpy(attr, m->attr, MTFL_ATTRS);
        if (j->mirror) attr[MTFL_POSE] = (uint8_t)mtfl_mirror_pose(m->attr[MTFL_POSE]);
    }
    return MTFL_OK;
}
