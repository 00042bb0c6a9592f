/*
 * cpu_elementwise.c - elementwise ops on the CPU.
 *
 * The switch sits outside the loop so that each loop is a simple body the compiler
 * vectorises; dst may alias an input (in-place ops), which every loop here allows.
 */
#include <math.h>

#include "cpu_internal.h"

/* A NaN goes through every op (ReLU, clamp, max and min included) instead of turning
 * into a plausible number: a broken input or weight must show in the result. */
#define PARALLEL_FOR _Pragma("omp parallel for if (n >= MTFL_CPU_PARALLEL_MIN) schedule(static)")
#define MAP(expr) do { PARALLEL_FOR for (size_t i = 0; i < n; i++) { float v = x[i]; d[i] = (expr); } } while (0)

mtfl_status mtfl_cpu_unary(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf xb,
                           size_t n, float a, float b)
{
    float *d = cpu_ptr(dst);
    const float *x = cpu_ptr(xb);
    switch (op) {
    case MTFL_UNARY_NEG: MAP(-v); break;
    case MTFL_UNARY_ABS: MAP(fabsf(v)); break;
    case MTFL_UNARY_EXP: MAP(expf(v)); break;
    case MTFL_UNARY_LOG: MAP(logf(v)); break;
    case MTFL_UNARY_SQRT: MAP(sqrtf(v)); break;
    case MTFL_UNARY_RELU: MAP(v <= 0.0f ? 0.0f : v); break;   /* NaN stays NaN, as in IEEE max */
    case MTFL_UNARY_TANH: MAP(tanhf(v)); break;
    case MTFL_UNARY_SIGMOID: MAP(1.0f / (1.0f + expf(-v))); break;
    case MTFL_UNARY_ADD_SCALAR: MAP(v + a); break;
    case MTFL_UNARY_MUL_SCALAR: MAP(v * a); break;
    case MTFL_UNARY_RSUB_SCALAR: MAP(a - v); break;
    case MTFL_UNARY_RDIV_SCALAR: MAP(a / v); break;
    case MTFL_UNARY_POW_SCALAR: MAP(powf(v, a)); break;
    case MTFL_UNARY_RPOW_SCALAR: MAP(powf(a, v)); break;
    case MTFL_UNARY_CLAMP: MAP(v != v ? v : fminf(fmaxf(v, a), b)); break;
    case MTFL_UNARY_STEP: MAP(v >= a ? b : 0.0f); break;
    case MTFL_UNARY_LEAKY_RELU: MAP(v > 0.0f ? v : a * v); break;
    case MTFL_UNARY_ABS_TANH: MAP(fabsf(tanhf(v))); break;
    default: return MTFL_FAIL_HERE(MTFL_ERR_ARG, "cpu: unknown unary op %d", (int)op);
    }
    return MTFL_OK;
}

#define ZIP(expr) do { PARALLEL_FOR for (size_t i = 0; i < n; i++) { float u = x[i], v = y[i]; d[i] = (expr); } } while (0)

mtfl_status mtfl_cpu_binary(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf xb,
                            mtfl_buf yb, size_t n, float a)
{
    float *d = cpu_ptr(dst);
    const float *x = cpu_ptr(xb), *y = cpu_ptr(yb);
    switch (op) {
    case MTFL_BINARY_ADD: ZIP(u + v); break;
    case MTFL_BINARY_SUB: ZIP(u - v); break;
    case MTFL_BINARY_MUL: ZIP(u * v); break;
    case MTFL_BINARY_DIV: ZIP(u / v); break;
    case MTFL_BINARY_POW: ZIP(powf(u, v)); break;
    /* fmaxf and fminf skip a NaN; here it propagates (u + v is NaN then), as in PyTorch */
    case MTFL_BINARY_MAX: ZIP(u != u || v != v ? u + v : fmaxf(u, v)); break;
    case MTFL_BINARY_MIN: ZIP(u != u || v != v ? u + v : fminf(u, v)); break;
    case MTFL_BINARY_RELU_GRAD: ZIP(v <= 0.0f ? 0.0f : u); break;
    case MTFL_BINARY_TANH_GRAD: ZIP(u * (1.0f - v * v)); break;
    case MTFL_BINARY_SIGMOID_GRAD: ZIP(u * v * (1.0f - v)); break;
    case MTFL_BINARY_LEAKY_RELU_GRAD: ZIP(v > 0.0f ? u : a * u); break;
    /* at the kink (an input of exactly 0) the gradient is taken as 0 */
    case MTFL_BINARY_ABS_TANH_GRAD:
        ZIP((v > 0.0f ? u : v < 0.0f ? -u : 0.0f) * (1.0f - tanhf(v) * tanhf(v)));
        break;
    case MTFL_BINARY_PRELU_SLOPE_GRAD: ZIP(v > 0.0f ? 0.0f : u * v); break;
    default: return MTFL_FAIL_HERE(MTFL_ERR_ARG, "cpu: unknown binary op %d", (int)op);
    }
    return MTFL_OK;
}

mtfl_status mtfl_cpu_axpy(mtfl_device *dev, mtfl_buf yb, float alpha, mtfl_buf xb, size_t n)
{
    float *y = cpu_ptr(yb);
    const float *x = cpu_ptr(xb);
    PARALLEL_FOR
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
    return MTFL_OK;
}
