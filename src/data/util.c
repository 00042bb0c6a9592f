/*
 * util.c - small shared pieces: problem lists, paths, whole-file reads, hashing and
 * the fingerprints the cache checks annotation files against. Reading and writing
 * files is in files.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"
#include "rng.h"

static const char *const attr_names[MTFL_ATTRS] = {"gender", "smile", "glasses", "pose"};
static const int attr_classes[MTFL_ATTRS] = {2, 2, 2, 5};

int mtfl_attr_classes(mtfl_attr a) { return a < MTFL_ATTRS ? attr_classes[a] : 0; }
const char *mtfl_attr_name(mtfl_attr a) { return a < MTFL_ATTRS ? attr_names[a] : "?"; }

void mtfl_problems_add(mtfl_problems *p, const char *fmt, ...)
{
    if (p->kept < MTFL_PROBLEMS_KEPT) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->message[p->kept], sizeof p->message[0], fmt, ap);
        va_end(ap);
        p->kept++;
    }
    p->count++;
}

const char *mtfl_problems_first(const mtfl_problems *p) { return p->kept ? p->message[0] : ""; }

bool mtfl_path_join(char *out, size_t size, const char *dir, const char *rel)
{
    int n = (rel[0] == '/' || !dir || !dir[0]) ? snprintf(out, size, "%s", rel)
                                               : snprintf(out, size, "%s/%s", dir, rel);
    return n >= 0 && (size_t)n < size;
}

mtfl_status mtfl_image_path(char *out, size_t size, const char *dir, const char *rel)
{
    if (!mtfl_path_join(out, size, dir, rel)) return mtfl_fail(MTFL_ERR_IO, "image %s: path too long", rel);
    if (!dir || !dir[0]) return MTFL_OK;
    /* a missing file is the image reader's to report, with its own words */
    char *real_dir = realpath(dir, NULL), *real = realpath(out, NULL);
    mtfl_status s = MTFL_OK;
    size_t n = real_dir ? strlen(real_dir) : 0;
    if (real_dir && real &&
        !(strncmp(real, real_dir, n) == 0 && (real[n] == '/' || (n == 1 && real_dir[0] == '/'))))
        s = mtfl_fail(MTFL_ERR_IO, "image %s: a symbolic link takes it out of the data folder %s (to %s)", out,
                      dir, real);
    free(real_dir);
    free(real);
    return s;
}

char *mtfl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

uint64_t mtfl_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

mtfl_status mtfl_fingerprint_file(const char *path, mtfl_fingerprint *f)
{
    struct stat st;
    if (stat(path, &st) != 0) return mtfl_fail(MTFL_ERR_IO, "%s: %s", path, strerror(errno));
    char *data;
    size_t len;
    mtfl_status s = mtfl_read_file(path, MTFL_ANNOTATIONS_MAX_BYTES, &data, &len);
    if (s) return s;
    f->size = (uint64_t)len;
    f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f->hash = mtfl_hash(MTFL_HASH_INIT, data, len);
    free(data);
    return MTFL_OK;
}

float mtfl_uniform_at(uint64_t seed, uint64_t index, float lo, float hi)
{
    return lo + (hi - lo) * mtfl_rng_uniform01(seed, index);
}
