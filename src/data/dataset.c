/*
 * dataset.c - loading a protocol from a data folder: the cache if it is valid, else
 * annotations, image headers (in parallel), the protocol's plans, decoding (in
 * parallel), and a fresh cache file.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static const char *const annotation_files[2] = {"training.txt", "testing.txt"};

static mtfl_status check_protocol(const mtfl_protocol *p)
{
    if (p->kind != MTFL_PROTOCOL_SEED && p->kind != MTFL_PROTOCOL_CROP)
        return mtfl_fail(MTFL_ERR_ARG, "protocol: unknown kind %d", (int)p->kind);
    if (p->size < 8 || p->size > 2048)
        return mtfl_fail(MTFL_ERR_ARG, "protocol: size %d (8..2048)", p->size);
    if (p->validation < 0 || p->limit < 0)
        return mtfl_fail(MTFL_ERR_ARG, "protocol: validation %d and limit %d must be >= 0",
                         p->validation, p->limit);
    if (!(p->eye_mouth > 0.01f && p->eye_mouth <= 1.0f))
        return mtfl_fail(MTFL_ERR_ARG, "protocol: eye_mouth %g (0.01..1)", p->eye_mouth);
    if (!(p->jitter.scale >= 0 && p->jitter.scale < 1 && p->jitter.shift >= 0 && p->jitter.shift <= 1 &&
          p->jitter.rotate >= 0 && p->jitter.rotate <= 180))
        return mtfl_fail(MTFL_ERR_ARG, "protocol: jitter scale %g (0..1), shift %g (0..1) and rotate %g (0..180)",
                         p->jitter.scale, p->jitter.shift, p->jitter.rotate);
    return MTFL_OK;
}

/* Everything the cached pixels depend on, and the data folder they came from. */
static void cache_key(char *key, size_t size, const mtfl_protocol *p, const char *real)
{
    /* the rotation only when there is one: a key without it names the same file as
     * before it existed, which a rebuild then replaces rather than leaves behind */
    char rotate[40] = "";
    if (p->jitter.rotate > 0) snprintf(rotate, sizeof rotate, "|rotate=%.6g", p->jitter.rotate);
    snprintf(key, size,
             "mtfl-data 1|protocol=%s|size=%d|validation=%d|eye_mouth=%.6g|scale=%.6g|"
             "shift=%.6g%s|limit=%d|on_error=%s|dir=%s",
             mtfl_protocol_name(p->kind), p->size, p->validation, p->eye_mouth, p->jitter.scale,
             p->jitter.shift, rotate, p->limit, p->on_error == MTFL_ON_ERROR_STOP ? "stop" : "skip", real);
}

typedef struct {
    const char *dir;
    const mtfl_annotations *a;
    mtfl_header *h;
} scan_job;

static void scan_worker(int i, void *ctx)
{
    scan_job *job = ctx;
    mtfl_header *h = &job->h[i];
    char path[4200];
    h->ok = (job->a->confined ? mtfl_image_path(path, sizeof path, job->dir, job->a->faces[i].path) == MTFL_OK
                              : mtfl_path_join(path, sizeof path, job->dir, job->a->faces[i].path)) &&
            mtfl_image_info(path, &h->width, &h->height, &h->channels) == MTFL_OK;
    if (!h->ok)
        snprintf(h->problem, sizeof h->problem, "%s:%d: %s", job->a->file, job->a->faces[i].line,
                 mtfl_last_error());
}

mtfl_status mtfl_scan_headers(const char *dir, const mtfl_annotations *a, mtfl_header **out,
                              const mtfl_protocol *p, mtfl_problems *bad)
{
    mtfl_header *h = calloc((size_t)(a->count ? a->count : 1), sizeof *h);
    if (!h) return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory", a->file);
    scan_job job = {dir, a, h};
    mtfl_parallel_for(a->count, p->threads, scan_worker, &job);
    for (int i = 0; i < a->count; i++) {
        if (h[i].ok) continue;
        if (p->on_error == MTFL_ON_ERROR_STOP) {
            mtfl_fail(MTFL_ERR_IO, "%s", h[i].problem);
            free(h);
            return MTFL_ERR_IO;
        }
        mtfl_problems_add(bad, "%s", h[i].problem);
    }
    *out = h;
    return MTFL_OK;
}

/* Every point lies on its image (edges included): a point outside is a typo or a
 * hostile line, and would otherwise crop or scale a face from nonsense. Every attribute
 * is known: training and the test metrics need them all (lists of other faces, read by
 * lists.c, may leave some unknown). A bad face stops the load or, skipped, counts as a
 * bad line. */
const char *mtfl_point_problem(const mtfl_face *f, const mtfl_header *h, const char *file,
                               char *problem, size_t size)
{
    for (int k = 0; k < MTFL_POINTS; k++) {
        float x = f->points[k], y = f->points[MTFL_POINTS + k];
        if (x >= 0 && x <= (float)h->width && y >= 0 && y <= (float)h->height) continue;
        snprintf(problem, size, "%s:%d: point %d (x=%g, y=%g) outside the %dx%d image %s",
                 file, f->line, k + 1, x, y, h->width, h->height, f->path);
        return problem;
    }
    return NULL;
}

static const char *face_problem(const mtfl_face *f, const mtfl_header *h, const char *file,
                                char *problem, size_t size)
{
    if (mtfl_point_problem(f, h, file, problem, size)) return problem;
    for (int a = 0; a < MTFL_ATTRS; a++) {
        if (f->attr[a] != 0) continue;
        snprintf(problem, size, "%s:%d: %s is 0 (unknown): training and test faces need every attribute",
                 file, f->line, mtfl_attr_name((mtfl_attr)a));
        return problem;
    }
    return NULL;
}

static mtfl_status check_faces(const mtfl_annotations *a, mtfl_header *h, const mtfl_protocol *p,
                               mtfl_dataset *d)
{
    for (int i = 0; i < a->count; i++) {
        if (!h[i].ok) continue;
        char problem[320];
        if (!face_problem(&a->faces[i], &h[i], a->file, problem, sizeof problem)) continue;
        if (p->on_error == MTFL_ON_ERROR_STOP) return mtfl_fail(MTFL_ERR_ARG, "%s", problem);
        mtfl_problems_add(&d->bad_lines, "%s", problem);
        h[i].ok = false;
    }
    return MTFL_OK;
}

static mtfl_status read_annotations(const char *dir, const mtfl_protocol *p,
                                    mtfl_annotations ann[2], mtfl_dataset *d)
{
    for (int f = 0; f < 2; f++) {
        char path[4200];
        if (!mtfl_path_join(path, sizeof path, dir, annotation_files[f]))
            return mtfl_fail(MTFL_ERR_IO, "%s: path too long", dir);
        mtfl_status s = mtfl_annotations_read(&ann[f], path, p->on_error);
        if (s) return s;
        while (p->limit && ann[f].count > p->limit) free(ann[f].faces[--ann[f].count].path);
        for (int k = 0; k < ann[f].skipped.kept; k++)
            mtfl_problems_add(&d->bad_lines, "%s", ann[f].skipped.message[k]);
        d->bad_lines.count += ann[f].skipped.count - ann[f].skipped.kept;
    }
    d->train_lines = ann[0].count, d->test_lines = ann[1].count;
    return MTFL_OK;
}

static mtfl_status decode_sets(const char *dir, const mtfl_protocol *p, mtfl_plans *plans,
                               mtfl_dataset *d)
{
    static const char *const names[3] = {"train", "val", "test"};
    mtfl_set **sets[3] = {&d->train, &d->val, &d->test};
    for (int k = 0; k < 3; k++) {
        *sets[k] = mtfl_decode_set(names[k], dir, plans->set[k], plans->count[k], p, &d->bad_images);
        if (!*sets[k]) return mtfl_last_status();
    }
    return MTFL_OK;
}

static mtfl_status load_from_files(mtfl_dataset *d, const char *dir, const mtfl_protocol *p)
{
    mtfl_annotations ann[2] = {{0}};
    mtfl_header *headers[2] = {NULL, NULL};
    mtfl_plans plans = {0};
    mtfl_status s = read_annotations(dir, p, ann, d);
    for (int f = 0; f < 2 && !s; f++) s = mtfl_scan_headers(dir, &ann[f], &headers[f], p, &d->bad_images);
    for (int f = 0; f < 2 && !s; f++) s = check_faces(&ann[f], headers[f], p, d);
    if (!s) s = mtfl_protocol_plan(p, ann, headers, &plans, d);
    if (!s) s = decode_sets(dir, p, &plans, d);
    if (!s && d->train->count + d->val->count + d->test->count == 0)
        s = mtfl_fail(MTFL_ERR_IO, "%s: no usable faces (%d lines, %d bad lines, %d bad images)",
                      dir, d->train_lines + d->test_lines, d->bad_lines.count, d->bad_images.count);
    mtfl_plans_free(&plans);
    free(headers[0]), free(headers[1]);
    mtfl_annotations_free(&ann[0]);
    mtfl_annotations_free(&ann[1]);
    return s;
}

static void cache_file_name(char *out, size_t size, const char *cache_dir, const char *key,
                            const mtfl_protocol *p)
{
    snprintf(out, size, "%s/mtfl-%s-%d-%016llx.bin", cache_dir, mtfl_protocol_name(p->kind),
             p->size, (unsigned long long)mtfl_hash(MTFL_HASH_INIT, key, strlen(key)));
}

static mtfl_status fingerprints(const char *dir, mtfl_fingerprint fp[2])
{
    for (int f = 0; f < 2; f++) {
        char path[4200];
        if (!mtfl_path_join(path, sizeof path, dir, annotation_files[f]))
            return mtfl_fail(MTFL_ERR_IO, "%s: path too long", dir);
        if (mtfl_fingerprint_file(path, &fp[f]))
            return mtfl_fail(MTFL_ERR_IO, "no MTFL data in %s: %s", dir, mtfl_last_error());
    }
    return MTFL_OK;
}

mtfl_status mtfl_dataset_load(mtfl_dataset *d, const char *dir, const mtfl_protocol *p,
                              const char *cache_dir)
{
    memset(d, 0, sizeof *d);
    mtfl_fingerprint fp[2];
    mtfl_status s = check_protocol(p);
    if (!s) s = fingerprints(dir, fp);
    if (s) return s;
    char real[PATH_MAX];
    if (!realpath(dir, real)) snprintf(real, sizeof real, "%s", dir);
    snprintf(d->dir, sizeof d->dir, "%s", real);
    memcpy(d->annotations, fp, sizeof d->annotations);
    char key[PATH_MAX + 256];
    cache_key(key, sizeof key, p, real);
    bool use_cache = cache_dir && cache_dir[0] && !p->scan_only;
    if (use_cache) {
        cache_file_name(d->cache_file, sizeof d->cache_file, cache_dir, key, p);
        if (mtfl_cache_read(d->cache_file, key, fp, d) == MTFL_OK) {
            d->from_cache = true;
            return MTFL_OK;
        }
        snprintf(d->cache_note, sizeof d->cache_note, "%s", mtfl_last_error());
    }
    s = load_from_files(d, dir, p);
    if (s) {
        mtfl_dataset_free(d);
        return s;
    }
    /* a cache that cannot be written costs the next start time, not this one its data */
    if (use_cache && (mtfl_make_dirs(cache_dir) || mtfl_cache_write(d->cache_file, key, fp, d))) {
        snprintf(d->cache_note, sizeof d->cache_note, "not cached: %s", mtfl_last_error());
        d->cache_file[0] = '\0';
    }
    mtfl_clear_error();
    return MTFL_OK;
}

void mtfl_dataset_free(mtfl_dataset *d)
{
    mtfl_set_release(d->train);
    mtfl_set_release(d->val);
    mtfl_set_release(d->test);
    d->train = d->val = d->test = NULL;
}
