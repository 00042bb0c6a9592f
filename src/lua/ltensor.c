/*
 * ltensor.c - the tensor userdata: creation, views, conversion to and from Lua values,
 * indexing and lifetime. The arithmetic lives in lops.c.
 *
 * Lua sees 1-based dimensions and indices; the core is 0-based. The conversion happens
 * here and in lops.c, nowhere else.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbind.h"

/* ---- the userdata ----------------------------------------------------------------- */

int lmtfl_raise(lua_State *L) { return luaL_error(L, "%s", mtfl_last_error()); }

int lmtfl_error(lua_State *L, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return luaL_error(L, "%s", msg);
}

mtfl_tensor *lmtfl_test_tensor(lua_State *L, int idx)
{
    lmtfl_tensor_box *box = luaL_testudata(L, idx, LMTFL_TENSOR);
    if (!box) return NULL;
    if (!box->t) lmtfl_error(L, "tensor used after free()");
    return box->t;
}

mtfl_tensor *lmtfl_check_tensor(lua_State *L, int idx)
{
    lmtfl_tensor_box *box = luaL_testudata(L, idx, LMTFL_TENSOR);
    if (!box) luaL_typeerror(L, idx, "mtfl.Tensor");
    if (!box->t) lmtfl_error(L, "tensor used after free()");
    return box->t;
}

mtfl_tensor *lmtfl_push_tensor(lua_State *L, mtfl_tensor *t)
{
    if (!t) lmtfl_raise(L);
    lmtfl_tensor_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->t = t;
    box->integer = false;
    luaL_setmetatable(L, LMTFL_TENSOR);
    return t;
}

void lmtfl_set_integer(lua_State *L, int idx, bool integer)
{
    lmtfl_tensor_box *box = luaL_checkudata(L, idx, LMTFL_TENSOR);
    box->integer = integer;
}

bool lmtfl_is_integer(lua_State *L, int idx)
{
    lmtfl_tensor_box *box = luaL_testudata(L, idx, LMTFL_TENSOR);
    return box && box->integer;
}

/* The tensor on top of the stack, a view or copy of the one at idx, keeps its mark. */
static void inherit_mark(lua_State *L, int idx)
{
    if (lmtfl_is_integer(L, idx)) lmtfl_set_integer(L, -1, true);
}

/* An element as Lua sees it: an integer when the tensor holds indices (every float32
 * index is below 2^24, so the conversion is exact). */
static void push_element(lua_State *L, float v, bool integer)
{
    if (integer && v == floorf(v) && fabsf(v) < 0x1p53f) lua_pushinteger(L, (lua_Integer)v);
    else lua_pushnumber(L, v);
}

mtfl_tensor *lmtfl_new_tensor(lua_State *L, mtfl_device *dev, int ndim, const int64_t *shape)
{
    mtfl_tensor *t = lmtfl_push_tensor(L, mtfl_tensor_new(dev, ndim, shape));
    /* Lua sees a small userdata, not the megabytes behind it: advance the collector by
     * the tensor's size so garbage tensors are freed (and their memory reused) at the
     * pace they are made, not when the Lua heap happens to grow. */
    size_t kib = mtfl_numel(t) * sizeof(float) / 1024;
    if (kib > 0) lua_gc(L, LUA_GCSTEP, (int)(kib < 1000000 ? kib : 1000000));
    return t;
}

mtfl_tensor *lmtfl_new_like(lua_State *L, const mtfl_tensor *t)
{
    return lmtfl_new_tensor(L, mtfl_tensor_device(t), t->ndim, t->shape);
}

/* ---- arguments -------------------------------------------------------------------- */

static bool notices_shown;

mtfl_device *lmtfl_default_device(lua_State *L)
{
    mtfl_device *dev = mtfl_device_default();
    if (!dev) lmtfl_raise(L);
    /* The one place that tells a user why OpenCL is missing or why the CPU backend is
     * slower than it could be: once, on first use. */
    if (!notices_shown) {
        notices_shown = true;
        if (mtfl_opencl_notice()) fprintf(stderr, "mtfl: %s\n", mtfl_opencl_notice());
        if (mtfl_blas_notice()) fprintf(stderr, "mtfl: %s\n", mtfl_blas_notice());
    }
    return dev;
}

mtfl_device *lmtfl_opt_device(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return lmtfl_default_device(L);
    mtfl_device *dev = mtfl_device_find(luaL_checkstring(L, idx));
    if (!dev) lmtfl_raise(L);
    return dev;
}

int lmtfl_check_dim(lua_State *L, int idx, const mtfl_tensor *t)
{
    lua_Integer d = luaL_checkinteger(L, idx);
    lua_Integer resolved = d < 0 ? t->ndim + d + 1 : d;
    if (resolved < 1 || resolved > t->ndim) {
        char s[128];
        lmtfl_error(L, "dimension %d out of range for a tensor of shape %s (1..%d)", (int)d,
                   mtfl_shape_str(t, s, sizeof s), t->ndim);
    }
    return (int)resolved - 1;
}

int64_t lmtfl_check_index(lua_State *L, int idx, const char *op)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    if (i < 1) lmtfl_error(L, "%s: index %lld is before the first element (indices start at 1)", op, (long long)i);
    return (int64_t)i - 1;
}

static int64_t check_size(lua_State *L, int idx, lua_Integer v, bool allow_infer)
{
    if (v < 0 && !(allow_infer && v == -1))
        lmtfl_error(L, "bad shape: size %lld at position %d is negative", (long long)v, idx);
    return (int64_t)v;
}

static int shape_from_table(lua_State *L, int idx, int64_t *shape, bool allow_infer)
{
    lua_Integer len = luaL_len(L, idx);
    if (len < 0 || len > MTFL_MAX_DIMS)
        lmtfl_error(L, "bad shape: %lld dimensions (at most %d)", (long long)len, MTFL_MAX_DIMS);
    int n = (int)len;
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok) lmtfl_error(L, "bad shape: entry %d is %s, not an integer", i + 1, luaL_typename(L, -1));
        shape[i] = check_size(L, i + 1, v, allow_infer);
        lua_pop(L, 1);
    }
    return n;
}

static int shape_at(lua_State *L, int idx, int64_t *shape, int *next, bool allow_infer)
{
    if (lua_istable(L, idx) && !lmtfl_test_tensor(L, idx)) {
        *next = idx + 1;
        return shape_from_table(L, idx, shape, allow_infer);
    }
    int n = 0;
    while (lua_type(L, idx + n) == LUA_TNUMBER) {
        if (n == MTFL_MAX_DIMS) lmtfl_error(L, "bad shape: more than %d dimensions", MTFL_MAX_DIMS);
        int ok;
        lua_Integer v = lua_tointegerx(L, idx + n, &ok);
        if (!ok) luaL_argerror(L, idx + n, "size must be an integer");
        shape[n] = check_size(L, n + 1, v, allow_infer);
        n++;
    }
    *next = idx + n;
    return n;
}

int lmtfl_check_shape(lua_State *L, int idx, int64_t *shape, int *next)
{
    return shape_at(L, idx, shape, next, false);
}

/* The device option of a trailing options table: {device = "opencl:0"}. */
static mtfl_device *options_device(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return lmtfl_default_device(L);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "device");
    mtfl_device *dev = lmtfl_opt_device(L, lua_gettop(L));
    lua_pop(L, 1);
    return dev;
}

/* ---- constructors ----------------------------------------------------------------- */

static mtfl_tensor *new_from_shape_args(lua_State *L, int *next)
{
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = lmtfl_check_shape(L, 1, shape, next);
    return lmtfl_new_tensor(L, options_device(L, *next), ndim, shape);
}

static int l_empty(lua_State *L)
{
    int next;
    new_from_shape_args(L, &next);
    return 1;
}

static int l_zeros(lua_State *L)
{
    int next;
    mtfl_tensor *t = new_from_shape_args(L, &next);
    LMTFL_CALL(L, mtfl_fill(t, 0.0f));
    return 1;
}

static int l_ones(lua_State *L)
{
    int next;
    mtfl_tensor *t = new_from_shape_args(L, &next);
    LMTFL_CALL(L, mtfl_fill(t, 1.0f));
    return 1;
}

/* full(shape, value [, options]) */
static int l_full(lua_State *L)
{
    int64_t shape[MTFL_MAX_DIMS];
    int next;
    int ndim = lmtfl_check_shape(L, 1, shape, &next);
    float value = (float)luaL_checknumber(L, next);
    mtfl_tensor *t = lmtfl_new_tensor(L, options_device(L, next + 1), ndim, shape);
    LMTFL_CALL(L, mtfl_fill(t, value));
    return 1;
}

/* arange(stop) or arange(start, stop [, step]): start, start+step, ... below stop. */
static int l_arange(lua_State *L)
{
    int nums = 0;
    while (nums < 3 && lua_type(L, nums + 1) == LUA_TNUMBER) nums++;
    if (nums == 0) luaL_argerror(L, 1, "number expected");
    double start = nums >= 2 ? lua_tonumber(L, 1) : 0.0;
    double stop = nums >= 2 ? lua_tonumber(L, 2) : lua_tonumber(L, 1);
    double step = nums == 3 ? lua_tonumber(L, 3) : 1.0;
    if (step == 0.0 || !isfinite(step) || !isfinite(start) || !isfinite(stop))
        lmtfl_error(L, "arange: bad range %g to %g step %g", start, stop, step);
    double count = ceil((stop - start) / step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    mtfl_tensor *t = lmtfl_new_tensor(L, options_device(L, nums + 1), 1, &n);
    LMTFL_CALL(L, mtfl_arange(t, (float)start, (float)step));
    return 1;
}

/* rand(shape [, options]): uniform in [0, 1); randn: standard normal. */
static int random_tensor(lua_State *L, bool normal)
{
    int next;
    mtfl_tensor *t = new_from_shape_args(L, &next);
    LMTFL_CALL(L, normal ? mtfl_normal(t, 0.0f, 1.0f) : mtfl_uniform(t, 0.0f, 1.0f));
    return 1;
}

static int l_rand(lua_State *L) { return random_tensor(L, false); }
static int l_randn(lua_State *L) { return random_tensor(L, true); }

/* Walks a nested table once to find its shape, checking every row has the same length. */
static void nested_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape)
{
    if (!lua_istable(L, idx)) return;
    if (depth >= MTFL_MAX_DIMS) lmtfl_error(L, "tensor: table nested deeper than %d", MTFL_MAX_DIMS);
    shape[depth] = (int64_t)luaL_len(L, idx);
    if (shape[depth] < 0) lmtfl_error(L, "tensor: a table of length %lld", (long long)shape[depth]);
    *ndim = depth + 1;
    if (shape[depth] > 0) {
        lua_geti(L, idx, 1);
        nested_shape(L, lua_gettop(L), depth + 1, ndim, shape);
        lua_pop(L, 1);
    }
}

static void flatten_table(lua_State *L, int idx, int depth, int ndim, const int64_t *shape,
                          float *out, size_t *at, char *path, size_t pathlen)
{
    if (depth == ndim) {
        int ok;
        lua_Number v = lua_tonumberx(L, idx, &ok);
        if (!ok) lmtfl_error(L, "tensor: element %s is %s, not a number", path, luaL_typename(L, idx));
        out[(*at)++] = (float)v;
        return;
    }
    if (!lua_istable(L, idx) || (int64_t)luaL_len(L, idx) != shape[depth])
        lmtfl_error(L, "tensor: ragged table: %s should be a table of %lld elements",
                   pathlen ? path : "the argument", (long long)shape[depth]);
    for (int64_t i = 1; i <= shape[depth]; i++) {
        size_t len = pathlen + (size_t)snprintf(path + pathlen, 256 - pathlen, "[%lld]", (long long)i);
        lua_geti(L, idx, i);
        flatten_table(L, lua_gettop(L), depth + 1, ndim, shape, out, at, path, len < 200 ? len : 200);
        lua_pop(L, 1);
        path[pathlen] = '\0';
    }
}

/* tensor(table or number [, options]) */
static int l_tensor(lua_State *L)
{
    int64_t shape[MTFL_MAX_DIMS];
    int ndim = 0;
    if (lua_type(L, 1) == LUA_TNUMBER) {
        float v = (float)lua_tonumber(L, 1);
        mtfl_tensor *t = lmtfl_new_tensor(L, options_device(L, 2), 0, shape);
        LMTFL_CALL(L, mtfl_tensor_write(t, &v, 1));
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    mtfl_device *dev = options_device(L, 2);
    lua_settop(L, 1);
    nested_shape(L, 1, 0, &ndim, shape);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        /* lengths may come from __len metamethods: the product must not wrap */
        if (shape[i] > 0 && n > ((size_t)1 << 40) / (size_t)shape[i]) {
            char dims[256];
            lmtfl_error(L, "tensor: a table of shape %s is too large", mtfl_dims_str(ndim, shape, dims, sizeof dims));
        }
        n *= (size_t)shape[i];
    }
    float *host = lua_newuserdatauv(L, n * sizeof(float) + 1, 0); /* freed by the GC */
    char path[256] = "";
    size_t at = 0;
    flatten_table(L, 1, 0, ndim, shape, host, &at, path, 0);
    mtfl_tensor *t = lmtfl_new_tensor(L, dev, ndim, shape);
    LMTFL_CALL(L, mtfl_tensor_write(t, host, n));
    return 1;
}

/* An image side or channel count: 1..2^31-1 (sizes past that would wrap in C). */
static int check_image_dim(lua_State *L, int idx, const char *what)
{
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < 1 || v > INT32_MAX) lmtfl_error(L, "from_bytes: %s %lld (1..%d)", what, (long long)v, INT32_MAX);
    return (int)v;
}

/* from_bytes(string, height, width, channels [, {layout="chw"|"hwc", scale=1/255, device}]) */
static int l_from_bytes(lua_State *L)
{
    size_t len;
    const char *bytes = luaL_checklstring(L, 1, &len);
    int h = check_image_dim(L, 2, "height"), w = check_image_dim(L, 3, "width");
    int c = lua_isnoneornil(L, 4) ? 3 : check_image_dim(L, 4, "channels");
    bool chw = true;
    float scale = 1.0f / 255.0f;
    if (!lua_isnoneornil(L, 5)) {
        luaL_checktype(L, 5, LUA_TTABLE);
        lua_getfield(L, 5, "layout");
        const char *layout = luaL_optstring(L, -1, "chw");
        if (strcmp(layout, "chw") && strcmp(layout, "hwc"))
            lmtfl_error(L, "from_bytes: layout '%s' (use \"chw\" or \"hwc\")", layout);
        chw = strcmp(layout, "chw") == 0;
        lua_getfield(L, 5, "scale");
        scale = (float)luaL_optnumber(L, -1, scale);
        lua_pop(L, 2);
    }
    /* each factor is below 2^31, so the product of the first two cannot wrap; the third
     * is checked against what is left */
    uint64_t hw = (uint64_t)h * (uint64_t)w;
    if (hw > UINT64_MAX / (uint64_t)c)
        lmtfl_error(L, "from_bytes: %d x %d x %d pixels are too many", h, w, c);
    if (hw * (uint64_t)c != len)
        lmtfl_error(L, "from_bytes: %d x %d x %d pixels need %llu bytes, got %zu", h, w, c,
                    (unsigned long long)(hw * (uint64_t)c), len);
    int64_t shape[3] = {chw ? c : h, chw ? h : w, chw ? w : c};
    mtfl_tensor *t = lmtfl_new_tensor(L, options_device(L, 5), 3, shape);
    LMTFL_CALL(L, mtfl_from_bytes(t, (const uint8_t *)bytes, h, w, c, chw, scale));
    return 1;
}

/* t:to_bytes([{layout, scale}]) -> string, height, width, channels */
static int m_to_bytes(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    bool chw = true;
    float scale = 1.0f / 255.0f;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "layout");
        chw = strcmp(luaL_optstring(L, -1, "chw"), "hwc") != 0;
        lua_getfield(L, 2, "scale");
        scale = (float)luaL_optnumber(L, -1, scale);
        lua_pop(L, 2);
    }
    char s[128];
    if (t->ndim != 3 || t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX || t->shape[2] > INT32_MAX)
        lmtfl_error(L, "to_bytes: expects a 3-D image tensor, got %s", mtfl_shape_str(t, s, sizeof s));
    int h = (int)t->shape[chw ? 1 : 0], w = (int)t->shape[chw ? 2 : 1];
    int c = (int)t->shape[chw ? 0 : 2];
    luaL_Buffer b;
    uint8_t *pixels = (uint8_t *)luaL_buffinitsize(L, &b, mtfl_numel(t));
    LMTFL_CALL(L, mtfl_to_bytes(t, pixels, h, w, c, chw, scale));
    luaL_pushresultsize(&b, mtfl_numel(t));
    lua_pushinteger(L, h);
    lua_pushinteger(L, w);
    lua_pushinteger(L, c);
    return 4;
}

/* ---- shape and views -------------------------------------------------------------- */

void lmtfl_push_dims(lua_State *L, int ndim, const int64_t *dims)
{
    lua_createtable(L, ndim, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushinteger(L, dims[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* t:size() -> {d1, d2, ...}; t:size(dim) -> number */
static int m_size(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) lmtfl_push_dims(L, t->ndim, t->shape);
    else lua_pushinteger(L, t->shape[lmtfl_check_dim(L, 2, t)]);
    return 1;
}

static int m_stride(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) lmtfl_push_dims(L, t->ndim, t->stride);
    else lua_pushinteger(L, t->stride[lmtfl_check_dim(L, 2, t)]);
    return 1;
}

static int m_dim(lua_State *L)
{
    lua_pushinteger(L, lmtfl_check_tensor(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mtfl_numel(lmtfl_check_tensor(L, 1)));
    return 1;
}

static int m_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, mtfl_is_contiguous(lmtfl_check_tensor(L, 1)));
    return 1;
}

static int m_device(lua_State *L)
{
    lua_pushstring(L, mtfl_tensor_device(lmtfl_check_tensor(L, 1))->id);
    return 1;
}

static int m_reshape(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    int64_t shape[MTFL_MAX_DIMS];
    int next;
    int ndim = shape_at(L, 2, shape, &next, true);
    lmtfl_push_tensor(L, mtfl_tensor_reshape(t, ndim, shape));
    inherit_mark(L, 1);
    return 1;
}

/* t:narrow(dim, start, length): elements start .. start+length-1 (1-based) */
static int m_narrow(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    int dim = lmtfl_check_dim(L, 2, t);
    int64_t start = lmtfl_check_index(L, 3, "narrow");
    lmtfl_push_tensor(L, mtfl_tensor_narrow(t, dim, start, luaL_checkinteger(L, 4)));
    inherit_mark(L, 1);
    return 1;
}

static int m_select(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    int dim = lmtfl_check_dim(L, 2, t);
    lmtfl_push_tensor(L, mtfl_tensor_select(t, dim, lmtfl_check_index(L, 3, "select")));
    inherit_mark(L, 1);
    return 1;
}

/* t:expand(sizes...): size-1 dimensions repeated without copying (stride 0) */
static int m_expand(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    int64_t shape[MTFL_MAX_DIMS];
    int next;
    int ndim = lmtfl_check_shape(L, 2, shape, &next);
    lmtfl_push_tensor(L, mtfl_tensor_expand(t, ndim, shape));
    inherit_mark(L, 1);
    return 1;
}

/* t:to_string(): the raw float32 values, little-endian, row-major (for file formats) */
static int m_to_string(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    size_t n = mtfl_numel(t);
    luaL_Buffer b;
    float *host = (float *)luaL_buffinitsize(L, &b, n * sizeof(float));
    LMTFL_CALL(L, mtfl_tensor_read(t, host, n));
    luaL_pushresultsize(&b, n * sizeof(float));
    return 1;
}

/* from_string(bytes, shape [, options]): the inverse of t:to_string() */
static int l_from_string(lua_State *L)
{
    size_t len;
    const char *bytes = luaL_checklstring(L, 1, &len);
    int64_t shape[MTFL_MAX_DIMS];
    int next;
    int ndim = lmtfl_check_shape(L, 2, shape, &next);
    /* counted without overflow: a shape with a 0 anywhere holds nothing, whatever the
     * other sizes; otherwise the product must stay within what the bytes can hold */
    size_t n = 1, fit = len / sizeof(float);
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) n = 0;
    for (int i = 0; i < ndim && n > 0; i++) {
        if (n > fit / (size_t)shape[i]) {
            char dims[256];
            lmtfl_error(L, "from_string: %zu bytes cannot hold a tensor of shape %s", len,
                        mtfl_dims_str(ndim, shape, dims, sizeof dims));
        }
        n *= (size_t)shape[i];
    }
    if (n * sizeof(float) != len)
        lmtfl_error(L, "from_string: %zu bytes for %zu float32 values (%zu bytes expected)", len, n,
                    n * sizeof(float));
    mtfl_tensor *t = lmtfl_new_tensor(L, options_device(L, next), ndim, shape);
    /* the string's bytes need not be aligned for float: copy through an aligned buffer */
    float *host = lua_newuserdatauv(L, n * sizeof(float) + 1, 0);
    memcpy(host, bytes, len);
    LMTFL_CALL(L, mtfl_tensor_write(t, host, n));
    lua_pop(L, 1);
    return 1;
}

static int m_transpose(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    int d0 = lmtfl_check_dim(L, 2, t), d1 = lmtfl_check_dim(L, 3, t);
    lmtfl_push_tensor(L, mtfl_tensor_transpose(t, d0, d1));
    inherit_mark(L, 1);
    return 1;
}

/* t:t(): the last two dimensions swapped (a 1-D tensor is returned as a view of itself) */
static int m_t(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    if (t->ndim < 2) lmtfl_push_tensor(L, mtfl_tensor_view(t));
    else lmtfl_push_tensor(L, mtfl_tensor_transpose(t, t->ndim - 2, t->ndim - 1));
    inherit_mark(L, 1);
    return 1;
}

static int m_contiguous(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    if (mtfl_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    mtfl_tensor *c = lmtfl_new_like(L, t);
    LMTFL_CALL(L, mtfl_copy(c, t));
    inherit_mark(L, 1);
    return 1;
}

static int m_clone(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    mtfl_tensor *c = lmtfl_new_like(L, t);
    LMTFL_CALL(L, mtfl_copy(c, t));
    inherit_mark(L, 1);
    return 1;
}

/* t:to(device): t itself when already there, else a copy */
static int m_to(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    mtfl_device *dev = lmtfl_opt_device(L, 2);
    if (mtfl_tensor_device(t) == dev) {
        lua_settop(L, 1);
        return 1;
    }
    mtfl_tensor *c = lmtfl_new_tensor(L, dev, t->ndim, t->shape);
    LMTFL_CALL(L, mtfl_copy(c, t));
    inherit_mark(L, 1);
    return 1;
}

/* t:copy(src): t <- src, across devices too; returns t */
static int m_copy(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1), *src = lmtfl_check_tensor(L, 2);
    LMTFL_CALL(L, mtfl_copy(t, src));
    lua_settop(L, 1);
    return 1;
}

/* t:free(): drop this tensor's memory now instead of at the next collection */
static int m_free(lua_State *L)
{
    lmtfl_tensor_box *box = luaL_checkudata(L, 1, LMTFL_TENSOR);
    mtfl_tensor_release(box->t);
    box->t = NULL;
    return 0;
}

/* ---- Lua values out ---------------------------------------------------------------- */

static float *read_all(lua_State *L, const mtfl_tensor *t)
{
    size_t n = mtfl_numel(t);
    float *host = lua_newuserdatauv(L, n * sizeof(float) + 1, 0);
    LMTFL_CALL(L, mtfl_tensor_read(t, host, n));
    return host;
}

static void push_nested(lua_State *L, const mtfl_tensor *t, int depth, const float *v, size_t *at,
                        bool integer)
{
    if (depth == t->ndim) {
        push_element(L, v[(*at)++], integer);
        return;
    }
    lua_createtable(L, (int)t->shape[depth], 0);
    for (int64_t i = 0; i < t->shape[depth]; i++) {
        push_nested(L, t, depth + 1, v, at, integer);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_totable(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    const float *v = read_all(L, t);
    size_t at = 0;
    push_nested(L, t, 0, v, &at, lmtfl_is_integer(L, 1));
    return 1;
}

/* t:item(): the value of a one-element tensor (a Lua integer for an index tensor) */
static int m_item(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    char s[128];
    if (mtfl_numel(t) != 1)
        lmtfl_error(L, "item: tensor of shape %s has %zu elements, not 1",
                   mtfl_shape_str(t, s, sizeof s), mtfl_numel(t));
    float v;
    LMTFL_CALL(L, mtfl_tensor_read(t, &v, 1));
    push_element(L, v, lmtfl_is_integer(L, 1));
    return 1;
}

/* ---- metamethods -------------------------------------------------------------------- */

static int mm_gc(lua_State *L)
{
    lmtfl_tensor_box *box = luaL_checkudata(L, 1, LMTFL_TENSOR);
    mtfl_tensor_release(box->t);
    box->t = NULL;
    return 0;
}

static int mm_len(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

static int mm_tostring(lua_State *L)
{
    lmtfl_tensor_box *box = luaL_checkudata(L, 1, LMTFL_TENSOR);
    if (!box->t) lua_pushstring(L, "mtfl.Tensor (freed)");
    else lmtfl_print_tensor(L, box->t);
    return 1;
}

/* t[i]: a number for a 1-D tensor (an integer for an index tensor), else a view of row
 * i; other keys are methods */
static int mm_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        mtfl_tensor *t = lmtfl_check_tensor(L, 1);
        if (t->ndim == 0) lmtfl_error(L, "cannot index a 0-dimensional tensor (use item())");
        mtfl_tensor *row = lmtfl_push_tensor(L, mtfl_tensor_select(t, 0, lmtfl_check_index(L, 2, "index")));
        inherit_mark(L, 1);
        if (row->ndim == 0) {
            float v;
            LMTFL_CALL(L, mtfl_tensor_read(row, &v, 1));
            push_element(L, v, lmtfl_is_integer(L, 1));
        }
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* t[i] = number (fills row i) or tensor (copied into row i) */
static int mm_newindex(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER) lmtfl_error(L, "tensors take only integer keys");
    if (t->ndim == 0) lmtfl_error(L, "cannot index a 0-dimensional tensor");
    mtfl_tensor *row = lmtfl_push_tensor(L, mtfl_tensor_select(t, 0, lmtfl_check_index(L, 2, "index")));
    mtfl_tensor *src = lmtfl_test_tensor(L, 3);
    if (src) LMTFL_CALL(L, mtfl_copy(row, src));
    else LMTFL_CALL(L, mtfl_fill(row, (float)luaL_checknumber(L, 3)));
    return 0;
}

static const luaL_Reg tensor_methods[] = {
    {"size", m_size}, {"shape", m_size}, {"stride", m_stride}, {"dim", m_dim},
    {"numel", m_numel}, {"is_contiguous", m_is_contiguous}, {"device", m_device},
    {"reshape", m_reshape}, {"view", m_reshape}, {"narrow", m_narrow}, {"select", m_select},
    {"transpose", m_transpose}, {"t", m_t}, {"contiguous", m_contiguous}, {"clone", m_clone},
    {"to", m_to}, {"copy", m_copy}, {"free", m_free}, {"totable", m_totable},
    {"tolist", m_totable},
    {"item", m_item}, {"to_bytes", m_to_bytes}, {"expand", m_expand},
    {"to_string", m_to_string}, {NULL, NULL}};

static const luaL_Reg module_functions[] = {
    {"tensor", l_tensor}, {"empty", l_empty}, {"zeros", l_zeros}, {"ones", l_ones},
    {"full", l_full}, {"arange", l_arange}, {"rand", l_rand}, {"randn", l_randn},
    {"from_bytes", l_from_bytes}, {"from_string", l_from_string}, {NULL, NULL}};

/* Expects the module table on top of the stack. Leaves the stack as it was. */
void lmtfl_open_tensor(lua_State *L)
{
    luaL_setfuncs(L, module_functions, 0);
    luaL_newmetatable(L, LMTFL_TENSOR);
    lua_pushcfunction(L, mm_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, mm_gc);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, mm_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, mm_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, mm_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushstring(L, LMTFL_TENSOR);
    lua_setfield(L, -2, "__name");
    /* methods: kept as metatable.methods so lops.c and Lua code can add to them */
    lua_newtable(L);
    luaL_setfuncs(L, tensor_methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "methods");
    lua_pushcclosure(L, mm_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
