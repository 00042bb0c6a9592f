/*
 * fuzz_tempfile.h - the file a target hands to a loader that only takes a path.
 *
 * Why: the image decoder and the safetensors loader read files, not buffers, so each
 * input is written to a file first. It lives in a directory of its own per process
 * (mkdtemp), so several fuzzers can run side by side. The directory goes under $TMPDIR
 * when that is set (scripts/fuzz.sh points it at its scratch folder, which it removes
 * even after a crash), else /dev/shm when writable (a RAM disk), else /tmp. At a
 * normal exit the directory and what is left in it are removed.
 */
#ifndef MTFL_FUZZ_TEMPFILE_H
#define MTFL_FUZZ_TEMPFILE_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_dir[512];
static char fuzz_path[600];

static void fuzz_tempfile_cleanup(void)
{
    DIR *d = opendir(fuzz_dir);
    if (d) {
        char file[1200];
        for (struct dirent *e; (e = readdir(d));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(file, sizeof file, "%s/%s", fuzz_dir, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
}

/* Creates the directory; name is the file's name in it (its extension may matter to
 * the loader). Exits when no directory can be made: nothing could be fuzzed. */
static void fuzz_tempfile_init(const char *name)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/mtfl-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(fuzz_path, sizeof fuzz_path, "%s/%s", fuzz_dir, name);
    atexit(fuzz_tempfile_cleanup);
}

/* Replaces the file's contents with data; returns its path, or NULL if writing failed. */
static const char *fuzz_tempfile_write(const uint8_t *data, size_t size)
{
    FILE *f = fopen(fuzz_path, "wb");
    if (!f) return NULL;
    size_t wrote = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || wrote != size) return NULL;
    return fuzz_path;
}

#endif
