/*
 * mtfl_data.h - the MTFL data pipeline in C: annotations, images, the seed and crop
 * protocols, augmentation, batches on a background thread, a disk cache, metrics,
 * drawing, and a synthetic face generator. Plain C on top of mtfl.h; no Lua inside.
 *
 * A short tour.
 *
 *   mtfl_protocol p = mtfl_protocol_defaults(MTFL_PROTOCOL_SEED);   // 150x150, 1000 val
 *   mtfl_dataset d;
 *   if (mtfl_dataset_load(&d, "data/MTFL", &p, "/tmp/mtfl-cache"))
 *       fprintf(stderr, "%s\n", mtfl_last_error());     // names file and line, or image
 *   mtfl_loader_config c = mtfl_loader_defaults();
 *   mtfl_loader *l = mtfl_loader_new(d.train, &c);       // batches on its own thread
 *   const mtfl_batch *b = mtfl_loader_acquire(l, 0);     // epoch 0, batch 0
 *   ... b->images is [count, 3, size, size], pixels / 255 ...
 *   mtfl_loader_release(l);
 *   mtfl_loader_free(l);
 *   mtfl_dataset_free(&d);
 *
 * Conventions
 *   - Errors as in the core: a status (or NULL) and mtfl_last_error(); nothing prints.
 *   - Landmarks are 10 floats in the files' order, x1..x5 then y1..y5: left eye, right
 *     eye, nose, left mouth corner, right mouth corner ("left" is image-left). They are
 *     continuous pixel coordinates: pixel (i, j) covers [i, i+1) x [j, j+1).
 *   - Attributes are the files' 1-based labels: gender 1 male 2 female; smile, glasses
 *     1 yes 2 no; pose 1 left profile .. 3 frontal .. 5 right profile.
 *   - Images in memory are uint8, height x width x 3 (RGB); grayscale files are
 *     expanded to RGB and flagged.
 */
#ifndef MTFL_DATA_H
#define MTFL_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mtfl.h"

#define MTFL_POINTS 5
#define MTFL_COORDS 10

typedef enum { MTFL_GENDER, MTFL_SMILE, MTFL_GLASSES, MTFL_POSE, MTFL_ATTRS } mtfl_attr;

/* Classes of each attribute: 2, 2, 2, 5. */
int mtfl_attr_classes(mtfl_attr a);
/* "gender", "smile", "glasses", "pose" */
const char *mtfl_attr_name(mtfl_attr a);

/* ---- problems: what a run skipped ------------------------------------------------ */

typedef enum { MTFL_ON_ERROR_STOP, MTFL_ON_ERROR_SKIP } mtfl_on_error;

#define MTFL_PROBLEMS_KEPT 8
/* Under MTFL_ON_ERROR_SKIP a bad line or image is counted and the first few messages
 * are kept, so the caller can say how many were skipped and why. */
typedef struct {
    int count;
    int kept;
    char message[MTFL_PROBLEMS_KEPT][320];
} mtfl_problems;

/* ---- files (files.c) --------------------------------------------------------------- */

/* mkdir -p */
mtfl_status mtfl_make_dirs(const char *path);

/* A file written whole or not at all: open makes a unique temporary file beside path,
 * commit flushes it to disk and renames it over path, abort removes it. Any error
 * along the way leaves path as it was. */
typedef struct {
    FILE *stream;               /* NULL once committed or aborted */
    bool failed;
    char path[1024], tmp[1100];
} mtfl_atomic_file;

mtfl_status mtfl_atomic_open(mtfl_atomic_file *f, const char *path);
mtfl_status mtfl_atomic_write(mtfl_atomic_file *f, const void *data, size_t n);
mtfl_status mtfl_atomic_commit(mtfl_atomic_file *f);
void mtfl_atomic_abort(mtfl_atomic_file *f);

/* An exclusive lock on the file path, which holds the owner's pid while it is held.
 * Fails (MTFL_ERR_IO) without waiting when another process holds it, with its pid in
 * *holder. A process that dies lets go of its locks. */
typedef struct {
    int fd;
    char path[1024];
} mtfl_lock;

mtfl_status mtfl_lock_acquire(mtfl_lock *l, const char *path, long *holder);
void mtfl_lock_release(mtfl_lock *l);

/* ---- annotations (annotations.c) ------------------------------------------------- */

/* Annotation files larger than this are refused rather than read (MTFL's are 0.7 MB). */
#define MTFL_ANNOTATIONS_MAX_BYTES ((size_t)64 << 20)

typedef struct {
    char *path;                 /* as written, with '\' turned into '/' */
    const char *file;           /* the annotation file it came from, for messages */
    int line;                   /* 1-based line number in its file */
    float points[MTFL_COORDS];  /* in the image file's pixels */
    uint8_t attr[MTFL_ATTRS];   /* 1-based classes; 0: unknown */
    bool has_box;               /* the line gave a face box */
    float box[4];               /* x, y, width, height in the file's pixels */
} mtfl_face;

typedef struct {
    char *file;                 /* the annotation file, for messages */
    mtfl_face *faces;
    int count;
    mtfl_problems skipped;      /* malformed lines skipped */
    bool confined;              /* read from a file: every image stays inside its folder (no
                                   absolute path, no "..", no symbolic link out of it) */
} mtfl_annotations;

/* Parses an annotation file as distributed: CRLF or LF, leading blanks, blank lines,
 * 15 whitespace-separated fields, or 19 with a face box (x y width height) after them.
 * An attribute of 0 is unknown. A malformed line (field count, a non-number, a label
 * out of range) fails with "FILE:LINE: problem", or is skipped and counted. */
mtfl_status mtfl_annotations_parse(mtfl_annotations *a, const char *name, const char *text,
                                   size_t len, mtfl_on_error on_error);
mtfl_status mtfl_annotations_read(mtfl_annotations *a, const char *path, mtfl_on_error on_error);
void mtfl_annotations_free(mtfl_annotations *a);
/* A malloc'ed copy of s (NULL when out of memory): how the file and path strings of
 * annotations built by hand are made, which mtfl_annotations_free frees. */
char *mtfl_strdup(const char *s);

/* ---- images (images.c) ----------------------------------------------------------- */

typedef struct {
    int width, height, channels;  /* channels 3 (RGB) unless said otherwise */
    uint8_t *pixels;              /* height x width x channels, owned */
} mtfl_image;

/* Size and channels stored in the file, from its header alone. */
mtfl_status mtfl_image_info(const char *path, int *width, int *height, int *channels);
/* Decodes a JPEG or PNG to RGB; *file_channels (may be NULL) gets what the file held
 * (1 or 2: grayscale). A missing or undecodable file fails naming its path. */
mtfl_status mtfl_image_load(mtfl_image *img, const char *path, int *file_channels);
mtfl_status mtfl_image_alloc(mtfl_image *img, int width, int height, int channels);
void mtfl_image_free(mtfl_image *img);
/* Area-correct resize (stb_image_resize); same size is an exact copy. */
mtfl_status mtfl_image_resize(const mtfl_image *src, mtfl_image *dst, int width, int height);
/* Writes .png or .jpg/.jpeg (by extension) through a temporary file and a rename, so a
 * reader never sees half an image. quality is for JPEG (1..100). */
mtfl_status mtfl_image_save(const mtfl_image *img, const char *path, int quality);
/* RGB to a one-channel gray image (ITU-R BT.601 luma): saved as PNG, a file that
 * decoders report as grayscale, like the 28 grayscale AFLW images. */
mtfl_status mtfl_image_luma(const mtfl_image *src, mtfl_image *dst);

/* ---- sample sets (sampleset.c) --------------------------------------------------- */

/* Augmentation, drawn afresh for every sample every epoch. Every field at 0 (false) is
 * that operation off; all of them off renders the stored sample as it is. The geometric
 * ones form one affine map (one resampling pass), the photometric ones act on the
 * rendered image in the order listed. mtfl_augment_check gives the ranges. */
typedef struct {
    float translate;   /* horizontal shift, uniform in [-translate, translate] output pixels */
    float mirror;      /* probability of a horizontal mirror */
    float scale;       /* the face box's side times a factor in [1 - scale, 1 + scale] */
    float shift;       /* the box's centre moved by up to shift x side, in x and in y */
    bool black_fill;   /* outside the stored pixels: black, else the nearest edge pixel */
    float rotate;      /* degrees, uniform in [-rotate, rotate] about the box's centre */
    /* photometric: factors uniform in [1 - x, 1 + x], as torchvision's ColorJitter:
     * brightness scales the pixels, contrast blends with the mean gray, saturation with
     * each pixel's gray; values are clamped to [0, 1] after each */
    float brightness, contrast, saturation;
    float grayscale;                 /* probability of gray (BT.601 luma in all three channels) */
    float blur, blur_sigma[2];       /* probability of a Gaussian blur, its sigma range (pixels) */
    float erase, erase_area[2];      /* probability of erasing a rectangle, its area range
                                      * as a fraction of the image */
    float erase_aspect[2];           /* its height / width range, drawn log-uniform */
    bool erase_mean;                 /* filled with the image's mean colour, else noise */
} mtfl_augment;

/* MTFL_ERR_ARG naming the first field out of range ("augment: rotate 200 (0..180)"). */
mtfl_status mtfl_augment_check(const mtfl_augment *a);
/* Whether any photometric operation can fire. */
bool mtfl_augment_photometric(const mtfl_augment *a);

typedef struct {
    uint64_t offset;            /* of the pixels in the set's pool */
    uint32_t path;              /* offset of the path in the set's string pool */
    int32_t line;               /* line in the annotation file (0 for synthetic faces) */
    int32_t width, height;      /* stored pixels */
    int32_t file_width, file_height;
    float points[MTFL_COORDS];  /* in stored pixels */
    float box[4];               /* the region rendered as the output: x0, y0, width, height */
    /* stored pixel (x, y) is file pixel ((x + origin[0]) / scale[0], (y + origin[1]) /
     * scale[1]): how predictions go back into the image the user gave */
    float origin[2], scale[2];
    uint8_t attr[MTFL_ATTRS];
    uint8_t gray;               /* the file was grayscale */
    uint8_t pad[3];
} mtfl_sample;

/* Samples with their pixels, ready to render at size x size. Reference counted: the
 * loader's threads keep a set alive while they read it. */
typedef struct mtfl_set {
    char name[16];
    int count;
    int size;                   /* side of the rendered images */
    mtfl_augment jitter;        /* the set's own augmentation (crop: scale/shift jitter) */
    mtfl_sample *samples;
    uint8_t *pixels;            /* NULL when loaded without images (scan only) */
    uint64_t pixel_bytes;
    bool mapped;                /* pixels are a read-only mapping of a cache file */
    char *strings;              /* NUL-terminated paths, one after another */
    uint64_t string_bytes, string_capacity;
    int refcount;
} mtfl_set;

mtfl_set *mtfl_set_new(const char *name, int count, int size, uint64_t pixel_bytes,
                       uint64_t string_bytes);
mtfl_set *mtfl_set_retain(mtfl_set *s);
void mtfl_set_release(mtfl_set *s);
const char *mtfl_set_path(const mtfl_set *s, int i);
const uint8_t *mtfl_set_pixels(const mtfl_set *s, int i); /* NULL without pixels */
/* A new set holding copies of samples idx[0..n-1] (0-based). */
mtfl_set *mtfl_set_subset(const mtfl_set *s, const int *idx, int n, const char *name);
/* Appends a path to the string pool (grown as needed); returns its offset. */
mtfl_status mtfl_set_add_string(mtfl_set *s, const char *str, uint32_t *offset);

/* ---- protocols and loading (protocols.c, dataset.c, cache.c) ---------------------- */

typedef enum { MTFL_PROTOCOL_SEED, MTFL_PROTOCOL_CROP } mtfl_protocol_kind;

typedef struct {
    mtfl_protocol_kind kind;
    int size;              /* side of the rendered images (150) */
    int validation;        /* the first lines of testing.txt that form validation (1000) */
    float eye_mouth;       /* crop: eye-mouth distance as a fraction of the side (0.316) */
    mtfl_augment jitter;   /* crop: the training faces' jitter; sizes the stored window */
    int limit;             /* read only the first N lines of each file (0: all) */
    bool scan_only;        /* read headers only: counts without pixels */
    mtfl_on_error on_error;
    int threads;           /* decoding threads (0: one per core) */
} mtfl_protocol;

mtfl_protocol mtfl_protocol_defaults(mtfl_protocol_kind kind);
const char *mtfl_protocol_name(mtfl_protocol_kind kind);

/* What the cache checks an annotation file against: size, mtime and a content hash. */
typedef struct {
    uint64_t size;
    int64_t mtime_ns;
    uint64_t hash;
} mtfl_fingerprint;

typedef struct {
    mtfl_set *train, *val, *test;
    char dir[4096];                  /* the data folder, resolved (realpath) */
    mtfl_fingerprint annotations[2]; /* training.txt and testing.txt: what the sets came from */
    int train_lines, test_lines;     /* faces read from the two files */
    int dropped_nonsquare, dropped_gray;  /* training faces the seed protocol leaves out */
    mtfl_problems bad_lines;         /* skipped malformed lines */
    mtfl_problems bad_images;        /* skipped missing or undecodable images */
    bool from_cache;
    char cache_file[1024];           /* the cache file used or written ("" if none) */
    char cache_note[320];            /* why the cache was not used, if it was not */
} mtfl_dataset;

/* Loads dir/training.txt and dir/testing.txt under protocol p. With cache_dir (may be
 * NULL), a valid cache file is used and a fresh one written after decoding. */
mtfl_status mtfl_dataset_load(mtfl_dataset *d, const char *dir, const mtfl_protocol *p,
                              const char *cache_dir);
void mtfl_dataset_free(mtfl_dataset *d);


mtfl_status mtfl_fingerprint_file(const char *path, mtfl_fingerprint *f);
/* 64-bit FNV-1a, continuing from h (start with MTFL_HASH_INIT). */
#define MTFL_HASH_INIT 0xcbf29ce484222325ULL
uint64_t mtfl_hash(uint64_t h, const void *data, size_t len);

/* cache.c: the sets of a dataset under a key; reading checks key and fingerprints. */
mtfl_status mtfl_cache_write(const char *file, const char *key, const mtfl_fingerprint fp[2],
                             const mtfl_dataset *d);
/* MTFL_ERR_IO with the reason when the file is absent, stale or damaged. */
mtfl_status mtfl_cache_read(const char *file, const char *key, const mtfl_fingerprint fp[2],
                            mtfl_dataset *d);

/* ---- any list of faces, framed for a trained model (lists.c) ------------------------ */

typedef enum { MTFL_FRAME_WHOLE, MTFL_FRAME_POINTS, MTFL_FRAME_BOX } mtfl_frame;
const char *mtfl_frame_name(mtfl_frame f);   /* "none", "points", "box" */

typedef struct {
    mtfl_frame frame;
    int size;               /* side of the rendered images */
    float eye_mouth;        /* points: the crop protocol's geometry (0.316) */
    bool points_known;      /* false for images without annotations: no point checks */
    int after_line;         /* only faces on lines after this one (testing.txt's test
                             * faces are those after line 1000) */
    int limit;              /* then the first N faces only (0: all) */
    mtfl_on_error on_error;
    int threads;
} mtfl_list_options;

typedef struct {
    mtfl_set *set;
    int lines;                   /* faces read from the file */
    mtfl_problems bad_lines, bad_images;
    mtfl_fingerprint fingerprint;   /* of the list file */
} mtfl_list;

/* The faces of one annotation file (image paths relative to its folder). *out is
 * cleared first; free it with mtfl_list_free. No usable face is an error. */
mtfl_status mtfl_list_load(mtfl_list *out, const char *file, const mtfl_list_options *o);
/* The same from faces already read (dir: where relative paths start; absolute paths
 * are used as they are). Adds to out's problems; out->set is the new set. */
mtfl_status mtfl_list_from_faces(mtfl_list *out, const mtfl_annotations *a, const char *dir,
                                 const mtfl_list_options *o);
void mtfl_list_free(mtfl_list *l);

/* ---- augmentation and rendering (augment.c, render.c) ----------------------------- */

/* One draw of the geometric augmentation for one sample. */
typedef struct {
    float zoom, dx, dy;   /* box side factor; centre shift in units of the side */
    float translate;      /* output pixels */
    bool mirror;
    float rotate;         /* degrees, about the box's centre */
} mtfl_jitter;

/* The forward map from stored pixels to output pixels, one affine map: out = (p -
 * origin) * scale, then turned by the angle (cos_a, sin_a) about the output's centre
 * when rotated, then x += translate, then x -> size - x when mirrored. Unrotated it is
 * axis aligned, and rendering takes the separable path. */
typedef struct {
    float origin_x, origin_y, scale_x, scale_y, translate;
    bool mirror;
    bool rotated;
    float cos_a, sin_a;
    int size;
} mtfl_view;

/* A pure function of (a, seed, stream): the same sample in the same epoch gets the
 * same jitter whichever thread renders it. */
mtfl_jitter mtfl_jitter_draw(const mtfl_augment *a, uint64_t seed, uint64_t stream);
mtfl_jitter mtfl_jitter_none(void);
mtfl_view mtfl_view_make(const float box[4], int size, const mtfl_jitter *j);
/* Maps 10 coordinates; a mirror also swaps the left and right points. */
void mtfl_view_points(const mtfl_view *v, const float *in, float *out);
/* Pose under a mirror: 1 <-> 5, 2 <-> 4. */
int mtfl_mirror_pose(int pose);
/* The 10 coordinates mirrored in an image of the given width, points swapped. */
void mtfl_mirror_points(const float *in, float width, float *out);

/* Renders stored pixels through view v: float planes [3][size][size] (pixel / 255)
 * into chw, or uint8 size x size x 3 into hwc (either may be NULL). Bilinear. */
mtfl_status mtfl_render(const mtfl_view *v, const uint8_t *pixels, int width, int height,
                        bool black_fill, float *chw, uint8_t *hwc);

/* One draw of the photometric augmentation for one sample; the neutral values (factors
 * 1, sigma 0, erase_w 0) leave the image as it is. */
typedef struct {
    float brightness, contrast, saturation;
    bool gray;
    float sigma;                         /* blur; 0: none */
    int erase_x, erase_y, erase_w, erase_h;
    bool erase_mean;
    uint64_t noise;                      /* the seed of the erased rectangle's noise */
} mtfl_photo;

mtfl_photo mtfl_photo_none(void);
/* A pure function of (a, size, seed, stream), like mtfl_jitter_draw, on its own streams. */
mtfl_photo mtfl_photo_draw(const mtfl_augment *a, int size, uint64_t seed, uint64_t stream);
/* Applies p to float planes [3][size][size] in [0, 1], in place. */
mtfl_status mtfl_photo_apply(const mtfl_photo *p, float *chw, int size);

/* Sample i of s at size x size under jitter j: image (either form), points, labels. */
mtfl_status mtfl_render_sample(const mtfl_set *s, int i, int size, const mtfl_jitter *j,
                               bool black_fill, float *chw, uint8_t *hwc,
                               float points[MTFL_COORDS], uint8_t attr[MTFL_ATTRS]);

/* ---- batches (batch.c, loader.c) --------------------------------------------------- */

typedef struct {
    int count, capacity, size;
    int epoch, index;
    float *images;             /* count x 3 x size x size */
    float *points;             /* count x 10 */
    float *attr[MTFL_ATTRS];   /* count each: the 1-based classes */
    int32_t *samples;          /* 0-based sample numbers */
} mtfl_batch;

mtfl_status mtfl_batch_alloc(mtfl_batch *b, int capacity, int size);
void mtfl_batch_free(mtfl_batch *b);
/* Renders samples idx[0..n-1] of s, each with its own jitter stream (stream_base +
 * sample number), geometric then photometric; points are multiplied by point_scale
 * (1: output pixels). */
mtfl_status mtfl_batch_fill(mtfl_batch *b, const mtfl_set *s, const int *idx, int n,
                            const mtfl_augment *a, uint64_t seed, uint64_t stream_base,
                            float point_scale);

typedef struct {
    int batch_size;
    bool shuffle;
    bool drop_last;
    uint64_t seed;
    mtfl_augment augment;
    float point_scale;
    int size;          /* 0: the set's */
    int workers;       /* background threads assembling batches (1) */
    int prefetch;      /* batches kept ready ahead of the consumer (2) */
    /* Data-parallel training: this process renders only its slice of every batch, rows
     * [rank * B / size, (rank + 1) * B / size) of the batch of B rows the loader would
     * give without it (B: that batch's own row count, so the last short batch is split
     * as evenly as it goes, a slice possibly empty). size 0 or 1: the whole batch. The
     * batch size must be divisible by size. */
    int shard_rank, shard_size;
} mtfl_loader_config;

typedef struct mtfl_loader mtfl_loader;

mtfl_loader_config mtfl_loader_defaults(void);
mtfl_loader *mtfl_loader_new(mtfl_set *s, const mtfl_loader_config *c);
int mtfl_loader_batches(const mtfl_loader *l);   /* per epoch */
/* Rows of batch `index` (0-based) over all shards: the batch size, or fewer in the last. */
int mtfl_loader_batch_rows(const mtfl_loader *l, int index);
/* Batch `index` of epoch `epoch` (both 0-based), waiting for the workers; asking out
 * of order restarts them there. Valid until mtfl_loader_release. */
const mtfl_batch *mtfl_loader_acquire(mtfl_loader *l, int epoch, int index);
void mtfl_loader_release(mtfl_loader *l);
void mtfl_loader_free(mtfl_loader *l);
/* The order of epoch e: a permutation of 0..n-1 (identity without shuffling). */
void mtfl_epoch_order(int *order, int n, uint64_t seed, int epoch, bool shuffle);

/* ---- metrics (metrics.c) ----------------------------------------------------------- */

/* err[n x 5]: distance of each predicted point from the truth over the truth's
 * inter-ocular distance. Fails naming the sample when its eyes coincide. */
mtfl_status mtfl_landmark_errors(const float *pred, const float *truth, int n, float *err);

typedef struct {
    int count;
    float threshold;                /* a point fails above this error (0.1) */
    double mean_error;              /* over every point of every image */
    double point_error[MTFL_POINTS];
    double point_failure[MTFL_POINTS];
    double mean_failure;            /* mean of the five failure rates */
    double image_failure;           /* images whose mean error of five is above threshold */
} mtfl_landmark_summary;

mtfl_status mtfl_landmark_summarize(const float *err, int n, float threshold,
                                    mtfl_landmark_summary *s);

#define MTFL_MAX_CLASSES 16
typedef struct {
    int classes, count;             /* count: samples with a known label */
    int unknown;                    /* samples whose true label is 0 (unknown), left out */
    int64_t confusion[MTFL_MAX_CLASSES][MTFL_MAX_CLASSES];  /* [truth - 1][predicted - 1] */
    double accuracy;
    int majority_class;             /* the most frequent true class (1-based) */
    double majority_rate;           /* accuracy of always answering it */
} mtfl_attr_summary;

/* Labels are 1-based; one out of 1..classes fails naming its position. */
mtfl_status mtfl_attr_summarize(const int *pred, const int *truth, int n, int classes,
                                mtfl_attr_summary *s);

/* ---- drawing (draw.c) ---------------------------------------------------------------- */

typedef struct { uint8_t r, g, b; } mtfl_rgb;

typedef enum { MTFL_MARK_DISC, MTFL_MARK_RING, MTFL_MARK_CROSS } mtfl_mark;

void mtfl_draw_fill(mtfl_image *img, mtfl_rgb c);
void mtfl_draw_rect(mtfl_image *img, int x, int y, int w, int h, mtfl_rgb c);
/* A mark of the given radius centred on continuous coordinates (x, y), antialiased. */
void mtfl_draw_mark(mtfl_image *img, float x, float y, float radius, mtfl_mark mark, mtfl_rgb c);
void mtfl_draw_line(mtfl_image *img, float x0, float y0, float x1, float y1, float width,
                    mtfl_rgb c);
/* An ellipse centred on (x, y), turned by angle (radians); filled when stroke is 0,
 * else its outline stroke pixels wide. alpha 1 is opaque. */
typedef struct {
    float x, y, rx, ry, angle, stroke;
} mtfl_ellipse;
void mtfl_draw_ellipse(mtfl_image *img, const mtfl_ellipse *e, mtfl_rgb c, float alpha);
/* Text in stb_easy_font's bitmap font, scaled by an integer factor; returns the width. */
int mtfl_draw_text(mtfl_image *img, int x, int y, const char *text, int scale, mtfl_rgb c);
int mtfl_text_width(const char *text, int scale);
/* Copies src into dst with its top-left corner at (x, y), clipped. Channels must match. */
mtfl_status mtfl_draw_paste(mtfl_image *dst, const mtfl_image *src, int x, int y);

/* ---- synthetic faces (synthetic.c) ---------------------------------------------------- */

/* Face number `index` of the stream `seed`: pixels size x size x 3, points and labels.
 * A pure function of (seed, index, size). */
mtfl_status mtfl_synth_face(uint64_t seed, uint64_t index, int size, uint8_t *rgb,
                            float points[MTFL_COORDS], uint8_t attr[MTFL_ATTRS]);
/* n faces in a set, rendered on `threads` threads (0: one per core). */
mtfl_set *mtfl_synth_set(int n, int size, uint64_t seed, int threads);

/* ---- threads (parallel.c) ------------------------------------------------------------- */

int mtfl_cpu_count(void);
/* Calls fn(i, ctx) for i in 0..n-1 on `threads` threads (0: one per core). Failures are
 * the callee's business (it records them per item); this returns MTFL_OK unless a
 * thread could not be started, in which case the rest runs on the caller's thread. */
mtfl_status mtfl_parallel_for(int n, int threads, void (*fn)(int i, void *ctx), void *ctx);

#endif
