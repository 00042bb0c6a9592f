/*
 * parallel.c - a parallel for over independent items (decoding images, drawing
 * synthetic faces) on plain pthreads. Not OpenMP: the data pipeline also runs beside
 * the CPU backend's OpenMP loops, and a second OpenMP team there would fight them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "data_internal.h"

int mtfl_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n < 256 ? n : 256) : 1;
}

typedef struct {
    atomic_int next;
    int n;
    void (*fn)(int i, void *ctx);
    void *ctx;
} work;

/* Items are handed out one at a time: image sizes vary (150 to 400 pixels a side), so
 * fixed chunks would leave one thread idle while the other finishes the big ones. */
static void *worker(void *arg)
{
    work *w = arg;
    for (int i; (i = atomic_fetch_add(&w->next, 1)) < w->n;) w->fn(i, w->ctx);
    return NULL;
}

mtfl_status mtfl_parallel_for(int n, int threads, void (*fn)(int i, void *ctx), void *ctx)
{
    if (threads <= 0) threads = mtfl_cpu_count();
    if (threads > n) threads = n > 0 ? n : 1;
    work w = {.n = n, .fn = fn, .ctx = ctx};
    atomic_init(&w.next, 0);
    pthread_t tid[256];
    int started = 0;
    for (int t = 1; t < threads && t < 256; t++) {
        if (pthread_create(&tid[started], NULL, worker, &w) != 0) break;
        started++;
    }
    worker(&w);   /* the caller works too, and finishes alone if no thread started */
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    return MTFL_OK;
}
