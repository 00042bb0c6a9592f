/*
 * lists.c - the faces of any annotation file, or of images given by path, framed for a
 * trained model in one of three ways:
 *
 *   whole   the image resized to SIZE x SIZE (how MTFL's AFLW test faces are used)
 *   points  cut around the annotated points with the crop protocol's geometry (the
 *           eye-mouth distance eye_mouth of the side, centred between eyes and mouth)
 *   box     the square around a face box given in four extra columns (or by the
 *           caller), its side the box's longer one
 *
 * Paths are relative to the list's folder. Attributes may be 0 (unknown), and for
 * images without annotations the points are unknown too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static mtfl_status check_options(const mtfl_list_options *o)
{
    if (o->frame != MTFL_FRAME_WHOLE && o->frame != MTFL_FRAME_POINTS && o->frame != MTFL_FRAME_BOX)
        return mtfl_fail(MTFL_ERR_ARG, "list: unknown framing %d", (int)o->frame);
    if (o->after_line < 0 || o->limit < 0)
        return mtfl_fail(MTFL_ERR_ARG, "list: after_line %d and limit %d must be >= 0", o->after_line, o->limit);
    if (o->size < 8 || o->size > 2048) return mtfl_fail(MTFL_ERR_ARG, "list: size %d (8..2048)", o->size);
    if (!(o->eye_mouth > 0.01f && o->eye_mouth <= 1.0f))
        return mtfl_fail(MTFL_ERR_ARG, "list: eye_mouth %g (0.01..1)", o->eye_mouth);
    if (o->frame == MTFL_FRAME_POINTS && !o->points_known)
        return mtfl_fail(MTFL_ERR_ARG, "list: framing by points needs annotated points");
    return MTFL_OK;
}

const char *mtfl_frame_name(mtfl_frame f)
{
    return f == MTFL_FRAME_WHOLE ? "none" : f == MTFL_FRAME_POINTS ? "points" : f == MTFL_FRAME_BOX ? "box" : "?";
}

/* One face's plan, or false with the reason in problem. */
static bool plan_face(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h, const mtfl_protocol *p,
                      const mtfl_list_options *o, char *problem, size_t size)
{
    if (o->points_known && mtfl_point_problem(f, h, f->file, problem, size)) return false;
    if (o->frame == MTFL_FRAME_WHOLE) {
        mtfl_plan_whole(pl, f, h, o->size);
        return true;
    }
    if (o->frame == MTFL_FRAME_POINTS) {
        char why[256];
        if (mtfl_plan_crop(pl, f, h, p, why, sizeof why)) return true;
        snprintf(problem, size, "%.60s: %.250s", f->file, why);
        return false;
    }
    if (!f->has_box) {
        snprintf(problem, size, "%s:%d: no face box (box_x box_y box_width box_height after the 15 fields)",
                 f->file, f->line);
        return false;
    }
    float side = fmaxf(f->box[2], f->box[3]);
    mtfl_plan_square(pl, f, h, f->box[0] + f->box[2] / 2, f->box[1] + f->box[3] / 2, side, o->size, 1.0f);
    return true;
}

mtfl_status mtfl_list_from_faces(mtfl_list *out, const mtfl_annotations *a, const char *dir,
                                 const mtfl_list_options *o)
{
    mtfl_status s = check_options(o);
    if (s) return s;
    /* the crop protocol without jitter: its plans cut the window the test crops show */
    mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_CROP);
    p.size = o->size, p.eye_mouth = o->eye_mouth, p.on_error = o->on_error, p.threads = o->threads;
    p.jitter = (mtfl_augment){0};
    mtfl_header *headers = NULL;
    s = mtfl_scan_headers(dir, a, &headers, &p, &out->bad_images);
    if (s) return s;
    mtfl_plan *plans = malloc((size_t)(a->count ? a->count : 1) * sizeof *plans);
    if (!plans) {
        free(headers);
        return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory", a->file);
    }
    int n = 0;
    for (int i = 0; i < a->count && !s; i++) {
        if (!headers[i].ok) continue;
        char problem[320];
        if (plan_face(&plans[n], &a->faces[i], &headers[i], &p, o, problem, sizeof problem)) {
            n++;
        } else if (o->on_error == MTFL_ON_ERROR_STOP) {
            s = mtfl_fail(MTFL_ERR_ARG, "%s", problem);
        } else {
            mtfl_problems_add(&out->bad_lines, "%s", problem);
        }
    }
    if (!s) {
        out->set = mtfl_decode_set("list", dir, plans, n, &p, &out->bad_images);
        if (!out->set) s = mtfl_last_status();
    }
    free(plans);
    free(headers);
    return s;
}

/* The folder of a file's path, where the list's image paths start. */
static void folder_of(const char *file, char *dir, size_t size)
{
    const char *slash = strrchr(file, '/');
    if (!slash) {
        snprintf(dir, size, ".");
    } else {
        int len = (int)(slash - file);
        snprintf(dir, size, "%.*s", len > 0 ? len : 1, len > 0 ? file : "/");
    }
}

mtfl_status mtfl_list_load(mtfl_list *out, const char *file, const mtfl_list_options *o)
{
    memset(out, 0, sizeof *out);
    mtfl_status s = check_options(o);
    if (!s) s = mtfl_fingerprint_file(file, &out->fingerprint);
    mtfl_annotations a = {0};
    if (!s) s = mtfl_annotations_read(&a, file, o->on_error);
    if (s) return s;
    int kept = 0, read = a.count, last_line = a.count > 0 ? a.faces[a.count - 1].line : 0;
    for (int i = 0; i < a.count; i++) {
        if (a.faces[i].line > o->after_line) a.faces[kept++] = a.faces[i];
        else free(a.faces[i].path);
    }
    a.count = kept;
    if (read > 0 && kept == 0) {
        mtfl_annotations_free(&a);
        return mtfl_fail(MTFL_ERR_ARG, "%s: no faces after line %d: its %d faces end at line %d (after_line counts "
                         "the lines to skip)", file, o->after_line, read, last_line);
    }
    while (o->limit > 0 && a.count > o->limit) free(a.faces[--a.count].path);
    out->lines = a.count;
    for (int k = 0; k < a.skipped.kept; k++) mtfl_problems_add(&out->bad_lines, "%s", a.skipped.message[k]);
    out->bad_lines.count += a.skipped.count - a.skipped.kept;
    char dir[4096];
    folder_of(file, dir, sizeof dir);
    s = mtfl_list_from_faces(out, &a, dir, o);
    mtfl_annotations_free(&a);
    if (!s && out->set->count == 0)
        s = mtfl_fail(MTFL_ERR_IO, "%s: no usable faces (%d lines, %d bad lines, %d bad images)", file,
                      out->lines, out->bad_lines.count, out->bad_images.count);
    if (s) mtfl_list_free(out);
    return s;
}

void mtfl_list_free(mtfl_list *l)
{
    mtfl_set_release(l->set);
    l->set = NULL;
}
