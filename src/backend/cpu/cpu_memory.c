/*
 * cpu_memory.c - host memory for the CPU backend, with a cache of large blocks.
 *
 * A training step allocates the same large activations every iteration. Fresh memory
 * from the kernel costs a page fault per 4 KiB page on first touch, and on the
 * machines measured here first-touching a 92 MB activation took longer (0.2-0.5 s)
 * than computing it. So released blocks of 1 MiB and more are kept and handed out
 * again for requests of the same rounded size, the way PyTorch's caching allocator
 * does; smaller blocks go straight back to malloc, which reuses them well itself.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "cpu_internal.h"

#define LARGE_BLOCK ((size_t)1 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
#define MAX_CACHED_BLOCKS 256

typedef struct {
    void *ptr;
    size_t bytes;
} cached_block;

static cached_block cache[MAX_CACHED_BLOCKS];
static int cached_count;
static size_t cached_bytes;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* Large blocks round up to whole huge pages, so that equal shapes give equal sizes and
 * the kernel can back them with 2 MiB pages where it has them. */
static size_t block_size(size_t numel)
{
    size_t bytes = (numel * sizeof(float) + 63) & ~(size_t)63;
    return bytes >= LARGE_BLOCK ? (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1) : bytes;
}

/* What the cache may hold: an eighth of the machine's memory. */
static size_t cache_limit(const mtfl_device *dev) { return dev->memory / 8; }

static void *take_cached(size_t bytes)
{
    void *ptr = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cached_count; i++)
        if (cache[i].bytes == bytes) {
            ptr = cache[i].ptr;
            cached_bytes -= bytes;
            cache[i] = cache[--cached_count];
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return ptr;
}

mtfl_status mtfl_cpu_alloc(mtfl_device *dev, size_t numel, void **handle)
{
    size_t bytes = block_size(numel);
    if (bytes >= LARGE_BLOCK && (*handle = take_cached(bytes))) {
        mtfl_count(&dev->stats.cached_allocations, 1);
        return MTFL_OK;
    }
    mtfl_count(&dev->stats.allocations, 1);
    *handle = aligned_alloc(bytes >= LARGE_BLOCK ? HUGE_PAGE : 64, bytes);
    if (!*handle && bytes >= LARGE_BLOCK) {
        mtfl_cpu_release_cache();
        *handle = aligned_alloc(HUGE_PAGE, bytes);
    }
    if (!*handle)
        return mtfl_fail(MTFL_ERR_OOM, "out of memory on cpu: %.1f MiB requested", bytes / 1048576.0);
    if (bytes >= LARGE_BLOCK) madvise(*handle, bytes, MADV_HUGEPAGE);
    return MTFL_OK;
}

void mtfl_cpu_free(mtfl_device *dev, void *handle, size_t numel)
{
    size_t bytes = block_size(numel);
    if (bytes >= LARGE_BLOCK) {
        pthread_mutex_lock(&cache_lock);
        /* evict the largest blocks until this one fits */
        while (cached_count > 0 && (cached_count == MAX_CACHED_BLOCKS ||
                                    cached_bytes + bytes > cache_limit(dev))) {
            int largest = 0;
            for (int i = 1; i < cached_count; i++)
                if (cache[i].bytes > cache[largest].bytes) largest = i;
            free(cache[largest].ptr);
            cached_bytes -= cache[largest].bytes;
            cache[largest] = cache[--cached_count];
        }
        bool keep = bytes <= cache_limit(dev);
        if (keep) {
            cache[cached_count++] = (cached_block){handle, bytes};
            cached_bytes += bytes;
        }
        pthread_mutex_unlock(&cache_lock);
        if (keep) return;
    }
    free(handle);
}

void mtfl_cpu_release_cache(void)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cached_count; i++) free(cache[i].ptr);
    cached_count = 0;
    cached_bytes = 0;
    pthread_mutex_unlock(&cache_lock);
}
