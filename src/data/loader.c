/*
 * loader.c - batches assembled and augmented on background threads while the device
 * computes. Batches form one numbered stream, sequence = epoch x batches + index;
 * workers claim the next sequence number, render it into a free slot of a small ring
 * and mark it ready; the consumer takes them in order. Asking for any other batch
 * (a new run, an epoch cut short) moves the stream there.
 *
 * A batch's content depends only on (seed, epoch, index): the epoch's permutation and
 * each sample's jitter are counter-based draws, so the number of workers and their
 * timing never change what a run sees.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "rng.h"

typedef struct {
    mtfl_batch batch;
    int64_t seq;     /* what it holds when ready */
    bool ready;
    bool busy;       /* a worker is writing it */
} slot;

struct mtfl_loader {
    mtfl_set *set;
    mtfl_loader_config c;
    int batches;               /* per epoch */
    int nslots;
    slot *slots;
    int64_t head;              /* next sequence to claim */
    int64_t tail;              /* oldest sequence still wanted */
    int64_t held;              /* acquired by the consumer, or -1 */
    uint64_t generation;       /* bumped when the stream moves: late results are dropped */
    bool quit;
    bool failed;
    char error[512];
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    pthread_t *threads;
    int nthreads;
};

mtfl_loader_config mtfl_loader_defaults(void)
{
    return (mtfl_loader_config){.batch_size = 50, .shuffle = true, .seed = 1, .point_scale = 1,
                                .workers = 1, .prefetch = 2};
}

void mtfl_epoch_order(int *order, int n, uint64_t seed, int epoch, bool shuffle)
{
    for (int i = 0; i < n; i++) order[i] = i;
    if (!shuffle) return;
    uint64_t s = mtfl_rng_bits(seed ^ 0x6f72646572ULL, (uint64_t)epoch);  /* "order" */
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(mtfl_rng_bits(s, (uint64_t)i) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

int mtfl_loader_batches(const mtfl_loader *l) { return l->batches; }

int mtfl_loader_batch_rows(const mtfl_loader *l, int index)
{
    int n = l->set->count, B = l->c.batch_size, first = index * B;
    return n - first < B ? n - first : B;
}

/* ---- the workers ------------------------------------------------------------------- */

typedef struct {
    int *order;
    int epoch;     /* whose permutation order holds, or -1 */
} worker_state;

static mtfl_status produce(mtfl_loader *l, worker_state *w, int64_t seq, mtfl_batch *b)
{
    int n = l->set->count, B = l->c.batch_size;
    int epoch = (int)(seq / l->batches), index = (int)(seq % l->batches);
    if (w->epoch != epoch) {
        mtfl_epoch_order(w->order, n, l->c.seed, epoch, l->c.shuffle);
        w->epoch = epoch;
    }
    int first = index * B, count = n - first < B ? n - first : B;
    if (l->c.shard_size > 1) {
        /* this shard's rows of the whole batch: the same batch, cut in size pieces */
        int r = l->c.shard_rank, size = l->c.shard_size;
        int from = (int)((int64_t)r * count / size), to = (int)((int64_t)(r + 1) * count / size);
        first += from, count = to - from;
    }
    b->epoch = epoch, b->index = index;
    return mtfl_batch_fill(b, l->set, w->order + first, count, &l->c.augment, l->c.seed,
                           (uint64_t)epoch * (uint64_t)n, l->c.point_scale);
}

static bool can_claim(const mtfl_loader *l)
{
    return l->head - l->tail < l->nslots && !l->slots[l->head % l->nslots].busy;
}

static void *worker_main(void *arg)
{
    mtfl_loader *l = arg;
    worker_state w = {malloc((size_t)(l->set->count ? l->set->count : 1) * sizeof(int)), -1};
    pthread_mutex_lock(&l->mu);
    while (w.order) {
        while (!l->quit && !can_claim(l)) pthread_cond_wait(&l->work, &l->mu);
        if (l->quit) break;
        int64_t seq = l->head++;
        uint64_t gen = l->generation;
        slot *s = &l->slots[seq % l->nslots];
        s->busy = true, s->ready = false;
        pthread_mutex_unlock(&l->mu);
        mtfl_status st = produce(l, &w, seq, &s->batch);
        pthread_mutex_lock(&l->mu);
        s->busy = false;
        if (st && !l->failed) {
            l->failed = true;
            snprintf(l->error, sizeof l->error, "%s", mtfl_last_error());
        }
        if (gen == l->generation && seq >= l->tail) s->seq = seq, s->ready = true;
        pthread_cond_broadcast(&l->ready);
        pthread_cond_broadcast(&l->work);  /* a slot freed of its busy flag may unblock a peer */
    }
    if (!w.order && !l->failed) {
        l->failed = true;
        snprintf(l->error, sizeof l->error, "loader: out of memory in a worker");
        pthread_cond_broadcast(&l->ready);
    }
    pthread_mutex_unlock(&l->mu);
    free(w.order);
    return NULL;
}

/* ---- the consumer ------------------------------------------------------------------ */

static void release_locked(mtfl_loader *l)
{
    if (l->held < 0) return;
    l->slots[l->held % l->nslots].ready = false;
    if (l->tail == l->held) l->tail = l->held + 1;
    l->held = -1;
    pthread_cond_broadcast(&l->work);
}

/* Makes seq the next sequence wanted: skips ahead inside what is claimed, else restarts
 * the stream there. */
static void seek_locked(mtfl_loader *l, int64_t seq)
{
    if (seq == l->tail) return;
    if (seq > l->tail && seq < l->head) {
        for (int64_t s = l->tail; s < seq; s++) l->slots[s % l->nslots].ready = false;
    } else {
        l->generation++;
        for (int k = 0; k < l->nslots; k++) l->slots[k].ready = false;
        l->head = seq;
    }
    l->tail = seq;
    pthread_cond_broadcast(&l->work);
}

const mtfl_batch *mtfl_loader_acquire(mtfl_loader *l, int epoch, int index)
{
    if (epoch < 0 || index < 0 || index >= l->batches) {
        mtfl_fail(MTFL_ERR_ARG, "loader: batch %d of epoch %d does not exist (%d batches an epoch)",
                  index + 1, epoch + 1, l->batches);
        return NULL;
    }
    int64_t seq = (int64_t)epoch * l->batches + index;
    pthread_mutex_lock(&l->mu);
    release_locked(l);
    seek_locked(l, seq);
    slot *s = &l->slots[seq % l->nslots];
    while (!l->failed && !(s->ready && s->seq == seq)) pthread_cond_wait(&l->ready, &l->mu);
    if (l->failed) {
        mtfl_fail(MTFL_ERR_BACKEND, "%s", l->error);
        pthread_mutex_unlock(&l->mu);
        return NULL;
    }
    l->held = seq;
    pthread_mutex_unlock(&l->mu);
    return &s->batch;
}

void mtfl_loader_release(mtfl_loader *l)
{
    pthread_mutex_lock(&l->mu);
    release_locked(l);
    pthread_mutex_unlock(&l->mu);
}

/* ---- life ---------------------------------------------------------------------------- */

static mtfl_status check_config(const mtfl_set *s, const mtfl_loader_config *c)
{
    if (c->batch_size <= 0) return mtfl_fail(MTFL_ERR_ARG, "loader: batch size %d", c->batch_size);
    if (c->workers < 1 || c->workers > 64 || c->prefetch < 1 || c->prefetch > 64)
        return mtfl_fail(MTFL_ERR_ARG, "loader: workers %d and prefetch %d (1..64)", c->workers, c->prefetch);
    if (c->size < 0 || c->size > 2048) return mtfl_fail(MTFL_ERR_ARG, "loader: size %d", c->size);
    if (c->shard_size < 0 || c->shard_size > 1 << 20 || c->shard_rank < 0 ||
        (c->shard_size > 0 && c->shard_rank >= c->shard_size) || (c->shard_size == 0 && c->shard_rank != 0))
        return mtfl_fail(MTFL_ERR_ARG, "loader: shard {%d, %d}: the rank must be in 0..size-1", c->shard_rank,
                         c->shard_size);
    if (c->shard_size > 1 && c->batch_size % c->shard_size != 0)
        return mtfl_fail(MTFL_ERR_ARG, "loader: batch %d is not divisible by the %d shards (the global batch is "
                         "cut into equal slices)", c->batch_size, c->shard_size);
    if (mtfl_augment_check(&c->augment)) return mtfl_fail(MTFL_ERR_ARG, "loader: %s", mtfl_last_error());
    if (!s->pixels && s->count > 0)
        return mtfl_fail(MTFL_ERR_ARG, "loader: set %s has no pixels (it was loaded to count)", s->name);
    return MTFL_OK;
}

static mtfl_status start(mtfl_loader *l)
{
    int size = l->c.size ? l->c.size : l->set->size;
    int rows = l->c.shard_size > 1 ? l->c.batch_size / l->c.shard_size : l->c.batch_size;
    for (int k = 0; k < l->nslots; k++)
        if (mtfl_batch_alloc(&l->slots[k].batch, rows, size)) return mtfl_last_status();
    l->threads = calloc((size_t)l->c.workers, sizeof *l->threads);
    if (!l->threads) return mtfl_fail(MTFL_ERR_OOM, "loader: out of memory");
    for (int k = 0; k < l->c.workers; k++) {
        if (pthread_create(&l->threads[k], NULL, worker_main, l) != 0)
            return mtfl_fail(MTFL_ERR_BACKEND, "loader: cannot start a thread");
        l->nthreads++;
    }
    return MTFL_OK;
}

mtfl_loader *mtfl_loader_new(mtfl_set *s, const mtfl_loader_config *c)
{
    if (check_config(s, c)) return NULL;
    mtfl_loader *l = calloc(1, sizeof *l);
    if (!l) {
        mtfl_fail(MTFL_ERR_OOM, "loader: out of memory");
        return NULL;
    }
    l->set = mtfl_set_retain(s);
    l->c = *c;
    int n = s->count, B = c->batch_size;
    l->batches = c->drop_last ? n / B : (n + B - 1) / B;
    /* a slot for the consumer, one per worker, and the batches kept ready ahead */
    l->nslots = 1 + c->workers + c->prefetch;
    l->held = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->ready, NULL);
    l->slots = calloc((size_t)l->nslots, sizeof *l->slots);
    if (!l->slots || (l->batches > 0 && start(l) != MTFL_OK)) {
        if (!l->slots) mtfl_fail(MTFL_ERR_OOM, "loader: out of memory");
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mtfl_last_error());
        mtfl_loader_free(l);
        mtfl_fail(MTFL_ERR_OOM, "%s", msg);
        return NULL;
    }
    return l;
}

void mtfl_loader_free(mtfl_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = true;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int k = 0; k < l->nthreads; k++) pthread_join(l->threads[k], NULL);
    for (int k = 0; l->slots && k < l->nslots; k++) mtfl_batch_free(&l->slots[k].batch);
    free(l->slots);
    free(l->threads);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->ready);
    mtfl_set_release(l->set);
    free(l);
}
