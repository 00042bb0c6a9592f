/*
 * protocols.c - which faces form training, validation and test, and the geometry each
 * is stored with.
 *
 *   seed: training images that are square and in colour (LFW 250x250, net 400x400),
 *         whole images resized to SIZE x SIZE; validation = the first 1,000 faces of
 *         testing.txt, test = the rest.
 *   crop: every training face cut to the geometry of the AFLW test crops (eye-mouth
 *         distance 0.316 of the side, centred on the midpoint of eyes and mouth), kept
 *         with a margin of the face's real surroundings for the scale, shift and
 *         rotation jitter; validation and test as above.
 *
 * In testing.txt the eye-mouth distance is 0.316 +- 0.025 of the side, and the image
 * centre sits at the eye-mouth midpoint to within 0.04 of the distance: that midpoint
 * is the crop centre here.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

mtfl_protocol mtfl_protocol_defaults(mtfl_protocol_kind kind)
{
    mtfl_protocol p = {.kind = kind, .size = 150, .validation = 1000, .eye_mouth = 0.316f,
                       .on_error = MTFL_ON_ERROR_STOP};
    if (kind == MTFL_PROTOCOL_CROP) p.jitter = (mtfl_augment){.scale = 0.1f, .shift = 0.05f};
    return p;
}

const char *mtfl_protocol_name(mtfl_protocol_kind kind)
{
    return kind == MTFL_PROTOCOL_SEED ? "seed" : kind == MTFL_PROTOCOL_CROP ? "crop" : "?";
}

void mtfl_plan_whole(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h, int size)
{
    *pl = (mtfl_plan){.face = f, .file_w = h->width, .file_h = h->height,
                      .gray = h->channels < 3, .resize_w = size, .resize_h = size,
                      .width = size, .height = size, .box = {0, 0, (float)size, (float)size}};
}

static float midpoint_distance(const float *pts, float *cx, float *cy)
{
    float ex = (pts[0] + pts[1]) / 2, ey = (pts[5] + pts[6]) / 2;   /* eyes */
    float mx = (pts[3] + pts[4]) / 2, my = (pts[8] + pts[9]) / 2;   /* mouth corners */
    *cx = (ex + mx) / 2, *cy = (ey + my) / 2;
    return hypotf(ex - mx, ey - my);
}

void mtfl_plan_square(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h, float cx, float cy,
                      float side, int size, float margin)
{
    /* Stored at the resolution that renders the square at size pixels, or the file's
     * own when that is lower: LFW faces are smaller than 150 pixels to begin with. */
    float r = fminf(1.0f, (float)size / side);
    int rw = (int)lroundf((float)h->width * r), rh = (int)lroundf((float)h->height * r);
    rw = rw < 1 ? 1 : rw, rh = rh < 1 ? 1 : rh;
    float rx = (float)rw / (float)h->width, ry = (float)rh / (float)h->height;
    int win = (int)ceilf(side * fmaxf(rx, ry) * margin) + 2;
    *pl = (mtfl_plan){.face = f, .file_w = h->width, .file_h = h->height,
                      .gray = h->channels < 3, .resize_w = rw, .resize_h = rh,
                      .win_x = (int)lroundf(cx * rx - (float)win / 2),
                      .win_y = (int)lroundf(cy * ry - (float)win / 2),
                      .width = win, .height = win};
    pl->box[2] = side * rx, pl->box[3] = side * ry;
    pl->box[0] = cx * rx - (float)pl->win_x - pl->box[2] / 2;
    pl->box[1] = cy * ry - (float)pl->win_y - pl->box[3] / 2;
}

bool mtfl_plan_crop(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h,
                    const mtfl_protocol *p, char *problem, size_t size)
{
    float cx, cy, d = midpoint_distance(f->points, &cx, &cy);
    if (!(d >= 2.0f)) {
        snprintf(problem, size, "line %d (%s): eyes and mouth %.2f pixels apart: cannot crop",
                 f->line, f->path, d);
        return false;
    }
    /* room for the largest jittered box: zoomed out by 1 + scale, turned (its corners
     * reach out to cos + sin of the side, at most sqrt 2 at 45 degrees), moved by shift */
    float turn = fminf(fmaxf(0.0f, p->jitter.rotate), 45.0f) * 0.017453292519943295f;
    float margin = (1.0f + fmaxf(0.0f, p->jitter.scale)) * (cosf(turn) + sinf(turn)) +
                   2.0f * fmaxf(0.0f, p->jitter.shift);
    mtfl_plan_square(pl, f, h, cx, cy, d / p->eye_mouth, p->size, margin);
    return true;
}

void mtfl_plan_points(const mtfl_plan *pl, float *out)
{
    float rx = (float)pl->resize_w / (float)pl->file_w, ry = (float)pl->resize_h / (float)pl->file_h;
    for (int k = 0; k < MTFL_POINTS; k++) {
        out[k] = pl->face->points[k] * rx - (float)pl->win_x;
        out[MTFL_POINTS + k] = pl->face->points[MTFL_POINTS + k] * ry - (float)pl->win_y;
    }
}

static mtfl_status alloc_plans(mtfl_plans *pl, int train, int test)
{
    memset(pl, 0, sizeof *pl);
    pl->set[0] = malloc((size_t)(train ? train : 1) * sizeof(mtfl_plan));
    pl->set[1] = malloc((size_t)(test ? test : 1) * sizeof(mtfl_plan));
    pl->set[2] = malloc((size_t)(test ? test : 1) * sizeof(mtfl_plan));
    if (pl->set[0] && pl->set[1] && pl->set[2]) return MTFL_OK;
    mtfl_plans_free(pl);
    return mtfl_fail(MTFL_ERR_OOM, "protocol: out of memory");
}

void mtfl_plans_free(mtfl_plans *pl)
{
    for (int k = 0; k < 3; k++) free(pl->set[k]);
    memset(pl, 0, sizeof *pl);
}

/* The training faces: all of them cropped, or the square colour ones whole. */
static mtfl_status plan_training(const mtfl_protocol *p, const mtfl_annotations *a,
                                 const mtfl_header *hdr, mtfl_plans *out, mtfl_dataset *d)
{
    for (int i = 0; i < a->count; i++) {
        const mtfl_header *h = &hdr[i];
        if (!h->ok) continue;
        mtfl_plan *pl = &out->set[0][out->count[0]];
        if (p->kind == MTFL_PROTOCOL_SEED) {
            if (h->width != h->height) { d->dropped_nonsquare++; continue; }
            if (h->channels < 3) { d->dropped_gray++; continue; }
            mtfl_plan_whole(pl, &a->faces[i], h, p->size);
        } else {
            char problem[300];
            if (!mtfl_plan_crop(pl, &a->faces[i], h, p, problem, sizeof problem)) {
                if (p->on_error == MTFL_ON_ERROR_STOP)
                    return mtfl_fail(MTFL_ERR_ARG, "%s: %s", a->file, problem);
                mtfl_problems_add(&d->bad_lines, "%s: %s", a->file, problem);
                continue;
            }
        }
        out->count[0]++;
    }
    return MTFL_OK;
}

mtfl_status mtfl_protocol_plan(const mtfl_protocol *p, const mtfl_annotations ann[2],
                               mtfl_header *const headers[2], mtfl_plans *out, mtfl_dataset *d)
{
    mtfl_status s = alloc_plans(out, ann[0].count, ann[1].count);
    if (s) return s;
    s = plan_training(p, &ann[0], headers[0], out, d);
    if (s) {
        mtfl_plans_free(out);
        return s;
    }
    /* validation is the first lines of testing.txt, counted as written (skipped ones
     * included), so that a bad line does not move a face from test into validation */
    for (int i = 0; i < ann[1].count; i++) {
        if (!headers[1][i].ok) continue;
        int which = ann[1].faces[i].line <= p->validation ? 1 : 2;
        mtfl_plan_whole(&out->set[which][out->count[which]++], &ann[1].faces[i], &headers[1][i], p->size);
    }
    return MTFL_OK;
}
