/*
 * synthetic.c - simple faces with known landmarks and attributes, for a machine without
 * the MTFL data (the quickstart, the tests). Each face is a pure function of (seed,
 * index, size): the same face whatever the number of faces or threads.
 *
 * The attributes are drawn, then shown the way a camera would show them:
 *   pose    the head turns (yaw -60..60 degrees): eyes, nose and mouth sit on a
 *           rounded head and slide sideways, the far side foreshortened
 *   glasses dark rims around the eyes and a bridge
 *   smile   the mouth corners rise and the mouth opens on teeth
 *   gender  long hair to the shoulders and a narrower face (female), short hair and
 *           sometimes a beard (male)
 * with random roll, position, size, skin, hair, lighting, background and noise, so
 * that the task is learnable but not trivial.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "rng.h"

#define PI_F 3.14159265358979f

typedef struct { float x, y; } vec2;

typedef struct {
    int pose, glasses, gender, smile;     /* 1-based, as in the files */
    float yaw, roll;                      /* radians */
    vec2 centre;
    float a, b;                           /* head half-width and half-height */
    mtfl_rgb skin, hair, background[2], shirt, iris, lips;
    float light;
    bool beard;
} face;

typedef struct {
    uint64_t seed, index;
    int next;
} draws;

static float draw(draws *d, float lo, float hi)
{
    return mtfl_uniform_at(d->seed, d->index * 64 + (uint64_t)d->next++, lo, hi);
}

static int pick(draws *d, const float *weights, int n)
{
    float u = draw(d, 0, 1), acc = 0;
    for (int k = 0; k < n; k++)
        if (u < (acc += weights[k])) return k + 1;
    return n;
}

static mtfl_rgb rgb(float r, float g, float b)
{
    return (mtfl_rgb){(uint8_t)fminf(255, fmaxf(0, r)), (uint8_t)fminf(255, fmaxf(0, g)),
                      (uint8_t)fminf(255, fmaxf(0, b))};
}

/* Roughly MTFL's balance: mostly frontal, some glasses, both genders, half smiling. */
static void draw_attributes(face *f, draws *d)
{
    static const float pose_weights[5] = {0.08f, 0.15f, 0.54f, 0.15f, 0.08f};
    f->pose = pick(d, pose_weights, 5);
    f->glasses = draw(d, 0, 1) < 0.25f ? 1 : 2;
    f->gender = draw(d, 0, 1) < 0.5f ? 1 : 2;
    f->smile = draw(d, 0, 1) < 0.5f ? 1 : 2;
}

static void draw_appearance(face *f, draws *d, int size)
{
    float s = (float)size;
    f->yaw = ((float)(f->pose - 3) * 30.0f + draw(d, -7, 7)) * PI_F / 180;
    f->roll = draw(d, -8, 8) * PI_F / 180;
    f->a = s * draw(d, 0.26f, 0.31f) * (f->gender == 2 ? 0.94f : 1.0f);
    f->b = f->a * draw(d, 1.2f, 1.32f);
    f->centre = (vec2){s * draw(d, 0.45f, 0.55f), s * draw(d, 0.46f, 0.54f)};
    float tone = draw(d, 120, 235);
    f->skin = rgb(tone, tone * draw(d, 0.72f, 0.85f), tone * draw(d, 0.55f, 0.72f));
    float h = draw(d, 20, 200);
    f->hair = rgb(h, h * draw(d, 0.7f, 0.9f), h * draw(d, 0.4f, 0.7f));
    for (int k = 0; k < 2; k++) f->background[k] = rgb(draw(d, 20, 235), draw(d, 20, 235), draw(d, 20, 235));
    f->shirt = rgb(draw(d, 0, 255), draw(d, 0, 255), draw(d, 0, 255));
    f->iris = rgb(draw(d, 20, 90), draw(d, 20, 80), draw(d, 10, 70));
    f->lips = rgb(draw(d, 140, 200), draw(d, 50, 90), draw(d, 50, 90));
    f->light = draw(d, 0.75f, 1.15f);
    f->beard = f->gender == 1 && draw(d, 0, 1) < 0.3f;
}

/* A point on the head: horizontal angle phi around it and height v (in half-heights
 * from the centre), protruding by depth; turned by yaw, then rolled. *visible is the
 * foreshortening of a feature there (1 facing the camera). */
static vec2 head_point(const face *f, float phi, float v, float depth, float *visible)
{
    float x = f->a * (1 + depth) * sinf(phi + f->yaw), y = f->b * v;
    if (visible) *visible = fmaxf(0.25f, cosf(phi + f->yaw));
    float c = cosf(f->roll), s = sinf(f->roll);
    return (vec2){f->centre.x + c * x - s * y, f->centre.y + s * x + c * y};
}

static void ellipse(mtfl_image *img, vec2 p, float rx, float ry, float angle, float stroke,
                    mtfl_rgb c, float alpha)
{
    mtfl_ellipse e = {p.x, p.y, rx, ry, angle, stroke};
    mtfl_draw_ellipse(img, &e, c, alpha);
}

static void paint_background(mtfl_image *img, const face *f)
{
    for (int y = 0; y < img->height; y++) {
        float t = (float)y / (float)img->height;
        mtfl_rgb c = rgb(f->background[0].r * (1 - t) + f->background[1].r * t,
                         f->background[0].g * (1 - t) + f->background[1].g * t,
                         f->background[0].b * (1 - t) + f->background[1].b * t);
        mtfl_draw_rect(img, 0, y, img->width, 1, c);
    }
}

static void paint_head(mtfl_image *img, const face *f)
{
    float s = (float)img->width;
    /* body and hair stay under the skull as the face turns: angle -yaw is its middle */
    vec2 neck = head_point(f, -f->yaw, 1.0f, 0, NULL);
    ellipse(img, (vec2){neck.x, s * 1.08f}, f->a * 2.2f, s * 0.25f, 0, 0, f->shirt, 1);
    ellipse(img, neck, f->a * 0.42f, f->b * 0.55f, f->roll, 0, f->skin, 1);
    if (f->gender == 2)   /* long hair behind the head, down to the shoulders */
        ellipse(img, head_point(f, -f->yaw, 0.35f, 0, NULL), f->a * 1.3f, f->b * 1.3f, f->roll, 0, f->hair, 1);
    ellipse(img, f->centre, f->a, f->b, f->roll, 0, f->skin, 1);
    if (f->beard)
        ellipse(img, head_point(f, 0, 0.62f, 0, NULL), f->a * 0.75f, f->b * 0.42f, f->roll, 0, f->hair, 0.85f);
    /* the hairline: a cap over the top of the head, lower and fuller for long hair */
    vec2 top = head_point(f, -0.5f * f->yaw, f->gender == 2 ? -0.75f : -0.85f, 0, NULL);
    ellipse(img, top, f->a * (f->gender == 2 ? 1.08f : 1.02f), f->b * (f->gender == 2 ? 0.5f : 0.38f),
            f->roll, 0, f->hair, 1);
}

static vec2 paint_eye(mtfl_image *img, const face *f, float side)
{
    float fore;
    vec2 p = head_point(f, side * 0.45f, -0.16f, 0, &fore);
    vec2 brow = head_point(f, side * 0.45f, -0.34f, 0, NULL);
    mtfl_rgb dark = rgb(f->hair.r * 0.6f, f->hair.g * 0.6f, f->hair.b * 0.6f);
    ellipse(img, brow, f->a * 0.2f * fore, f->a * 0.04f, f->roll, 0, dark, 1);
    ellipse(img, p, f->a * 0.17f * fore, f->a * 0.085f, f->roll, 0, rgb(240, 240, 235), 1);
    ellipse(img, p, f->a * 0.075f * fore, f->a * 0.075f, f->roll, 0, f->iris, 1);
    ellipse(img, p, f->a * 0.035f * fore, f->a * 0.035f, f->roll, 0, rgb(10, 10, 10), 1);
    if (f->glasses == 1)
        ellipse(img, p, f->a * 0.3f * fore, f->a * 0.22f, f->roll, fmaxf(1.2f, f->a * 0.05f), rgb(25, 25, 30), 1);
    return p;
}

static vec2 paint_nose(mtfl_image *img, const face *f)
{
    vec2 tip = head_point(f, 0, 0.16f, 0.28f, NULL);
    vec2 root = head_point(f, 0, -0.15f, 0.1f, NULL);
    mtfl_rgb shade = rgb(f->skin.r * 0.7f, f->skin.g * 0.7f, f->skin.b * 0.7f);
    mtfl_draw_line(img, root.x, root.y, tip.x, tip.y, fmaxf(1.0f, f->a * 0.05f), shade);
    ellipse(img, tip, f->a * 0.12f, f->a * 0.06f, f->roll, 0, shade, 0.9f);
    return tip;
}

/* The mouth: a curve through the corners that sags in the middle for a smile. */
static void paint_mouth(mtfl_image *img, const face *f, vec2 *left, vec2 *right)
{
    float lift = f->smile == 1 ? 0.09f : 0.0f;
    *left = head_point(f, -0.36f, 0.5f - lift, 0, NULL);
    *right = head_point(f, 0.36f, 0.5f - lift, 0, NULL);
    vec2 mid = head_point(f, 0, 0.5f + (f->smile == 1 ? 0.08f : 0.0f), 0.05f, NULL);
    if (f->smile == 1) {   /* an open mouth showing teeth */
        vec2 teeth = head_point(f, 0, 0.5f + 0.02f, 0.05f, NULL);
        float half = hypotf(right->x - left->x, right->y - left->y) / 2;
        ellipse(img, teeth, half * 0.8f, f->a * 0.1f, f->roll, 0, rgb(245, 245, 240), 1);
    }
    float width = fmaxf(1.2f, f->a * 0.06f);
    vec2 prev = *left;
    for (int k = 1; k <= 12; k++) {   /* a quadratic Bezier left -> mid -> right */
        float t = (float)k / 12, u = 1 - t;
        vec2 control = {2 * mid.x - (left->x + right->x) / 2, 2 * mid.y - (left->y + right->y) / 2};
        vec2 p = {u * u * left->x + 2 * u * t * control.x + t * t * right->x,
                  u * u * left->y + 2 * u * t * control.y + t * t * right->y};
        mtfl_draw_line(img, prev.x, prev.y, p.x, p.y, width, f->lips);
        prev = p;
    }
}

static void paint_glasses_bridge(mtfl_image *img, const face *f, vec2 l, vec2 r)
{
    float fl, fr;
    head_point(f, -0.45f, -0.16f, 0, &fl);
    head_point(f, 0.45f, -0.16f, 0, &fr);
    float dx = r.x - l.x, dy = r.y - l.y, len = hypotf(dx, dy);
    if (len < 1) return;
    float ux = dx / len, uy = dy / len, ol = f->a * 0.3f * fl, orr = f->a * 0.3f * fr;
    mtfl_draw_line(img, l.x + ux * ol, l.y + uy * ol, r.x - ux * orr, r.y - uy * orr,
                   fmaxf(1.0f, f->a * 0.04f), rgb(25, 25, 30));
}

/* Lighting and sensor noise over the whole picture. */
static void finish(mtfl_image *img, const face *f, uint64_t seed, uint64_t index)
{
    size_t n = (size_t)img->width * (size_t)img->height * 3;
    uint64_t stream = mtfl_rng_bits(seed ^ 0x6e6f697365ULL, index);   /* "noise" */
    for (size_t i = 0; i < n; i++) {
        float noise = (float)(mtfl_rng_bits(stream, i) >> 40) * (1.0f / 16777216.0f) * 16 - 8;
        float v = (float)img->pixels[i] * f->light + noise;
        img->pixels[i] = (uint8_t)fminf(255, fmaxf(0, v + 0.5f));
    }
}

mtfl_status mtfl_synth_face(uint64_t seed, uint64_t index, int size, uint8_t *pixels,
                            float points[MTFL_COORDS], uint8_t attr[MTFL_ATTRS])
{
    if (size < 16 || size > 2048) return mtfl_fail(MTFL_ERR_ARG, "synthetic: size %d (16..2048)", size);
    draws d = {seed, index, 0};
    face f;
    draw_attributes(&f, &d);
    draw_appearance(&f, &d, size);
    mtfl_image img = {size, size, 3, pixels};
    paint_background(&img, &f);
    paint_head(&img, &f);
    vec2 eyes[2] = {paint_eye(&img, &f, -1), paint_eye(&img, &f, 1)};
    if (f.glasses == 1) paint_glasses_bridge(&img, &f, eyes[0], eyes[1]);
    vec2 nose = paint_nose(&img, &f), mouth[2];
    paint_mouth(&img, &f, &mouth[0], &mouth[1]);
    finish(&img, &f, seed, index);
    vec2 pts[MTFL_POINTS] = {eyes[0], eyes[1], nose, mouth[0], mouth[1]};
    for (int k = 0; k < MTFL_POINTS; k++) points[k] = pts[k].x, points[MTFL_POINTS + k] = pts[k].y;
    uint8_t a[MTFL_ATTRS] = {(uint8_t)f.gender, (uint8_t)f.smile, (uint8_t)f.glasses, (uint8_t)f.pose};
    memcpy(attr, a, sizeof a);
    return MTFL_OK;
}

typedef struct {
    mtfl_set *set;
    uint64_t seed;
} synth_job;

static void synth_worker(int i, void *ctx)
{
    synth_job *job = ctx;
    mtfl_sample *m = &job->set->samples[i];
    mtfl_synth_face(job->seed, (uint64_t)i, job->set->size, job->set->pixels + m->offset, m->points, m->attr);
}

mtfl_set *mtfl_synth_set(int n, int size, uint64_t seed, int threads)
{
    if (n < 0 || size < 16 || size > 2048) {
        mtfl_fail(MTFL_ERR_ARG, "synthetic: %d faces of size %d (size 16..2048)", n, size);
        return NULL;
    }
    uint64_t bytes = (uint64_t)size * (uint64_t)size * 3;
    mtfl_set *s = mtfl_set_new("synthetic", n, size, bytes * (uint64_t)n, 24 * (uint64_t)(n + 1));
    if (!s) return NULL;
    for (int i = 0; i < n; i++) {
        mtfl_sample *m = &s->samples[i];
        char path[32];
        snprintf(path, sizeof path, "synthetic/%06d.png", i + 1);
        if (mtfl_set_add_string(s, path, &m->path)) {
            mtfl_set_release(s);
            return NULL;
        }
        m->offset = bytes * (uint64_t)i;
        m->width = m->height = m->file_width = m->file_height = size;
        m->box[2] = m->box[3] = (float)size;
        m->scale[0] = m->scale[1] = 1;
    }
    synth_job job = {s, seed};
    mtfl_parallel_for(n, threads, synth_worker, &job);
    return s;
}
