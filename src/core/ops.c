/*
 * ops.c - the ops of the public API: check arguments, then hand contiguous buffers to
 * the tensor's backend.
 *
 * Every op follows one pattern. Inputs that are not contiguous are gathered into a
 * temporary first (views stay cheap; ops stay simple). An output that is not
 * contiguous is computed into a temporary and scattered back, so writing into a
 * narrow() or transpose() view works. Empty tensors never reach a backend.
 */
#include <stdlib.h>
#include <string.h>

#include "tensor_internal.h"

static const char *unary_names[MTFL_UNARY_COUNT] = {
    "neg", "abs", "exp", "log", "sqrt", "relu", "tanh", "sigmoid", "add", "mul",
    "sub", "div", "pow", "pow", "clamp", "step", "leaky_relu", "abs_tanh"};
static const char *binary_names[MTFL_BINARY_COUNT] = {
    "add", "sub", "mul", "div", "pow", "max", "min", "relu_backward", "tanh_backward",
    "sigmoid_backward", "leaky_relu_backward", "abs_tanh_backward", "prelu_backward"};
static const char *reduce_names[MTFL_REDUCE_COUNT] = {
    "sum", "mean", "max", "min", "argmax", "argmin"};

const char *mtfl_unary_name(mtfl_unary_op op) { return unary_names[op]; }
const char *mtfl_binary_name(mtfl_binary_op op) { return binary_names[op]; }
const char *mtfl_reduce_name(mtfl_reduce_op op) { return reduce_names[op]; }

static mtfl_backend const *backend_of(const mtfl_tensor *t) { return t->storage->device->backend; }
static mtfl_device *device_of(const mtfl_tensor *t) { return t->storage->device; }

static mtfl_status check_same_device(const char *op, const mtfl_tensor *a, const mtfl_tensor *b)
{
    if (device_of(a) == device_of(b)) return MTFL_OK;
    char sa[128], sb[128];
    return mtfl_fail(MTFL_ERR_DEVICE, "%s: tensors on different devices (%s on %s, %s on %s); "
                     "copy one with :to(device) first", op, mtfl_shape_str(a, sa, sizeof sa),
                     device_of(a)->id, mtfl_shape_str(b, sb, sizeof sb), device_of(b)->id);
}

static mtfl_status check_same_shape(const char *op, const mtfl_tensor *a, const mtfl_tensor *b)
{
    if (mtfl_same_shape(a, b)) return MTFL_OK;
    char sa[128], sb[128];
    return mtfl_fail(MTFL_ERR_ARG, "%s: shapes %s and %s differ", op,
                     mtfl_shape_str(a, sa, sizeof sa), mtfl_shape_str(b, sb, sizeof sb));
}

/* The contiguous tensor to write into for t: t itself, or a temporary (holding t's
 * values when keep is set) that finish_output scatters back into t. */
static mtfl_tensor *begin_output(mtfl_tensor *t, bool keep)
{
    if (mtfl_is_contiguous(t)) return mtfl_tensor_view(t);
    return keep ? mtfl_tensor_clone(t) : mtfl_tensor_new_like(t);
}

static mtfl_status finish_output(mtfl_tensor *t, mtfl_tensor *out, mtfl_status st)
{
    if (st == MTFL_OK && out->storage != t->storage) st = mtfl_copy(t, out);
    mtfl_tensor_release(out);
    return st;
}

mtfl_status mtfl_fill(mtfl_tensor *t, float value)
{
    size_t n = mtfl_numel(t);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *out = begin_output(t, false);
    if (!out) return mtfl_last_status();
    mtfl_status st = backend_of(t)->fill(device_of(t), mtfl_tensor_buf(out), n, value);
    return finish_output(t, out, st);
}

mtfl_status mtfl_arange(mtfl_tensor *t, float start, float step)
{
    size_t n = mtfl_numel(t);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *out = begin_output(t, false);
    if (!out) return mtfl_last_status();
    mtfl_status st = backend_of(t)->arange(device_of(t), mtfl_tensor_buf(out), n, start, step);
    return finish_output(t, out, st);
}

/* ---- random numbers --------------------------------------------------------------- */

static uint64_t rng_seed = 0x5EED;
static uint64_t rng_counter;

void mtfl_manual_seed(uint64_t seed)
{
    rng_seed = seed;
    rng_counter = 0;
}

uint64_t mtfl_rng_seed(void) { return rng_seed; }
uint64_t mtfl_rng_counter(void) { return rng_counter; }

void mtfl_rng_set_state(uint64_t seed, uint64_t counter)
{
    rng_seed = seed;
    rng_counter = counter;
}

static mtfl_status draw(mtfl_tensor *t, bool normal, float a, float b)
{
    size_t n = mtfl_numel(t);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *out = begin_output(t, false);
    if (!out) return mtfl_last_status();
    mtfl_status st = backend_of(t)->random(device_of(t), mtfl_tensor_buf(out), n, normal,
                                           rng_seed, rng_counter, a, b);
    /* Normal draws use two counters each (Box-Muller), see rng.h. */
    if (st == MTFL_OK) rng_counter += normal ? 2 * n : n;
    return finish_output(t, out, st);
}

mtfl_status mtfl_uniform(mtfl_tensor *t, float low, float high)
{
    return draw(t, false, low, high);
}

mtfl_status mtfl_normal(mtfl_tensor *t, float mean, float stddev)
{
    if (stddev < 0)
        return mtfl_fail(MTFL_ERR_ARG, "normal: standard deviation %g is negative", stddev);
    return draw(t, true, mean, stddev);
}

/* ---- elementwise -------------------------------------------------------------------- */

mtfl_status mtfl_unary(mtfl_unary_op op, mtfl_tensor *dst, const mtfl_tensor *x, float a, float b)
{
    const char *name = mtfl_unary_name(op);
    mtfl_status st;
    if ((st = check_same_device(name, dst, x)) || (st = check_same_shape(name, dst, x))) return st;
    size_t n = mtfl_numel(x);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *in = mtfl_tensor_contiguous(x);
    mtfl_tensor *out = in ? begin_output(dst, false) : NULL;
    if (!out) {
        mtfl_tensor_release(in);
        return mtfl_last_status();
    }
    st = backend_of(x)->unary(device_of(x), op, mtfl_tensor_buf(out), mtfl_tensor_buf(in), n, a, b);
    mtfl_tensor_release(in);
    return finish_output(dst, out, st);
}

int mtfl_broadcast_shape(const char *op, const mtfl_tensor *a, const mtfl_tensor *b, int64_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[128], s2[128];
            mtfl_fail(MTFL_ERR_ARG, "%s: shapes %s and %s differ", op,
                      mtfl_shape_str(a, s1, sizeof s1), mtfl_shape_str(b, s2, sizeof s2));
            return -1;
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    return nd;
}

/* x broadcast to dst's shape, gathered contiguous (a stride-0 view materialises). */
static mtfl_tensor *broadcast_input(const mtfl_tensor *x, const mtfl_tensor *dst)
{
    if (mtfl_same_shape(x, dst)) return mtfl_tensor_contiguous(x);
    mtfl_tensor *e = mtfl_tensor_expand(x, dst->ndim, dst->shape);
    mtfl_tensor *c = e ? mtfl_tensor_contiguous(e) : NULL;
    mtfl_tensor_release(e);
    return c;
}

mtfl_status mtfl_binary(mtfl_binary_op op, mtfl_tensor *dst, const mtfl_tensor *x, const mtfl_tensor *y)
{
    return mtfl_binary_param(op, dst, x, y, 0.0f);
}

mtfl_status mtfl_binary_param(mtfl_binary_op op, mtfl_tensor *dst, const mtfl_tensor *x,
                              const mtfl_tensor *y, float a)
{
    const char *name = mtfl_binary_name(op);
    int64_t shape[MTFL_MAX_DIMS];
    mtfl_status st;
    if ((st = check_same_device(name, x, y)) || (st = check_same_device(name, dst, x))) return st;
    int nd = mtfl_broadcast_shape(name, x, y, shape);
    if (nd < 0) return mtfl_last_status();
    if (dst->ndim != nd || memcmp(dst->shape, shape, (size_t)nd * sizeof *shape) != 0) {
        char sd[128], sw[128];
        return mtfl_fail(MTFL_ERR_ARG, "%s: output %s should be %s", name,
                         mtfl_shape_str(dst, sd, sizeof sd), mtfl_dims_str(nd, shape, sw, sizeof sw));
    }
    size_t n = mtfl_numel(dst);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *in_x = broadcast_input(x, dst);
    mtfl_tensor *in_y = in_x ? broadcast_input(y, dst) : NULL;
    mtfl_tensor *out = in_y ? begin_output(dst, false) : NULL;
    if (!out) {
        mtfl_tensor_release(in_x);
        mtfl_tensor_release(in_y);
        return mtfl_last_status();
    }
    st = backend_of(x)->binary(device_of(x), op, mtfl_tensor_buf(out), mtfl_tensor_buf(in_x),
                               mtfl_tensor_buf(in_y), n, a);
    mtfl_tensor_release(in_x);
    mtfl_tensor_release(in_y);
    return finish_output(dst, out, st);
}

mtfl_status mtfl_axpy(mtfl_tensor *y, float alpha, const mtfl_tensor *x)
{
    mtfl_status st;
    if ((st = check_same_device("axpy", y, x)) || (st = check_same_shape("axpy", y, x))) return st;
    size_t n = mtfl_numel(x);
    if (n == 0) return MTFL_OK;
    mtfl_tensor *in = mtfl_tensor_contiguous(x);
    mtfl_tensor *out = in ? begin_output(y, true) : NULL;
    if (!out) {
        mtfl_tensor_release(in);
        return mtfl_last_status();
    }
    st = backend_of(y)->axpy(device_of(y), mtfl_tensor_buf(out), alpha, mtfl_tensor_buf(in), n);
    mtfl_tensor_release(in);
    return finish_output(y, out, st);
}

/* ---- reductions --------------------------------------------------------------------- */

int mtfl_reduce_shape(const mtfl_tensor *x, int dim, bool keepdim, int64_t *shape)
{
    if (dim < 0) {
        for (int i = 0; keepdim && i < x->ndim; i++) shape[i] = 1;
        return keepdim ? x->ndim : 0;
    }
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != dim) shape[n++] = x->shape[i];
        else if (keepdim) shape[n++] = 1;
    }
    return n;
}

mtfl_status mtfl_reduce(mtfl_reduce_op op, mtfl_tensor *dst, const mtfl_tensor *x, int dim)
{
    const char *name = mtfl_reduce_name(op);
    char sx[128], sd[128];
    mtfl_status st;
    if ((st = check_same_device(name, dst, x))) return st;
    if (dim >= x->ndim || dim < -1)
        return mtfl_fail(MTFL_ERR_ARG, "%s: dimension %d out of range for shape %s (1..%d)",
                         name, dim + 1, mtfl_shape_str(x, sx, sizeof sx), x->ndim);
    size_t outer = 1, len = mtfl_numel(x), inner = 1;
    if (dim >= 0) {
        len = (size_t)x->shape[dim];
        for (int i = 0; i < dim; i++) outer *= (size_t)x->shape[i];
        for (int i = dim + 1; i < x->ndim; i++) inner *= (size_t)x->shape[i];
    }
    if (mtfl_numel(dst) != outer * inner)
        return mtfl_fail(MTFL_ERR_ARG, "%s: output %s cannot hold the reduction of %s over "
                         "dimension %d", name, mtfl_shape_str(dst, sd, sizeof sd),
                         mtfl_shape_str(x, sx, sizeof sx), dim + 1);
    if (outer * inner == 0) return MTFL_OK;
    if (len == 0) {
        if (op == MTFL_REDUCE_SUM) return mtfl_fill(dst, 0.0f);
        return mtfl_fail(MTFL_ERR_ARG, "%s: reducing an empty dimension of %s", name,
                         mtfl_shape_str(x, sx, sizeof sx));
    }
    mtfl_tensor *in = mtfl_tensor_contiguous(x);
    mtfl_tensor *out = in ? begin_output(dst, false) : NULL;
    if (!out) {
        mtfl_tensor_release(in);
        return mtfl_last_status();
    }
    st = backend_of(x)->reduce(device_of(x), op, mtfl_tensor_buf(out), mtfl_tensor_buf(in),
                               outer, len, inner);
    mtfl_tensor_release(in);
    return finish_output(dst, out, st);
}
