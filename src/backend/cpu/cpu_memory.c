/*
 * cpu_memory.c - host memory for the CPU backend. The core keeps released blocks for
 * reuse (src/core/memory.c); this is only what a fresh block is.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "cpu_internal.h"

#define HUGE_PAGE ((size_t)2 << 20)

/* Blocks of a huge page and more start on a huge-page boundary and are offered to the
 * kernel for 2 MiB pages: a large activation then takes a few page faults on first
 * touch instead of one per 4 KiB. Others are aligned for vector loads. */
mtfl_status mtfl_cpu_alloc(mtfl_device *dev, size_t bytes, void **handle)
{
    bool large = bytes >= HUGE_PAGE;
    if (posix_memalign(handle, large ? HUGE_PAGE : 64, bytes) != 0) {
        *handle = NULL;
        return mtfl_fail(MTFL_ERR_OOM, "out of memory on cpu: %.1f MiB requested", bytes / 1048576.0);
    }
    if (large) madvise(*handle, bytes, MADV_HUGEPAGE);
    return MTFL_OK;
}

void mtfl_cpu_free(mtfl_device *dev, void *handle, size_t bytes) { free(handle); }
