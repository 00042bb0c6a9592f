/*
 * rng.h - the counter-based random number generator, shared word for word by the C
 * backends and the OpenCL kernels (this file is prepended to the kernel sources).
 *
 * Draw i of a stream is a pure function of (seed, i): a SplitMix64 finaliser over the
 * counter. No state lives on a device, so every backend, and any number of threads,
 * produce the same numbers for the same seed and counter.
 */
#ifndef MTFL_RNG_H
#define MTFL_RNG_H

#ifdef __OPENCL_VERSION__
typedef ulong mtfl_u64;
#define MTFL_RNG_FN static inline
#else
#include <math.h>
#include <stdint.h>
typedef uint64_t mtfl_u64;
#define MTFL_RNG_FN static inline
#endif

MTFL_RNG_FN mtfl_u64 mtfl_rng_mix(mtfl_u64 z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

/* The seed is mixed first so that nearby seeds do not give overlapping streams. */
MTFL_RNG_FN mtfl_u64 mtfl_rng_bits(mtfl_u64 seed, mtfl_u64 index)
{
    return mtfl_rng_mix(mtfl_rng_mix(seed) + (index + 1) * 0x9E3779B97F4A7C15UL);
}

/* 24 random bits: exactly representable, so uniform draws are bit-identical everywhere. */
MTFL_RNG_FN float mtfl_rng_uniform01(mtfl_u64 seed, mtfl_u64 index)
{
    return (float)(mtfl_rng_bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}

/* Box-Muller over draws 2i and 2i+1; 1 - u keeps the log argument in (0, 1]. A normal
 * draw therefore consumes two counters. Equal across backends to float precision of
 * log and cos (a few ulp), not bit for bit. */
MTFL_RNG_FN float mtfl_rng_normal01(mtfl_u64 seed, mtfl_u64 index)
{
    float u1 = mtfl_rng_uniform01(seed, 2 * index);
    float u2 = mtfl_rng_uniform01(seed, 2 * index + 1);
    return sqrt(-2.0f * log(1.0f - u1)) * cos(6.28318530717958647692f * u2);
}

#endif
