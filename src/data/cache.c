/*
 * cache.c - a loaded dataset on disk, so that the next start reads one file instead of
 * decoding 13,000 JPEGs. The file is
 *
 *   "MTFLCACH" version sizeof(mtfl_sample) key fingerprints[2] counts
 *   3 x (set header, samples, paths, zeros to a 4 KiB boundary, pixels)  "MTFL-END"
 *
 * The pixels are mapped, not read: allocating and filling 700 MB of fresh memory takes
 * seconds on a virtual machine (a page fault per 4 KiB), mapping the file's pages from
 * the page cache a few hundredths of one.
 * written atomically (files.c), so a reader sees a whole file or none. It
 * is used only when its key (protocol, size, options, data folder) and the size, mtime
 * and content hash of both annotation files match; every offset in it is checked
 * before use, so a damaged file is rebuilt, not trusted.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "data_internal.h"

#define CACHE_VERSION 4u   /* 3: the set's jitter as stored_jitter, with rotate; 4: samples' way back to the file */
#define PAGE 4096
static const char magic[8] = {'M', 'T', 'F', 'L', 'C', 'A', 'C', 'H'};
static const char end_magic[8] = {'M', 'T', 'F', 'L', '-', 'E', 'N', 'D'};

typedef struct {
    int32_t train_lines, test_lines, dropped_nonsquare, dropped_gray;
    mtfl_problems bad_lines, bad_images;
} cache_counts;

/* The part of a set's jitter that the stored window was cut for: a layout of its own,
 * so that new augmentation fields do not change the file. */
typedef struct {
    float translate, mirror, scale, shift, rotate;
    uint32_t black_fill;
} stored_jitter;

typedef struct {
    char name[16];
    int32_t count, size;
    stored_jitter jitter;
    uint64_t pixel_bytes, string_bytes;
} set_header;

/* ---- writing ---------------------------------------------------------------------- */

static bool put(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

static bool put_padding(FILE *f)
{
    static const char zeros[PAGE];
    long at = ftell(f);
    return at >= 0 && put(f, zeros, (size_t)((PAGE - at % PAGE) % PAGE));
}

static bool put_set(FILE *f, const mtfl_set *s)
{
    const mtfl_augment *j = &s->jitter;
    set_header h = {.count = s->count, .size = s->size,
                    .jitter = {j->translate, j->mirror, j->scale, j->shift, j->rotate, j->black_fill},
                    .pixel_bytes = s->pixels ? s->pixel_bytes : 0, .string_bytes = s->string_bytes};
    memcpy(h.name, s->name, sizeof h.name);
    return put(f, &h, sizeof h) && put(f, s->samples, (size_t)s->count * sizeof *s->samples) &&
           put(f, s->strings, s->string_bytes) && put_padding(f) && put(f, s->pixels, h.pixel_bytes);
}

/* A run killed while writing leaves FILE.tmp.PID.N behind, as big as the cache:
 * remove those whose process is gone. */
static void remove_stale_temps(const char *file)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : file;
    size_t base_len = strlen(base);
    if (slash) *slash = '\0';
    DIR *dh = opendir(slash ? (dir[0] ? dir : "/") : ".");
    if (!dh) return;
    for (struct dirent *e; (e = readdir(dh));) {
        if (strncmp(e->d_name, base, base_len) || strncmp(e->d_name + base_len, ".tmp.", 5)) continue;
        long pid = strtol(e->d_name + base_len + 5, NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char path[2100];
            snprintf(path, sizeof path, "%s/%s", slash ? dir : ".", e->d_name);
            remove(path);
        }
    }
    closedir(dh);
}

mtfl_status mtfl_cache_write(const char *file, const char *key, const mtfl_fingerprint fp[2],
                             const mtfl_dataset *d)
{
    remove_stale_temps(file);
    mtfl_atomic_file af;
    if (mtfl_atomic_open(&af, file)) return mtfl_fail(MTFL_ERR_IO, "cache: %s", mtfl_last_error());
    FILE *f = af.stream;
    uint32_t head[3] = {CACHE_VERSION, (uint32_t)sizeof(mtfl_sample), (uint32_t)strlen(key)};
    cache_counts c = {d->train_lines, d->test_lines, d->dropped_nonsquare, d->dropped_gray,
                      d->bad_lines, d->bad_images};
    bool ok = put(f, magic, 8) && put(f, head, sizeof head) && put(f, key, head[2]) &&
              put(f, fp, 2 * sizeof *fp) && put(f, &c, sizeof c) && put_set(f, d->train) &&
              put_set(f, d->val) && put_set(f, d->test) && put(f, end_magic, 8);
    if (!ok) {
        int err = errno;
        mtfl_atomic_abort(&af);
        return mtfl_fail(MTFL_ERR_IO, "cache %s: cannot write: %s", file, strerror(err));
    }
    if (mtfl_atomic_commit(&af)) return mtfl_fail(MTFL_ERR_IO, "cache: %s", mtfl_last_error());
    return MTFL_OK;
}

/* ---- reading ---------------------------------------------------------------------- */

static bool get(FILE *f, void *p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

/* Every sample's pixels and path lie inside the pools, and the pools end cleanly. */
static bool set_is_sound(const mtfl_set *s)
{
    if (s->count == 0) return true;
    if (s->string_bytes == 0 || s->strings[s->string_bytes - 1] != '\0') return false;
    for (int i = 0; i < s->count; i++) {
        const mtfl_sample *m = &s->samples[i];
        uint64_t bytes = (uint64_t)m->width * (uint64_t)m->height * 3;
        if (m->width <= 0 || m->height <= 0 || m->width > 1 << 14 || m->height > 1 << 14) return false;
        if (m->path >= s->string_bytes) return false;
        if (s->pixels && (m->offset > s->pixel_bytes || bytes > s->pixel_bytes - m->offset)) return false;
    }
    return true;
}

/* Maps the pixel block that starts at the next page boundary and skips past it. */
static bool map_pixels(FILE *f, mtfl_set *s, uint64_t bytes, uint64_t file_size)
{
    long at = ftell(f);
    if (at < 0) return false;
    uint64_t start = ((uint64_t)at + PAGE - 1) / PAGE * PAGE;
    if (start > file_size || bytes > file_size - start) return false;
    if (bytes == 0) return fseek(f, (long)start, SEEK_SET) == 0;
    void *p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(f), (off_t)start);
    if (p == MAP_FAILED) return false;
    s->pixels = p, s->pixel_bytes = bytes, s->mapped = true;
    return fseek(f, (long)(start + bytes), SEEK_SET) == 0;
}

static mtfl_set *get_set(FILE *f, uint64_t file_size)
{
    set_header h;
    if (!get(f, &h, sizeof h) || h.count < 0 || h.size <= 0 || h.pixel_bytes > file_size ||
        h.string_bytes > file_size || (uint64_t)h.count * sizeof(mtfl_sample) > file_size)
        return NULL;
    h.name[sizeof h.name - 1] = '\0';
    mtfl_set *s = mtfl_set_new(h.name, h.count, h.size, 0, h.string_bytes);
    if (!s) return NULL;
    s->jitter = (mtfl_augment){.translate = h.jitter.translate, .mirror = h.jitter.mirror,
                               .scale = h.jitter.scale, .shift = h.jitter.shift,
                               .rotate = h.jitter.rotate, .black_fill = h.jitter.black_fill != 0};
    if (mtfl_augment_check(&s->jitter)) {   /* a damaged header */
        mtfl_set_release(s);
        return NULL;
    }
    s->string_bytes = h.string_bytes;
    if (get(f, s->samples, (size_t)h.count * sizeof *s->samples) && get(f, s->strings, h.string_bytes) &&
        map_pixels(f, s, h.pixel_bytes, file_size) && set_is_sound(s))
        return s;
    mtfl_set_release(s);
    return NULL;
}

static void sanitize(mtfl_problems *p)
{
    if (p->kept < 0 || p->kept > MTFL_PROBLEMS_KEPT) p->kept = 0;
    for (int k = 0; k < MTFL_PROBLEMS_KEPT; k++) p->message[k][sizeof p->message[k] - 1] = '\0';
}

/* Checks everything before the sets; a message says why the file does not fit. */
static mtfl_status check_header(FILE *f, const char *file, const char *key,
                                const mtfl_fingerprint fp[2], cache_counts *c)
{
    char m[8];
    uint32_t head[3];
    if (!get(f, m, 8) || memcmp(m, magic, 8) || !get(f, head, sizeof head))
        return mtfl_fail(MTFL_ERR_IO, "cache %s: not a cache file", file);
    if (head[0] != CACHE_VERSION || head[1] != sizeof(mtfl_sample))
        return mtfl_fail(MTFL_ERR_IO, "cache %s: made by another version", file);
    size_t key_len = strlen(key);
    char *stored = malloc(key_len + 1);
    bool same = stored && head[2] == key_len && get(f, stored, key_len) && !memcmp(stored, key, key_len);
    free(stored);
    if (!same) return mtfl_fail(MTFL_ERR_IO, "cache %s: made for other options or data", file);
    mtfl_fingerprint old[2];
    if (!get(f, old, sizeof old) || !get(f, c, sizeof *c))
        return mtfl_fail(MTFL_ERR_IO, "cache %s: truncated", file);
    sanitize(&c->bad_lines);
    sanitize(&c->bad_images);
    for (int k = 0; k < 2; k++)
        if (old[k].size != fp[k].size || old[k].mtime_ns != fp[k].mtime_ns || old[k].hash != fp[k].hash)
            return mtfl_fail(MTFL_ERR_IO, "cache %s: %s changed since it was made", file,
                             k == 0 ? "training.txt" : "testing.txt");
    return MTFL_OK;
}

mtfl_status mtfl_cache_read(const char *file, const char *key, const mtfl_fingerprint fp[2],
                            mtfl_dataset *d)
{
    FILE *f = fopen(file, "rb");
    if (!f) return mtfl_fail(MTFL_ERR_IO, "cache %s: %s", file, strerror(errno));
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    cache_counts c;
    mtfl_status s = check_header(f, file, key, fp, &c);
    mtfl_set *sets[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3 && !s; k++)
        if (!(sets[k] = get_set(f, size > 0 ? (uint64_t)size : 0)))
            s = mtfl_fail(MTFL_ERR_IO, "cache %s: damaged", file);
    char m[8];
    if (!s && (!get(f, m, 8) || memcmp(m, end_magic, 8)))
        s = mtfl_fail(MTFL_ERR_IO, "cache %s: damaged (no end mark)", file);
    fclose(f);
    if (s) {
        for (int k = 0; k < 3; k++) mtfl_set_release(sets[k]);
        return s;
    }
    d->train = sets[0], d->val = sets[1], d->test = sets[2];
    d->train_lines = c.train_lines, d->test_lines = c.test_lines;
    d->dropped_nonsquare = c.dropped_nonsquare, d->dropped_gray = c.dropped_gray;
    d->bad_lines = c.bad_lines, d->bad_images = c.bad_images;
    return MTFL_OK;
}
