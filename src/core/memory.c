/*
 * memory.c - device memory for storages: the budget, the out-of-memory handler, the
 * peak, and one cache of released blocks per device, the same for every backend.
 *
 * A training step allocates the same activations and gradients every iteration. Fresh
 * memory is slow on both kinds of device: a GPU driver takes tens of microseconds to
 * create a buffer, and fresh host memory costs a page fault per 4 KiB page on first
 * touch (first-touching a 92 MB activation took longer than computing it on the 2-core
 * machine measured). So a released block is kept and handed out again for a request of
 * the same rounded size, as PyTorch's caching allocator does. Reuse is safe on both
 * backends: the CPU runs ops in order, and OpenCL has one in-order queue per device,
 * so work queued on a block's last owner runs before anything its next owner queues.
 *
 * Accounting: bytes_in_use counts the bytes of live storages (numel * 4), bytes_cached
 * the blocks kept (rounded sizes). Both count against the budget (mtfl.set_memory_limit
 * or the device's memory): a request that does not fit empties the cache before it is
 * refused, and the peak is the most the two have held together.
 */
#include <pthread.h>
#include <stdlib.h>

#include "backend.h"
#include "tensor_internal.h"

#define MAX_CACHED_BLOCKS 512
#define SMALL_ROUNDING ((size_t)512)
#define LARGE_BLOCK ((size_t)1 << 20)
#define LARGE_ROUNDING ((size_t)64 << 10)

typedef struct {
    void *handle;
    size_t bytes;
} cached_block;

typedef struct {
    cached_block blocks[MAX_CACHED_BLOCKS];
    int count;
} block_cache;

/* One lock for every device's cache: taking and returning a block is a short search. */
static block_cache caches[MTFL_MAX_DEVICES];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* Equal shapes give equal sizes; nearly equal large ones share a size too. */
static size_t block_bytes(size_t numel)
{
    size_t bytes = (numel ? numel : 1) * sizeof(float);
    size_t step = bytes >= LARGE_BLOCK ? LARGE_ROUNDING : SMALL_ROUNDING;
    return (bytes + step - 1) / step * step;
}

static size_t device_budget(const mtfl_device *dev)
{
    return dev->memory_limit ? dev->memory_limit : dev->memory;
}

/* What the cache may hold: an eighth of the budget. */
static size_t cache_limit(const mtfl_device *dev) { return device_budget(dev) / 8; }

static void note_peak(mtfl_device *dev)
{
    size_t now = __atomic_load_n(&dev->bytes_in_use, __ATOMIC_RELAXED) +
                 __atomic_load_n(&dev->bytes_cached, __ATOMIC_RELAXED);
    size_t peak = __atomic_load_n(&dev->peak_bytes, __ATOMIC_RELAXED);
    while (now > peak && !__atomic_compare_exchange_n(&dev->peak_bytes, &peak, now, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void mtfl_device_reset_peak(mtfl_device *dev)
{
    __atomic_store_n(&dev->peak_bytes, 0, __ATOMIC_RELAXED);
    note_peak(dev);
}

/* Removes block i of dev's cache; cache_lock is held. */
static cached_block remove_block(mtfl_device *dev, block_cache *c, int i)
{
    cached_block b = c->blocks[i];
    c->blocks[i] = c->blocks[--c->count];
    __atomic_sub_fetch(&dev->bytes_cached, b.bytes, __ATOMIC_RELAXED);
    return b;
}

static void *take_cached(mtfl_device *dev, size_t bytes)
{
    block_cache *c = &caches[mtfl_device_slot(dev)];
    void *handle = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < c->count; i++)
        if (c->blocks[i].bytes == bytes) {
            handle = remove_block(dev, c, i).handle;
            break;
        }
    pthread_mutex_unlock(&cache_lock);
    return handle;
}

/* Hands dev's cached blocks back to its backend; returns whether there were any. */
static bool empty_cache(mtfl_device *dev)
{
    block_cache *c = &caches[mtfl_device_slot(dev)];
    cached_block freed[MAX_CACHED_BLOCKS];
    pthread_mutex_lock(&cache_lock);
    int n = 0;
    while (c->count > 0) freed[n++] = remove_block(dev, c, c->count - 1);
    pthread_mutex_unlock(&cache_lock);
    for (int i = 0; i < n; i++) dev->backend->release(dev, freed[i].handle, freed[i].bytes);
    return n > 0;
}

void mtfl_device_release_cache(mtfl_device *dev) { empty_cache(dev); }

/* Keeps a released block, evicting the largest ones when the cache is full; returns
 * false when it does not fit at all (the caller frees it). */
static bool keep_block(mtfl_device *dev, void *handle, size_t bytes)
{
    block_cache *c = &caches[mtfl_device_slot(dev)];
    cached_block evicted[MAX_CACHED_BLOCKS];
    int n = 0;
    bool kept = false;
    pthread_mutex_lock(&cache_lock);
    size_t limit = cache_limit(dev);
    if (bytes <= limit) {
        while (c->count > 0 && (c->count == MAX_CACHED_BLOCKS ||
                                __atomic_load_n(&dev->bytes_cached, __ATOMIC_RELAXED) + bytes > limit)) {
            int largest = 0;
            for (int i = 1; i < c->count; i++)
                if (c->blocks[i].bytes > c->blocks[largest].bytes) largest = i;
            evicted[n++] = remove_block(dev, c, largest);
        }
        c->blocks[c->count++] = (cached_block){handle, bytes};
        __atomic_add_fetch(&dev->bytes_cached, bytes, __ATOMIC_RELAXED);
        kept = true;
    }
    pthread_mutex_unlock(&cache_lock);
    for (int i = 0; i < n; i++) dev->backend->release(dev, evicted[i].handle, evicted[i].bytes);
    return kept;
}

/* ---- the budget and the out-of-memory handler ----------------------------------- */

static _Thread_local mtfl_oom_handler oom_handler;
static _Thread_local void *oom_context;
static _Thread_local bool in_oom_handler; /* a handler that allocates gets no second call */

void mtfl_set_oom_handler(mtfl_oom_handler handler, void *ctx)
{
    oom_handler = handler;
    oom_context = handler ? ctx : NULL;
}

void *mtfl_oom_handler_context(void) { return oom_context; }

static bool fits(const mtfl_device *dev, size_t bytes, bool with_cache)
{
    size_t used = __atomic_load_n(&dev->bytes_in_use, __ATOMIC_RELAXED);
    if (with_cache) used += __atomic_load_n(&dev->bytes_cached, __ATOMIC_RELAXED);
    size_t budget = device_budget(dev);
    return bytes <= budget - (used < budget ? used : budget);
}

/* One attempt: a cached block, else fresh memory within the budget (emptying the cache
 * first when only that makes it fit, or when the backend itself is out of memory). */
static mtfl_status try_alloc(mtfl_device *dev, size_t numel, void **handle)
{
    size_t bytes = numel * sizeof(float), block = block_bytes(numel);
    /* a cached block is within the budget already, but the live tensors must fit too
     * (the limit may have been lowered since it was cached) */
    if (fits(dev, bytes, false) && (*handle = take_cached(dev, block))) {
        mtfl_count(&dev->stats.cached_allocations, 1);
        return MTFL_OK;
    }
    if (!fits(dev, bytes, true)) empty_cache(dev);
    if (!fits(dev, bytes, false)) {
        size_t in_use = __atomic_load_n(&dev->bytes_in_use, __ATOMIC_RELAXED);
        return mtfl_fail(MTFL_ERR_OOM,
                         "out of memory on %s: %.1f MiB requested, %.1f MiB in use of a %.1f MiB "
                         "budget", dev->id, bytes / 1048576.0, in_use / 1048576.0,
                         device_budget(dev) / 1048576.0);
    }
    mtfl_count(&dev->stats.allocations, 1);
    mtfl_status st = dev->backend->alloc(dev, block, handle);
    if (st == MTFL_ERR_OOM && empty_cache(dev)) st = dev->backend->alloc(dev, block, handle);
    return st;
}

void mtfl_device_set_memory_limit(mtfl_device *dev, size_t bytes)
{
    dev->memory_limit = bytes;
    size_t held = __atomic_load_n(&dev->bytes_in_use, __ATOMIC_RELAXED) +
                  __atomic_load_n(&dev->bytes_cached, __ATOMIC_RELAXED);
    if (held > device_budget(dev)) empty_cache(dev);
}

mtfl_storage *mtfl_storage_new(mtfl_device *dev, size_t numel)
{
    mtfl_storage *s = calloc(1, sizeof *s);
    if (!s) {
        mtfl_fail(MTFL_ERR_OOM, "out of host memory for a storage header");
        return NULL;
    }
    mtfl_status st = numel > 0 ? try_alloc(dev, numel, &s->handle) : MTFL_OK;
    if (st == MTFL_ERR_OOM && oom_handler && !in_oom_handler) {
        in_oom_handler = true;
        bool again = oom_handler(oom_context, dev, numel * sizeof(float));
        in_oom_handler = false;
        if (again) {
            __atomic_add_fetch(&dev->oom_retries, 1, __ATOMIC_RELAXED);
            st = try_alloc(dev, numel, &s->handle);
        }
    }
    if (st != MTFL_OK) {
        free(s);
        return NULL;
    }
    s->device = dev;
    s->numel = numel;
    s->refcount = 1;
    __atomic_add_fetch(&dev->bytes_in_use, numel * sizeof(float), __ATOMIC_RELAXED);
    note_peak(dev);
    return s;
}

void mtfl_storage_release(mtfl_storage *s)
{
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    mtfl_device *dev = s->device;
    __atomic_sub_fetch(&dev->bytes_in_use, s->numel * sizeof(float), __ATOMIC_RELAXED);
    if (s->handle) {
        size_t block = block_bytes(s->numel);
        if (!keep_block(dev, s->handle, block)) dev->backend->release(dev, s->handle, block);
    }
    free(s);
}
