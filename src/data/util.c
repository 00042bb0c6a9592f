/*
 * util.c - small shared pieces: problem lists, paths, whole-file reads, hashing and
 * the fingerprints the cache checks annotation files against.
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

char *mtfl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

mtfl_status mtfl_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mtfl_fail(MTFL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t used = 0, cap = 0;
    for (;;) {
        if (cap - used < 65536) {
            /* doubling keeps reads of any size linear, pipes and /proc files included */
            size_t ncap = cap ? cap * 2 : 1 << 20;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                free(buf);
                fclose(f);
                return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory reading it", path);
            }
            buf = nbuf, cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return mtfl_fail(MTFL_ERR_IO, "%s: read error", path);
    }
    buf[used] = '\0';
    *data = buf, *len = used;
    return MTFL_OK;
}

mtfl_status mtfl_make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return mtfl_fail(MTFL_ERR_IO, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (*p == '/' || end) {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return mtfl_fail(MTFL_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            if (end) break;
            *p = '/';
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return mtfl_fail(MTFL_ERR_IO, "%s: not a directory", path);
    return MTFL_OK;
}

void mtfl_temp_name(char *out, size_t size, const char *path)
{
    static atomic_uint counter;
    snprintf(out, size, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
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
    mtfl_status s = mtfl_read_file(path, &data, &len);
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
