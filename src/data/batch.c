/*
 * batch.c - samples rendered into the float arrays a network takes: images [N, 3, S, S]
 * (pixel / 255), warped and then photometrically augmented, landmarks [N, 10] and one
 * label array per attribute.
 */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

mtfl_status mtfl_batch_alloc(mtfl_batch *b, int capacity, int size)
{
    memset(b, 0, sizeof *b);
    if (capacity <= 0 || size <= 0)
        return mtfl_fail(MTFL_ERR_ARG, "batch: bad capacity %d or size %d", capacity, size);
    size_t n = (size_t)capacity;
    b->capacity = capacity, b->size = size;
    b->images = malloc(n * 3 * (size_t)size * (size_t)size * sizeof(float));
    b->points = malloc(n * MTFL_COORDS * sizeof(float));
    b->samples = malloc(n * sizeof(int32_t));
    bool ok = b->images && b->points && b->samples;
    for (int a = 0; a < MTFL_ATTRS; a++) ok = (b->attr[a] = malloc(n * sizeof(float))) && ok;
    if (ok) return MTFL_OK;
    mtfl_batch_free(b);
    return mtfl_fail(MTFL_ERR_OOM, "batch: out of memory for %d images of %dx%d", capacity, size, size);
}

void mtfl_batch_free(mtfl_batch *b)
{
    free(b->images);
    free(b->points);
    free(b->samples);
    for (int a = 0; a < MTFL_ATTRS; a++) free(b->attr[a]);
    memset(b, 0, sizeof *b);
}

mtfl_status mtfl_batch_fill(mtfl_batch *b, const mtfl_set *s, const int *idx, int n,
                            const mtfl_augment *a, uint64_t seed, uint64_t stream_base,
                            float point_scale)
{
    if (n > b->capacity)
        return mtfl_fail(MTFL_ERR_ARG, "batch: %d samples, room for %d", n, b->capacity);
    if (a && mtfl_augment_check(a)) return mtfl_last_status();   /* C callers' tables too */
    size_t image = 3 * (size_t)b->size * (size_t)b->size;
    bool black = a && a->black_fill;
    for (int k = 0; k < n; k++) {
        /* the stream is the sample's, not its position: the same face gets the same
         * jitter in an epoch however the batches are cut */
        mtfl_jitter j = mtfl_jitter_draw(a, seed, stream_base + (uint64_t)idx[k]);
        float *pts = b->points + (size_t)k * MTFL_COORDS;
        uint8_t attr[MTFL_ATTRS];
        float *img = b->images + (size_t)k * image;
        mtfl_status st = mtfl_render_sample(s, idx[k], b->size, &j, black, img, NULL, pts, attr);
        if (st) return st;
        mtfl_photo p = mtfl_photo_draw(a, b->size, seed, stream_base + (uint64_t)idx[k]);
        if ((st = mtfl_photo_apply(&p, img, b->size))) return st;
        for (int c = 0; c < MTFL_COORDS; c++) pts[c] *= point_scale;
        for (int t = 0; t < MTFL_ATTRS; t++) b->attr[t][k] = attr[t];
        b->samples[k] = idx[k];
    }
    b->count = n;
    return MTFL_OK;
}
