/*
 * augment.c - where an output pixel comes from. A sample has a box (the region of its
 * stored pixels that fills the output: the whole image for the seed protocol, the face
 * crop for the crop protocol); augmentation zooms and shifts that box, translates the
 * result horizontally and may mirror it. Landmarks go through the same map, so they
 * stay on the same facial points; a mirror also swaps left and right.
 */
#include <math.h>
#include <string.h>

#include "data_internal.h"

/* draws per sample: the streams of neighbouring samples never overlap */
enum { DRAW_ZOOM, DRAW_DX, DRAW_DY, DRAW_TRANSLATE, DRAW_MIRROR, DRAWS_PER_SAMPLE = 8 };

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
    return j;
}

mtfl_view mtfl_view_make(const float box[4], int size, const mtfl_jitter *j)
{
    float w = box[2] * j->zoom, h = box[3] * j->zoom;
    float cx = box[0] + box[2] * (0.5f + j->dx), cy = box[1] + box[3] * (0.5f + j->dy);
    return (mtfl_view){.origin_x = cx - w / 2, .origin_y = cy - h / 2,
                       .scale_x = (float)size / w, .scale_y = (float)size / h,
                       .translate = j->translate, .mirror = j->mirror, .size = size};
}

/* Left eye <-> right eye, left mouth corner <-> right mouth corner; the nose stays. */
static const int mirrored_point[MTFL_POINTS] = {1, 0, 2, 4, 3};

void mtfl_view_points(const mtfl_view *v, const float *in, float *out)
{
    float tmp[MTFL_COORDS];
    for (int k = 0; k < MTFL_POINTS; k++) {
        float x = (in[k] - v->origin_x) * v->scale_x + v->translate;
        tmp[k] = v->mirror ? (float)v->size - x : x;
        tmp[MTFL_POINTS + k] = (in[MTFL_POINTS + k] - v->origin_y) * v->scale_y;
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
