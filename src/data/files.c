/*
 * files.c - reading files with a bound, and writing them so that nothing is ever
 * lost or torn: a unique temporary file beside the target (mkstemp), flushed to disk
 * (fsync), renamed over the target, and the folder's entry synced too. Two processes
 * writing the same path each write their own temporary file; the target is always one
 * of the two whole files. Locks (flock on a file holding the owner's pid) keep two
 * processes out of each other's work; the kernel drops them with the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

mtfl_status mtfl_read_file(const char *path, size_t max_bytes, char **data, size_t *len)
{
    *data = NULL;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer before the check */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return mtfl_fail(MTFL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mtfl_fail(MTFL_ERR_IO, "%s: not a regular file", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int err = errno;
        close(fd);
        return mtfl_fail(MTFL_ERR_IO, "%s: cannot open: %s", path, strerror(err));
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(f);
        return mtfl_fail(MTFL_ERR_IO, "%s: %.1f MB, more than the %.1f MB allowed", path,
                         (double)st.st_size / 1e6, (double)max_bytes / 1e6);
    }
    /* the size may change while reading: read at most one byte past the limit */
    size_t cap = (size_t)st.st_size + 1;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return mtfl_fail(MTFL_ERR_OOM, "%s: out of memory reading it", path);
    }
    size_t used = 0;
    for (;;) {
        if (used == cap) {
            size_t ncap = cap * 2 < max_bytes + 1 ? cap * 2 : max_bytes + 1;
            char *nbuf = ncap > cap ? realloc(buf, ncap + 1) : NULL;
            if (!nbuf) {
                free(buf);
                fclose(f);
                return ncap > cap ? mtfl_fail(MTFL_ERR_OOM, "%s: out of memory reading it", path)
                                  : mtfl_fail(MTFL_ERR_IO, "%s: grew past the %.1f MB allowed "
                                              "while being read", path, (double)max_bytes / 1e6);
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
    char buf[PATH_MAX];
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

/* ---- atomic writes ------------------------------------------------------------------- */

static void dir_of(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(out, size, ".");
    else if (slash == path) snprintf(out, size, "/");
    else snprintf(out, size, "%.*s", (int)(slash - path), path);
}

mtfl_status mtfl_atomic_open(mtfl_atomic_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    /* the pid in the name lets a later writer remove what a killed one left behind */
    if (snprintf(f->path, sizeof f->path, "%s", path) >= (int)sizeof f->path ||
        snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld.XXXXXX", path, (long)getpid()) >=
            (int)sizeof f->tmp)
        return mtfl_fail(MTFL_ERR_IO, "%s: path too long", path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        f->tmp[0] = '\0';
        return mtfl_fail(MTFL_ERR_IO, "%s: cannot create a temporary file beside it: %s", path,
                         strerror(errno));
    }
    /* mkstemp makes it private (0600); the target gets the usual umask'd mode */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    f->stream = fdopen(fd, "wb");
    if (!f->stream) {
        int err = errno;
        close(fd);
        unlink(f->tmp);
        f->tmp[0] = '\0';
        return mtfl_fail(MTFL_ERR_IO, "%s: %s", path, strerror(err));
    }
    return MTFL_OK;
}

mtfl_status mtfl_atomic_write(mtfl_atomic_file *f, const void *data, size_t n)
{
    if (!f->stream) return mtfl_fail(MTFL_ERR_IO, "%s: written after it was closed", f->path);
    if (n > 0 && fwrite(data, 1, n, f->stream) != n) {
        f->failed = true;
        return mtfl_fail(MTFL_ERR_IO, "%s: cannot write: %s", f->path, strerror(errno));
    }
    return MTFL_OK;
}

mtfl_status mtfl_atomic_commit(mtfl_atomic_file *f)
{
    if (!f->stream) return mtfl_fail(MTFL_ERR_IO, "%s: committed after it was closed", f->path);
    int err = 0;
    if (f->failed) err = EIO;
    else if (fflush(f->stream) != 0 || fsync(fileno(f->stream)) != 0) err = errno;
    if (fclose(f->stream) != 0 && !err) err = errno;
    f->stream = NULL;
    if (!err && rename(f->tmp, f->path) != 0) err = errno;
    if (err) {
        unlink(f->tmp);
        f->tmp[0] = '\0';
        return mtfl_fail(MTFL_ERR_IO, "%s: cannot write: %s", f->path, strerror(err));
    }
    f->tmp[0] = '\0';
    /* the rename is durable once the folder's entry is on disk */
    char dir[PATH_MAX];
    dir_of(f->path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return MTFL_OK;
}

void mtfl_atomic_abort(mtfl_atomic_file *f)
{
    if (f->stream) fclose(f->stream);
    f->stream = NULL;
    if (f->tmp[0]) unlink(f->tmp);
    f->tmp[0] = '\0';
}

/* ---- locks ----------------------------------------------------------------------------- */

static long holder_of(int fd)
{
    char text[32] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    return strtol(text, NULL, 10);
}

mtfl_status mtfl_lock_acquire(mtfl_lock *l, const char *path, long *holder)
{
    l->fd = -1;
    *holder = 0;
    if (snprintf(l->path, sizeof l->path, "%s", path) >= (int)sizeof l->path)
        return mtfl_fail(MTFL_ERR_IO, "%s: path too long", path);
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) return mtfl_fail(MTFL_ERR_IO, "%s: cannot create the lock: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            *holder = holder_of(fd);
            close(fd);
            if (err == EWOULDBLOCK)
                return mtfl_fail(MTFL_ERR_IO, "%s is held by process %ld", path, *holder);
            return mtfl_fail(MTFL_ERR_IO, "%s: cannot lock: %s", path, strerror(err));
        }
        /* the holder before us may have removed the file after we opened it: then the
         * lock we hold is on a file nobody else will open; start again */
        struct stat mine, named;
        if (fstat(fd, &mine) == 0 && stat(path, &named) == 0 && mine.st_ino == named.st_ino &&
            mine.st_dev == named.st_dev) {
            char text[32];
            int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
                int err = errno;
                close(fd);
                return mtfl_fail(MTFL_ERR_IO, "%s: cannot write the lock: %s", path, strerror(err));
            }
            l->fd = fd;
            return MTFL_OK;
        }
        close(fd);
    }
    return mtfl_fail(MTFL_ERR_IO, "%s: the lock file keeps being replaced", path);
}

void mtfl_lock_release(mtfl_lock *l)
{
    if (l->fd < 0) return;
    /* removed while still held, so that nobody locks the old file after we let go */
    unlink(l->path);
    close(l->fd);
    l->fd = -1;
}
