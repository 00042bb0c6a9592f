/*
 * cpu_reduce.c - sum, mean, max, min, argmax, argmin over [outer, len, inner].
 *
 * Sums accumulate in double so that the CPU result is the accurate reference the
 * OpenCL reductions are compared with. Work is split over outputs when there are
 * many, and over the reduced dimension when there is just one output (a full sum).
 * Either way every sum is added up in an order fixed by the shape alone, never by the
 * number of threads: a result is the same bits with one thread or sixteen.
 */
#include <math.h>

#include "cpu_internal.h"

#define BLOCK 256

static bool is_arg(mtfl_reduce_op op) { return op == MTFL_REDUCE_ARGMAX || op == MTFL_REDUCE_ARGMIN; }

/* One block of up to BLOCK adjacent outputs: x points at their first input, stepping
 * by inner along the reduced dimension. Reads rows in order, so memory is streamed. */
static void reduce_block(mtfl_reduce_op op, const float *x, float *d, size_t len, size_t inner,
                         size_t count)
{
    double acc[BLOCK];
    float best[BLOCK];
    size_t arg[BLOCK];
    for (size_t j = 0; j < count; j++) {
        acc[j] = best[j] = x[j];
        arg[j] = 0;
    }
    for (size_t l = 1; l < len; l++) {
        const float *row = x + l * inner;
        switch (op) {
        case MTFL_REDUCE_SUM:
        case MTFL_REDUCE_MEAN:
            for (size_t j = 0; j < count; j++) acc[j] += row[j];
            break;
        case MTFL_REDUCE_MAX:
            for (size_t j = 0; j < count; j++) best[j] = cpu_beats_max(row[j], best[j]) ? row[j] : best[j];
            break;
        case MTFL_REDUCE_MIN:
            for (size_t j = 0; j < count; j++) best[j] = cpu_beats_min(row[j], best[j]) ? row[j] : best[j];
            break;
        case MTFL_REDUCE_ARGMAX:
            /* strict comparison: the first index wins ties */
            for (size_t j = 0; j < count; j++)
                if (cpu_beats_max(row[j], best[j])) { best[j] = row[j]; arg[j] = l; }
            break;
        case MTFL_REDUCE_ARGMIN:
            for (size_t j = 0; j < count; j++)
                if (cpu_beats_min(row[j], best[j])) { best[j] = row[j]; arg[j] = l; }
            break;
        default: break;
        }
    }
    for (size_t j = 0; j < count; j++) {
        switch (op) {
        case MTFL_REDUCE_SUM: d[j] = (float)acc[j]; break;
        case MTFL_REDUCE_MEAN: d[j] = (float)(acc[j] / (double)len); break;
        case MTFL_REDUCE_MAX:
        case MTFL_REDUCE_MIN: d[j] = best[j]; break;
        default: d[j] = (float)arg[j]; break;
        }
    }
}

/* Parts of a full sum: each summed on its own thread, then the parts in order. */
#define SUM_PARTS 64

/* A single output over a long contiguous run: split the run across threads. */
static float reduce_run(mtfl_reduce_op op, const float *x, size_t len)
{
    if (op == MTFL_REDUCE_SUM || op == MTFL_REDUCE_MEAN) {
        double parts[SUM_PARTS], sum = 0.0;
#pragma omp parallel for if (len >= MTFL_CPU_PARALLEL_MIN) schedule(static)
        for (size_t part = 0; part < SUM_PARTS; part++) {
            double acc = 0.0;
            for (size_t l = part * len / SUM_PARTS, end = (part + 1) * len / SUM_PARTS; l < end; l++) acc += x[l];
            parts[part] = acc;
        }
        for (size_t part = 0; part < SUM_PARTS; part++) sum += parts[part];
        return (float)(op == MTFL_REDUCE_MEAN ? sum / (double)len : sum);
    }
    if (op == MTFL_REDUCE_MAX || op == MTFL_REDUCE_MIN) {
        /* in parts, as the sum: OpenMP's own max reduction would drop a NaN */
        bool (*beats)(float, float) = op == MTFL_REDUCE_MAX ? cpu_beats_max : cpu_beats_min;
        float parts[SUM_PARTS];
#pragma omp parallel for if (len >= MTFL_CPU_PARALLEL_MIN) schedule(static)
        for (size_t part = 0; part < SUM_PARTS; part++) {
            size_t l = part * len / SUM_PARTS, end = (part + 1) * len / SUM_PARTS;
            float best = x[l < len ? l : 0];
            for (; l < end; l++) best = beats(x[l], best) ? x[l] : best;
            parts[part] = best;
        }
        float best = parts[0];
        for (size_t part = 1; part < SUM_PARTS; part++) best = beats(parts[part], best) ? parts[part] : best;
        return best;
    }
    float out;
    reduce_block(op, x, &out, len, 1, 1);
    return out;
}

mtfl_status mtfl_cpu_reduce(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf xb,
                            size_t outer, size_t len, size_t inner)
{
    float *d = cpu_ptr(dst);
    const float *x = cpu_ptr(xb);
    if (inner == 1 && !is_arg(op) && outer < 4) {
        for (size_t o = 0; o < outer; o++) d[o] = reduce_run(op, x + o * len, len);
        return MTFL_OK;
    }
    size_t blocks_per_outer = (inner + BLOCK - 1) / BLOCK;
    size_t tasks = outer * blocks_per_outer;
#pragma omp parallel for if (outer * len * inner >= MTFL_CPU_PARALLEL_MIN && tasks > 1) schedule(dynamic, 4)
    for (size_t t = 0; t < tasks; t++) {
        size_t o = t / blocks_per_outer, i0 = (t % blocks_per_outer) * BLOCK;
        size_t count = inner - i0 < BLOCK ? inner - i0 : BLOCK;
        if (inner == 1) {
            d[o] = reduce_run(op, x + o * len, len);
        } else {
            reduce_block(op, x + o * len * inner + i0, d + o * inner + i0, len, inner, count);
        }
    }
    return MTFL_OK;
}
