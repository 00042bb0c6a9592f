/*
 * decode.c - a protocol's plans made into a set: every image decoded, resized and cut
 * to its window on all cores, straight into its place in the set's pixel pool.
 */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct {
    const char *dir;
    const mtfl_plan *plans;
    mtfl_set *set;
    char (*problem)[320];   /* per plan: "" when it decoded */
} decode_job;

/* Copies the window of img into out, repeating edge pixels outside the image. */
static void cut_window(const mtfl_image *img, const mtfl_plan *pl, uint8_t *out)
{
    size_t row_bytes = (size_t)pl->width * 3;
    for (int y = 0; y < pl->height; y++) {
        int sy = pl->win_y + y;
        sy = sy < 0 ? 0 : sy >= img->height ? img->height - 1 : sy;
        const uint8_t *src = img->pixels + (size_t)sy * (size_t)img->width * 3;
        uint8_t *dst = out + (size_t)y * row_bytes;
        if (pl->win_x >= 0 && pl->win_x + pl->width <= img->width) {
            memcpy(dst, src + (size_t)pl->win_x * 3, row_bytes);
            continue;
        }
        for (int x = 0; x < pl->width; x++) {
            int sx = pl->win_x + x;
            sx = sx < 0 ? 0 : sx >= img->width ? img->width - 1 : sx;
            memcpy(dst + (size_t)x * 3, src + (size_t)sx * 3, 3);
        }
    }
}

static mtfl_status decode_one(const decode_job *job, int i)
{
    const mtfl_plan *pl = &job->plans[i];
    char path[4200];
    /* where the path leads was checked with the headers (mtfl_scan_headers) */
    if (!mtfl_path_join(path, sizeof path, job->dir, pl->face->path))
        return mtfl_fail(MTFL_ERR_IO, "image %s: path too long", pl->face->path);
    mtfl_image img, sized;
    int channels;
    mtfl_status s = mtfl_image_load(&img, path, &channels);
    if (s) return s;
    if (img.width != pl->file_w || img.height != pl->file_h) {
        mtfl_image_free(&img);
        return mtfl_fail(MTFL_ERR_IO, "image %s: %dx%d when decoded, %dx%d in its header", path,
                         img.width, img.height, pl->file_w, pl->file_h);
    }
    s = mtfl_image_resize(&img, &sized, pl->resize_w, pl->resize_h);
    mtfl_image_free(&img);
    if (s) return s;
    cut_window(&sized, pl, job->set->pixels + job->set->samples[i].offset);
    mtfl_image_free(&sized);
    return MTFL_OK;
}

static void decode_worker(int i, void *ctx)
{
    decode_job *job = ctx;
    const mtfl_face *f = job->plans[i].face;
    if (decode_one(job, i) != MTFL_OK)
        snprintf(job->problem[i], sizeof job->problem[i], "%s:%d: %s", f->file ? f->file : "?",
                 f->line, mtfl_last_error());
}

/* Geometry, labels, paths and pixel offsets: everything but the pixels. */
static mtfl_status describe_samples(mtfl_set *set, const mtfl_plan *plans, int n)
{
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const mtfl_plan *pl = &plans[i];
        mtfl_sample *m = &set->samples[i];
        m->offset = at;
        at += (uint64_t)pl->width * (uint64_t)pl->height * 3;
        m->line = pl->face->line;
        m->width = pl->width, m->height = pl->height;
        m->file_width = pl->file_w, m->file_height = pl->file_h;
        mtfl_plan_points(pl, m->points);
        memcpy(m->box, pl->box, sizeof m->box);
        m->origin[0] = (float)pl->win_x, m->origin[1] = (float)pl->win_y;
        m->scale[0] = (float)pl->resize_w / (float)pl->file_w;
        m->scale[1] = (float)pl->resize_h / (float)pl->file_h;
        memcpy(m->attr, pl->face->attr, MTFL_ATTRS);
        m->gray = pl->gray;
        mtfl_status s = mtfl_set_add_string(set, pl->face->path, &m->path);
        if (s) return s;
    }
    return MTFL_OK;
}

/* Drops the samples that failed; their pixels stay behind as unused bytes. */
static void compact(mtfl_set *set, char (*problem)[320], mtfl_problems *bad)
{
    int kept = 0;
    for (int i = 0; i < set->count; i++) {
        if (problem[i][0]) {
            mtfl_problems_add(bad, "%s", problem[i]);
            continue;
        }
        set->samples[kept++] = set->samples[i];
    }
    set->count = kept;
}

mtfl_set *mtfl_decode_set(const char *name, const char *dir, const mtfl_plan *plans, int n,
                          const mtfl_protocol *p, mtfl_problems *bad)
{
    uint64_t pixels = 0;
    for (int i = 0; i < n; i++) pixels += (uint64_t)plans[i].width * (uint64_t)plans[i].height * 3;
    mtfl_set *set = mtfl_set_new(name, n, p->size, p->scan_only ? 0 : pixels, 48 * (uint64_t)(n + 1));
    if (!set) return NULL;
    if (p->kind == MTFL_PROTOCOL_CROP && strcmp(name, "train") == 0) set->jitter = p->jitter;
    if (describe_samples(set, plans, n) != MTFL_OK) goto fail;
    if (p->scan_only) {
        for (int i = 0; i < n; i++) set->samples[i].offset = 0;
        return set;
    }
    decode_job job = {dir, plans, set, calloc((size_t)(n > 0 ? n : 1), sizeof *job.problem)};
    if (!job.problem) {
        mtfl_fail(MTFL_ERR_OOM, "set %s: out of memory", name);
        goto fail;
    }
    mtfl_parallel_for(n, p->threads, decode_worker, &job);
    for (int i = 0; i < n && p->on_error == MTFL_ON_ERROR_STOP; i++)
        if (job.problem[i][0]) {
            mtfl_fail(MTFL_ERR_IO, "%s", job.problem[i]);
            free(job.problem);
            goto fail;
        }
    compact(set, job.problem, bad);
    free(job.problem);
    return set;
fail:
    mtfl_set_release(set);
    return NULL;
}
