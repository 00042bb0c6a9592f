/*
 * sampleset.c - a set of samples: their geometry and labels in one array, their pixels
 * in one pool and their paths in another, so that a set is three allocations and the
 * cache can write and read it in three blocks.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "data_internal.h"

mtfl_set *mtfl_set_new(const char *name, int count, int size, uint64_t pixel_bytes,
                       uint64_t string_bytes)
{
    if (count < 0 || size < 0) {
        mtfl_fail(MTFL_ERR_ARG, "set %s: bad count %d or size %d", name, count, size);
        return NULL;
    }
    mtfl_set *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->count = count, s->size = size, s->refcount = 1;
    s->samples = calloc((size_t)(count ? count : 1), sizeof *s->samples);
    s->strings = malloc(string_bytes ? string_bytes : 1);
    s->string_capacity = string_bytes ? string_bytes : 1;
    /* calloc: a sample that fails to decode leaves black pixels, never stale memory */
    if (pixel_bytes) s->pixels = calloc(1, pixel_bytes);
    s->pixel_bytes = pixel_bytes;
    if (!s->samples || !s->strings || (pixel_bytes && !s->pixels)) {
        mtfl_set_release(s);
        goto oom;
    }
    return s;
oom:
    mtfl_fail(MTFL_ERR_OOM, "set %s: out of memory for %d samples and %.1f MB of pixels", name,
              count, (double)pixel_bytes / 1e6);
    return NULL;
}

mtfl_set *mtfl_set_retain(mtfl_set *s)
{
    if (s) s->refcount++;
    return s;
}

void mtfl_set_release(mtfl_set *s)
{
    if (!s || --s->refcount > 0) return;
    free(s->samples);
    if (s->mapped) munmap(s->pixels, s->pixel_bytes);
    else free(s->pixels);
    free(s->strings);
    free(s);
}

const char *mtfl_set_path(const mtfl_set *s, int i)
{
    return s->strings + s->samples[i].path;
}

const uint8_t *mtfl_set_pixels(const mtfl_set *s, int i)
{
    return s->pixels ? s->pixels + s->samples[i].offset : NULL;
}

mtfl_status mtfl_set_add_string(mtfl_set *s, const char *str, uint32_t *offset)
{
    size_t n = strlen(str) + 1;
    if (s->string_bytes + n > UINT32_MAX)
        return mtfl_fail(MTFL_ERR_ARG, "set %s: too many paths", s->name);
    if (s->string_bytes + n > s->string_capacity) {
        uint64_t cap = s->string_capacity * 2 + n;
        char *p = realloc(s->strings, cap);
        if (!p) return mtfl_fail(MTFL_ERR_OOM, "set %s: out of memory for paths", s->name);
        s->strings = p, s->string_capacity = cap;
    }
    memcpy(s->strings + s->string_bytes, str, n);
    *offset = (uint32_t)s->string_bytes;
    s->string_bytes += n;
    return MTFL_OK;
}

static uint64_t sample_bytes(const mtfl_sample *m)
{
    return (uint64_t)m->width * (uint64_t)m->height * 3;
}

mtfl_set *mtfl_set_subset(const mtfl_set *s, const int *idx, int n, const char *name)
{
    uint64_t pixels = 0;
    for (int k = 0; k < n; k++) {
        if (idx[k] < 0 || idx[k] >= s->count) {
            mtfl_fail(MTFL_ERR_ARG, "subset: sample %d is outside set %s of %d samples",
                      idx[k] + 1, s->name, s->count);
            return NULL;
        }
        if (s->pixels) pixels += sample_bytes(&s->samples[idx[k]]);
    }
    mtfl_set *out = mtfl_set_new(name, n, s->size, pixels, 64 * (uint64_t)(n ? n : 1));
    if (!out) return NULL;
    out->jitter = s->jitter;
    uint64_t at = 0;
    for (int k = 0; k < n; k++) {
        const mtfl_sample *m = &s->samples[idx[k]];
        mtfl_sample *o = &out->samples[k];
        *o = *m;
        if (mtfl_set_add_string(out, mtfl_set_path(s, idx[k]), &o->path)) {
            mtfl_set_release(out);
            return NULL;
        }
        if (s->pixels) {
            o->offset = at;
            memcpy(out->pixels + at, s->pixels + m->offset, sample_bytes(m));
            at += sample_bytes(m);
        }
    }
    return out;
}
