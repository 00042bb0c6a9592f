/*
 * lops.c - tensor arithmetic from Lua: elementwise ops with scalars and tensors,
 * reductions, matmul, in-place fills and draws, and the printed form of a tensor.
 *
 * Naming follows Torch: t:add(x) returns a new tensor, t:add_(x) writes into t and
 * returns it. Reductions without a dimension return a Lua number.
 */
#include <math.h>
#include <string.h>

#include "lbind.h"

/* ---- elementwise ---------------------------------------------------------------- */

typedef struct {
    const char *name;
    mtfl_binary_op tensor_op;   /* t op tensor */
    mtfl_unary_op scalar_op;    /* t op scalar */
    mtfl_unary_op rscalar_op;   /* scalar op t */
} arith_op;

enum { ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM };
static const arith_op arith[] = {
    [ADD] = {"add", MTFL_BINARY_ADD, MTFL_UNARY_ADD_SCALAR, MTFL_UNARY_ADD_SCALAR},
    [SUB] = {"sub", MTFL_BINARY_SUB, MTFL_UNARY_ADD_SCALAR, MTFL_UNARY_RSUB_SCALAR},
    [MUL] = {"mul", MTFL_BINARY_MUL, MTFL_UNARY_MUL_SCALAR, MTFL_UNARY_MUL_SCALAR},
    [DIV] = {"div", MTFL_BINARY_DIV, MTFL_UNARY_MUL_SCALAR, MTFL_UNARY_RDIV_SCALAR},
    [POW] = {"pow", MTFL_BINARY_POW, MTFL_UNARY_POW_SCALAR, MTFL_UNARY_RPOW_SCALAR},
    [MAXIMUM] = {"maximum", MTFL_BINARY_MAX, MTFL_UNARY_CLAMP, MTFL_UNARY_CLAMP},
    [MINIMUM] = {"minimum", MTFL_BINARY_MIN, MTFL_UNARY_CLAMP, MTFL_UNARY_CLAMP},
};

/* The scalar as the unary op wants it: t - s is t + (-s), t / s is t * (1/s). */
static void scalar_args(int which, float s, float *a, float *b)
{
    *a = s;
    *b = 0.0f;
    if (which == SUB) *a = -s;
    else if (which == DIV) *a = 1.0f / s;
    else if (which == MAXIMUM) *b = INFINITY;
    else if (which == MINIMUM) { *a = -INFINITY; *b = s; }
}

/* dst <- x op y where exactly one of x, y may be a number. */
static void apply_arith(lua_State *L, int which, mtfl_tensor *dst, int x_idx, int y_idx)
{
    const arith_op *op = &arith[which];
    mtfl_tensor *x = lmtfl_test_tensor(L, x_idx), *y = lmtfl_test_tensor(L, y_idx);
    float a, b;
    if (x && y) {
        LMTFL_CALL(L, mtfl_binary(op->tensor_op, dst, x, y));
    } else if (x) {
        scalar_args(which, (float)luaL_checknumber(L, y_idx), &a, &b);
        LMTFL_CALL(L, mtfl_unary(op->scalar_op, dst, x, a, b));
    } else {
        float s = (float)luaL_checknumber(L, x_idx);
        /* scalar op tensor: commutative ops reuse the t-op-scalar form */
        if (which == SUB || which == DIV || which == POW) { a = s; b = 0.0f; }
        else scalar_args(which, s, &a, &b);
        LMTFL_CALL(L, mtfl_unary(op->rscalar_op, dst, y, a, b));
    }
}

static int arith_new(lua_State *L, int which)
{
    mtfl_tensor *x = lmtfl_test_tensor(L, 1), *y = lmtfl_test_tensor(L, 2);
    if (!x && !y) lmtfl_error(L, "%s: expects a tensor", arith[which].name);
    mtfl_tensor *dst;
    if (x && y) {
        int64_t shape[MTFL_MAX_DIMS];
        int nd = mtfl_broadcast_shape(arith[which].name, x, y, shape);
        if (nd < 0) lmtfl_raise(L);
        dst = lmtfl_new_tensor(L, mtfl_tensor_device(x), nd, shape);
    } else {
        dst = lmtfl_new_like(L, x ? x : y);
    }
    apply_arith(L, which, dst, 1, 2);
    return 1;
}

static int arith_inplace(lua_State *L, int which)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    apply_arith(L, which, t, 1, 2);
    lua_settop(L, 1);
    return 1;
}

#define ARITH(name, which)                                                    \
    static int m_##name(lua_State *L) { return arith_new(L, which); }         \
    static int m_##name##_(lua_State *L) { return arith_inplace(L, which); }
ARITH(add, ADD)
ARITH(sub, SUB)
ARITH(mul, MUL)
ARITH(div, DIV)
ARITH(pow, POW)
ARITH(maximum, MAXIMUM)
ARITH(minimum, MINIMUM)

static int unary_apply(lua_State *L, mtfl_unary_op op, bool inplace)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1);
    float a = 0.0f, b = 0.0f;
    if (op == MTFL_UNARY_CLAMP) {
        a = (float)luaL_optnumber(L, 2, -INFINITY);
        b = (float)luaL_optnumber(L, 3, INFINITY);
        if (a > b) lmtfl_error(L, "clamp: lower bound %g above upper bound %g", a, b);
    } else if (op == MTFL_UNARY_STEP) {
        /* t:step(threshold [, value = 1]): x >= threshold ? value : 0 */
        a = (float)luaL_checknumber(L, 2);
        b = (float)luaL_optnumber(L, 3, 1.0);
    } else if (op == MTFL_UNARY_LEAKY_RELU) {
        /* t:leaky_relu([slope = 0.01]) */
        a = (float)luaL_optnumber(L, 2, 0.01);
    }
    mtfl_tensor *dst = inplace ? x : lmtfl_new_like(L, x);
    LMTFL_CALL(L, mtfl_unary(op, dst, x, a, b));
    if (inplace) lua_settop(L, 1);
    return 1;
}

#define UNARY(name, op)                                                           \
    static int m_##name(lua_State *L) { return unary_apply(L, op, false); }       \
    static int m_##name##_(lua_State *L) { return unary_apply(L, op, true); }
UNARY(neg, MTFL_UNARY_NEG)
UNARY(abs, MTFL_UNARY_ABS)
UNARY(exp, MTFL_UNARY_EXP)
UNARY(log, MTFL_UNARY_LOG)
UNARY(sqrt, MTFL_UNARY_SQRT)
UNARY(relu, MTFL_UNARY_RELU)
UNARY(tanh, MTFL_UNARY_TANH)
UNARY(sigmoid, MTFL_UNARY_SIGMOID)
UNARY(clamp, MTFL_UNARY_CLAMP)
UNARY(step, MTFL_UNARY_STEP)
UNARY(leaky_relu, MTFL_UNARY_LEAKY_RELU)
UNARY(abs_tanh, MTFL_UNARY_ABS_TANH)

/* y:axpy(alpha, x): y <- y + alpha * x, in place; returns y */
static int m_axpy(lua_State *L)
{
    mtfl_tensor *y = lmtfl_check_tensor(L, 1);
    float alpha = (float)luaL_checknumber(L, 2);
    mtfl_tensor *x = lmtfl_check_tensor(L, 3);
    LMTFL_CALL(L, mtfl_axpy(y, alpha, x));
    lua_settop(L, 1);
    return 1;
}

static int m_fill(lua_State *L)
{
    LMTFL_CALL(L, mtfl_fill(lmtfl_check_tensor(L, 1), (float)luaL_checknumber(L, 2)));
    lua_settop(L, 1);
    return 1;
}

static int m_zero(lua_State *L)
{
    LMTFL_CALL(L, mtfl_fill(lmtfl_check_tensor(L, 1), 0.0f));
    lua_settop(L, 1);
    return 1;
}

/* t:uniform([low=0, high=1]) and t:normal([mean=0, std=1]) draw in place */
static int m_uniform(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    float lo = (float)luaL_optnumber(L, 2, 0.0), hi = (float)luaL_optnumber(L, 3, 1.0);
    LMTFL_CALL(L, mtfl_uniform(t, lo, hi));
    lua_settop(L, 1);
    return 1;
}

static int m_normal(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    float mean = (float)luaL_optnumber(L, 2, 0.0), std = (float)luaL_optnumber(L, 3, 1.0);
    LMTFL_CALL(L, mtfl_normal(t, mean, std));
    lua_settop(L, 1);
    return 1;
}

/* ---- reductions ----------------------------------------------------------------- */

/* t:sum() -> number; t:sum(dim [, keepdim]) -> tensor. Arg-reductions give 1-based
 * indices: a Lua integer (the flat index) for the whole tensor, else a tensor marked as
 * holding indices, so that item(), totable() and t[i] read them as integers. */
static int reduce(lua_State *L, mtfl_reduce_op op)
{
    mtfl_tensor *x = lmtfl_check_tensor(L, 1);
    bool is_arg = op == MTFL_REDUCE_ARGMAX || op == MTFL_REDUCE_ARGMIN;
    int64_t shape[MTFL_MAX_DIMS];
    if (lua_isnoneornil(L, 2)) {
        mtfl_tensor *out = lmtfl_new_tensor(L, mtfl_tensor_device(x), 0, shape);
        LMTFL_CALL(L, mtfl_reduce(op, out, x, -1));
        float v;
        LMTFL_CALL(L, mtfl_tensor_read(out, &v, 1));
        if (is_arg) lua_pushinteger(L, (lua_Integer)v + 1);
        else lua_pushnumber(L, v);
        return 1;
    }
    int dim = lmtfl_check_dim(L, 2, x);
    bool keepdim = lua_toboolean(L, 3);
    int ndim = mtfl_reduce_shape(x, dim, keepdim, shape);
    mtfl_tensor *out = lmtfl_new_tensor(L, mtfl_tensor_device(x), ndim, shape);
    LMTFL_CALL(L, mtfl_reduce(op, out, x, dim));
    if (is_arg) {
        LMTFL_CALL(L, mtfl_unary(MTFL_UNARY_ADD_SCALAR, out, out, 1.0f, 0.0f));
        lmtfl_set_integer(L, -1, true);
    }
    return 1;
}

static int m_sum(lua_State *L) { return reduce(L, MTFL_REDUCE_SUM); }
static int m_mean(lua_State *L) { return reduce(L, MTFL_REDUCE_MEAN); }
static int m_max(lua_State *L) { return reduce(L, MTFL_REDUCE_MAX); }
static int m_min(lua_State *L) { return reduce(L, MTFL_REDUCE_MIN); }
static int m_argmax(lua_State *L) { return reduce(L, MTFL_REDUCE_ARGMAX); }
static int m_argmin(lua_State *L) { return reduce(L, MTFL_REDUCE_ARGMIN); }

/* ---- matmul --------------------------------------------------------------------- */

static bool opt_bool(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static float opt_number(lua_State *L, int idx, const char *key, float def)
{
    lua_getfield(L, idx, key);
    float v = (float)luaL_optnumber(L, -1, def);
    lua_pop(L, 1);
    return v;
}

/* matmul(a, b [, {ta=, tb=, alpha=1, beta=0, out=}]): 2-D or batched 3-D */
static int l_matmul(lua_State *L)
{
    mtfl_tensor *a = lmtfl_check_tensor(L, 1), *b = lmtfl_check_tensor(L, 2);
    bool ta = false, tb = false;
    float alpha = 1.0f, beta = 0.0f;
    mtfl_tensor *out = NULL;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        ta = opt_bool(L, 3, "ta");
        tb = opt_bool(L, 3, "tb");
        alpha = opt_number(L, 3, "alpha", 1.0f);
        beta = opt_number(L, 3, "beta", 0.0f);
        lua_getfield(L, 3, "out");
        if (!lua_isnil(L, -1)) out = lmtfl_check_tensor(L, -1);
    }
    if (!out) {
        int64_t shape[3];
        int nd = mtfl_matmul_shape(a, b, ta, tb, shape);
        if (nd < 0) lmtfl_raise(L);
        out = lmtfl_new_tensor(L, mtfl_tensor_device(a), nd, shape);
    }
    LMTFL_CALL(L, mtfl_matmul(out, a, b, ta, tb, alpha, beta));
    return 1;
}

/* ---- joining ------------------------------------------------------------------- */

/* The tensors of the list at idx, in a userdata pushed on the stack (freed by the GC
 * if an error interrupts). Entries that are not tensors are named. */
static const mtfl_tensor **check_tensor_list(lua_State *L, int idx, const char *op, int *count)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 1) lmtfl_error(L, "%s: expects a list of tensors, got an empty one", op);
    if (n > INT32_MAX) lmtfl_error(L, "%s: %lld tensors are too many", op, (long long)n);
    const mtfl_tensor **list = lua_newuserdatauv(L, (size_t)n * sizeof *list, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        list[i - 1] = lmtfl_test_tensor(L, -1);
        if (!list[i - 1])
            lmtfl_error(L, "%s: entry %lld is a %s, not a tensor", op, (long long)i, luaL_typename(L, -1));
        lua_pop(L, 1);   /* the list keeps the tensor alive */
    }
    *count = (int)n;
    return list;
}

/* A 1-based dimension (negative from the end) among ndim, returned 0-based; range
 * errors are left to the core, which names the shapes. */
static int join_dim(lua_State *L, int idx, int ndim)
{
    lua_Integer d = luaL_optinteger(L, idx, 1);
    lua_Integer resolved = d < 0 ? ndim + d + 1 : d;
    return resolved < 0 || resolved > INT32_MAX ? -1 : (int)resolved - 1;
}

static bool all_integer(lua_State *L, int list_idx, int count)
{
    for (int i = 1; i <= count; i++) {
        lua_geti(L, list_idx, i);
        bool marked = lmtfl_is_integer(L, -1);
        lua_pop(L, 1);
        if (!marked) return false;
    }
    return true;
}

/* cat({t1, t2, ...} [, dim = 1]): joined along dim, every other size equal */
static int l_cat(lua_State *L)
{
    int count;
    lua_settop(L, 2);   /* the list's userdata goes above the arguments */
    const mtfl_tensor **list = check_tensor_list(L, 1, "cat", &count);
    int dim = join_dim(L, 2, list[0]->ndim);
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = mtfl_cat_shape(list, count, dim, shape);
    if (ndim < 0) lmtfl_raise(L);
    mtfl_tensor *out = lmtfl_new_tensor(L, mtfl_tensor_device(list[0]), ndim, shape);
    LMTFL_CALL(L, mtfl_cat(out, list, count, dim));
    if (all_integer(L, 1, count)) lmtfl_set_integer(L, -1, true);
    return 1;
}

/* stack({t1, t2, ...} [, dim = 1]): equal shapes along a new dimension dim */
static int l_stack(lua_State *L)
{
    int count;
    lua_settop(L, 2);   /* the list's userdata goes above the arguments */
    const mtfl_tensor **list = check_tensor_list(L, 1, "stack", &count);
    int dim = join_dim(L, 2, list[0]->ndim + 1);
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = mtfl_stack_shape(list, count, dim, shape);
    if (ndim < 0) lmtfl_raise(L);
    mtfl_tensor *out = lmtfl_new_tensor(L, mtfl_tensor_device(list[0]), ndim, shape);
    LMTFL_CALL(L, mtfl_stack(out, list, count, dim));
    if (all_integer(L, 1, count)) lmtfl_set_integer(L, -1, true);
    return 1;
}

/* ---- printing ------------------------------------------------------------------- */

#define PRINT_MAX_ELEMENTS 100000
#define PRINT_EDGE 3 /* entries shown at each end of a long dimension */

static bool shown(int64_t i, int64_t size)
{
    return size <= 2 * PRINT_EDGE + 1 || i < PRINT_EDGE || i >= size - PRINT_EDGE;
}

static void print_rows(luaL_Buffer *b, const mtfl_tensor *t, const float *v, int depth,
                       size_t at, int64_t *index, const char *fmt)
{
    char cell[64];
    int nd = t->ndim;
    if (depth == nd - 2 || nd == 1) {
        if (nd >= 3) {
            luaL_addstring(b, "(");
            for (int i = 0; i < nd - 2; i++) {
                snprintf(cell, sizeof cell, "%lld,", (long long)index[i] + 1);
                luaL_addstring(b, cell);
            }
            luaL_addstring(b, ".,.) =\n");
        }
        int64_t rows = nd == 1 ? 1 : t->shape[nd - 2], cols = t->shape[nd - 1];
        int64_t row_step = nd == 1 ? 0 : t->shape[nd - 1];
        for (int64_t r = 0; r < rows; r++) {
            if (!shown(r, rows)) {
                if (r == PRINT_EDGE) luaL_addstring(b, "  ...\n");
                continue;
            }
            for (int64_t c = 0; c < cols; c++) {
                if (!shown(c, cols)) {
                    if (c == PRINT_EDGE) luaL_addstring(b, "  ...");
                    continue;
                }
                snprintf(cell, sizeof cell, fmt, v[at + (size_t)(r * row_step + c)]);
                luaL_addstring(b, cell);
            }
            luaL_addstring(b, "\n");
        }
        return;
    }
    size_t block = 1;
    for (int i = depth + 1; i < nd; i++) block *= (size_t)t->shape[i];
    for (int64_t i = 0; i < t->shape[depth]; i++) {
        if (!shown(i, t->shape[depth])) {
            if (i == PRINT_EDGE) luaL_addstring(b, "...\n\n");
            continue;
        }
        index[depth] = i;
        print_rows(b, t, v, depth + 1, at + (size_t)i * block, index, fmt);
        if (nd >= 3) luaL_addstring(b, "\n");
    }
}

/* Integers print as integers, as wide as the widest; otherwise 4 decimals in a common
 * width, or exponents when magnitudes call for them. */
static const char *choose_format(const float *v, size_t n, char *fmt, size_t size)
{
    bool integral = true, negative = false;
    float big = 0.0f;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]) && fabsf(v[i]) > big) big = fabsf(v[i]);
        if (v[i] < 0) negative = true;
        if (v[i] != floorf(v[i]) || !isfinite(v[i])) integral = false;
    }
    if (integral && big < 1e7f) {
        int digits = big >= 1.0f ? (int)log10f(big) + 1 : 1;
        snprintf(fmt, size, " %%%d.0f", digits + (negative ? 2 : 1));
    } else {
        snprintf(fmt, size, "%s", (big >= 1e5f || (big < 1e-3f && big > 0.0f)) ? " %11.4e" : " %10.4f");
    }
    return fmt;
}

void lmtfl_print_tensor(lua_State *L, const mtfl_tensor *t)
{
    char s[128];
    size_t n = mtfl_numel(t);
    float *v = NULL;
    if (n > 0 && n <= PRINT_MAX_ELEMENTS) {
        v = lua_newuserdatauv(L, n * sizeof(float), 0);
        LMTFL_CALL(L, mtfl_tensor_read(t, v, n));
    }
    int top = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (t->ndim == 0 && v) {
        snprintf(s, sizeof s, "%g\n", v[0]);
        luaL_addstring(&b, s);
    } else if (v) {
        int64_t index[MTFL_MAX_DIMS] = {0};
        char fmt[32];
        print_rows(&b, t, v, 0, 0, index, choose_format(v, n, fmt, sizeof fmt));
    } else if (n > 0) {
        luaL_addstring(&b, "(values not shown: use narrow() to look at a part)\n");
    }
    char dims[128];
    snprintf(s, sizeof s, "mtfl.Tensor %s on %s", mtfl_shape_str(t, dims, sizeof dims),
             mtfl_tensor_device(t)->id);
    luaL_addstring(&b, s);
    luaL_pushresult(&b);
    if (v) lua_remove(L, top);
}

/* ---- metamethods ---------------------------------------------------------------- */

static int mm_add(lua_State *L) { return arith_new(L, ADD); }
static int mm_sub(lua_State *L) { return arith_new(L, SUB); }
static int mm_mul(lua_State *L) { return arith_new(L, MUL); }
static int mm_div(lua_State *L) { return arith_new(L, DIV); }
static int mm_pow(lua_State *L) { return arith_new(L, POW); }
static int mm_unm(lua_State *L) { return unary_apply(L, MTFL_UNARY_NEG, false); }

static const luaL_Reg op_methods[] = {
    {"add", m_add}, {"add_", m_add_}, {"sub", m_sub}, {"sub_", m_sub_},
    {"mul", m_mul}, {"mul_", m_mul_}, {"div", m_div}, {"div_", m_div_},
    {"pow", m_pow}, {"pow_", m_pow_}, {"maximum", m_maximum}, {"maximum_", m_maximum_},
    {"minimum", m_minimum}, {"minimum_", m_minimum_},
    {"neg", m_neg}, {"neg_", m_neg_}, {"abs", m_abs}, {"abs_", m_abs_},
    {"exp", m_exp}, {"exp_", m_exp_}, {"log", m_log}, {"log_", m_log_},
    {"sqrt", m_sqrt}, {"sqrt_", m_sqrt_}, {"relu", m_relu}, {"relu_", m_relu_},
    {"tanh", m_tanh}, {"tanh_", m_tanh_}, {"sigmoid", m_sigmoid}, {"sigmoid_", m_sigmoid_},
    {"clamp", m_clamp}, {"clamp_", m_clamp_}, {"step", m_step}, {"step_", m_step_},
    {"leaky_relu", m_leaky_relu}, {"leaky_relu_", m_leaky_relu_},
    {"abs_tanh", m_abs_tanh}, {"abs_tanh_", m_abs_tanh_},
    {"axpy", m_axpy},
    {"fill", m_fill}, {"zero", m_zero}, {"uniform", m_uniform}, {"normal", m_normal},
    {"sum", m_sum}, {"mean", m_mean}, {"max", m_max}, {"min", m_min},
    {"argmax", m_argmax}, {"argmin", m_argmin}, {"matmul", l_matmul}, {NULL, NULL}};

static const luaL_Reg op_metamethods[] = {
    {"__add", mm_add}, {"__sub", mm_sub}, {"__mul", mm_mul}, {"__div", mm_div},
    {"__pow", mm_pow}, {"__unm", mm_unm}, {NULL, NULL}};

/* Expects the module table on top of the stack. Leaves the stack as it was. */
void lmtfl_open_ops(lua_State *L)
{
    lua_pushcfunction(L, l_matmul);
    lua_setfield(L, -2, "matmul");
    lua_pushcfunction(L, l_cat);
    lua_setfield(L, -2, "cat");
    lua_pushcfunction(L, l_stack);
    lua_setfield(L, -2, "stack");
    luaL_getmetatable(L, LMTFL_TENSOR);
    luaL_setfuncs(L, op_metamethods, 0);
    lua_getfield(L, -1, "methods");
    luaL_setfuncs(L, op_methods, 0);
    lua_pop(L, 2);
}
