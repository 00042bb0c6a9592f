/*
 * data_internal.h - helpers the data files share and nobody else needs.
 */
#ifndef MTFL_DATA_INTERNAL_H
#define MTFL_DATA_INTERNAL_H

#include <stdio.h>

#include "mtfl_data.h"

/* Counts a problem and keeps its message if there is room. */
void mtfl_problems_add(mtfl_problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first kept message, or "" */
const char *mtfl_problems_first(const mtfl_problems *p);

/* dir + "/" + rel into out (rel as is when absolute). false when it does not fit. */
bool mtfl_path_join(char *out, size_t size, const char *dir, const char *rel);
/* An annotated image's path, dir + "/" + rel, into out: MTFL_ERR_IO naming it when it does
 * not fit, or when a symbolic link on the way takes it out of dir (the annotation
 * reader already refused absolute paths and ".."). */
mtfl_status mtfl_image_path(char *out, size_t size, const char *dir, const char *rel);
/* The whole of a regular file of at most max_bytes, NUL-terminated, in *data (free
 * it); MTFL_ERR_IO naming the path when it is missing, not a file, or too large. */
mtfl_status mtfl_read_file(const char *path, size_t max_bytes, char **data, size_t *len);

/* Uniform float in [lo, hi) from the counter-based stream (seed, index). */
float mtfl_uniform_at(uint64_t seed, uint64_t index, float lo, float hi);

/* ---- planning and decoding a protocol's sets (protocols.c, decode.c) ---- */

/* What an image file's header says, or why it could not be read. */
typedef struct {
    int width, height, channels;
    bool ok;
    char problem[320];
} mtfl_header;

/* How one face becomes a stored sample: the whole image is resized to resize_w x
 * resize_h, then the window (win_x, win_y, width, height) of that is kept, with the
 * edge pixels repeated where the window leaves the image. box is the region shown as
 * the output, in window coordinates. */
typedef struct {
    const mtfl_face *face;
    int file_w, file_h;
    bool gray;
    int resize_w, resize_h;
    int win_x, win_y, width, height;
    float box[4];
} mtfl_plan;

/* Reads every image header of one annotation file (paths relative to dir), on
 * p->threads; a bad one stops or, under on_error skip, is counted in bad (dataset.c). */
mtfl_status mtfl_scan_headers(const char *dir, const mtfl_annotations *a, mtfl_header **out,
                              const mtfl_protocol *p, mtfl_problems *bad);
/* "FILE:LINE: point K (x, y) outside the WxH image PATH" when a point lies off the
 * image (dataset.c), else NULL. */
const char *mtfl_point_problem(const mtfl_face *f, const mtfl_header *h, const char *file,
                               char *problem, size_t size);

/* The whole image at size x size (the seed protocol; test images in both). */
void mtfl_plan_whole(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h, int size);
/* The square of side `side` (file pixels) centred on (cx, cy), stored at the
 * resolution that renders it at size pixels, with room for margin x side around it. */
void mtfl_plan_square(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h, float cx, float cy,
                      float side, int size, float margin);
/* The face cropped to the test crops' geometry, with room for the jitter. false (and
 * problem set) when the face has no usable eye-mouth distance. */
bool mtfl_plan_crop(mtfl_plan *pl, const mtfl_face *f, const mtfl_header *h,
                    const mtfl_protocol *p, char *problem, size_t size);

/* Decodes the planned faces (paths relative to dir) into a new set, in parallel.
 * Failures stop (NULL) or are counted in bad and left out. */
mtfl_set *mtfl_decode_set(const char *name, const char *dir, const mtfl_plan *plans, int n,
                          const mtfl_protocol *p, mtfl_problems *bad);
/* Stored coordinates of a face's points under a plan. */
void mtfl_plan_points(const mtfl_plan *pl, float *out);

typedef struct {
    mtfl_plan *set[3];   /* train, val, test */
    int count[3];
} mtfl_plans;

/* The protocol's choice of faces and their plans. headers[f][i] belongs to face i of
 * file f (0 training, 1 testing); faces whose header is not ok are left out (already
 * counted). Fills d's counts of dropped faces and d->bad_lines for uncroppable ones. */
mtfl_status mtfl_protocol_plan(const mtfl_protocol *p, const mtfl_annotations ann[2],
                               mtfl_header *const headers[2], mtfl_plans *out, mtfl_dataset *d);
void mtfl_plans_free(mtfl_plans *pl);

#endif
