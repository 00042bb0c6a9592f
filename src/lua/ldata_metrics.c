/*
 * ldata_metrics.c - landmark errors and attribute accuracy from Lua, and the landmark
 * transforms the tests check directly (mirror of points and poses).
 */
#include <math.h>

#include "ldata.h"

/* The values of a tensor on the host, in a userdata the collector frees. */
static float *host_values(lua_State *L, const mtfl_tensor *t)
{
    size_t n = mtfl_numel(t);
    float *v = lua_newuserdatauv(L, (n ? n : 1) * sizeof(float), 0);
    LMTFL_CALL(L, mtfl_tensor_read(t, v, n));
    return v;
}

static int64_t check_landmark_tensor(lua_State *L, const mtfl_tensor *t, const char *what)
{
    char s[128];
    if (t->ndim != 2 || t->shape[1] != MTFL_COORDS)
        lmtfl_error(L, "landmark_errors: %s must be [N, 10] (x1..x5, y1..y5), got %s", what,
                    mtfl_shape_str(t, s, sizeof s));
    return t->shape[0];
}

/* landmark_errors(pred, truth) -> [N, 5] errors over the true inter-ocular distance (CPU) */
static int l_landmark_errors(lua_State *L)
{
    mtfl_tensor *pred = lmtfl_check_tensor(L, 1), *truth = lmtfl_check_tensor(L, 2);
    int64_t n = check_landmark_tensor(L, pred, "the prediction");
    if (check_landmark_tensor(L, truth, "the truth") != n)
        lmtfl_error(L, "landmark_errors: %lld predictions for %lld faces", (long long)n, (long long)truth->shape[0]);
    const float *p = host_values(L, pred), *t = host_values(L, truth);
    int64_t shape[2] = {n, MTFL_POINTS};
    float *err = lua_newuserdatauv(L, (size_t)(n ? n : 1) * MTFL_POINTS * sizeof(float), 0);
    if (mtfl_landmark_errors(p, t, (int)n, err)) return lmtfl_raise(L);
    mtfl_tensor *out = lmtfl_new_tensor(L, mtfl_device_cpu(), 2, shape);
    LMTFL_CALL(L, mtfl_tensor_write(out, err, (size_t)n * MTFL_POINTS));
    return 1;
}

static void push_doubles(lua_State *L, const double *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* landmark_summary(errors [N, 5] [, threshold]) -> {count, threshold, mean_error,
 * point_error, point_failure, mean_failure, image_failure} */
static int l_landmark_summary(lua_State *L)
{
    lua_settop(L, 2);
    mtfl_tensor *e = lmtfl_check_tensor(L, 1);
    float threshold = (float)luaL_optnumber(L, 2, 0.1);
    char s[128];
    if (e->ndim != 2 || e->shape[1] != MTFL_POINTS)
        lmtfl_error(L, "landmark_summary: errors must be [N, 5], got %s", mtfl_shape_str(e, s, sizeof s));
    mtfl_landmark_summary m;
    if (mtfl_landmark_summarize(host_values(L, e), (int)e->shape[0], threshold, &m)) return lmtfl_raise(L);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, m.count), lua_setfield(L, -2, "count");
    lua_pushnumber(L, m.threshold), lua_setfield(L, -2, "threshold");
    lua_pushnumber(L, m.mean_error), lua_setfield(L, -2, "mean_error");
    push_doubles(L, m.point_error, MTFL_POINTS), lua_setfield(L, -2, "point_error");
    push_doubles(L, m.point_failure, MTFL_POINTS), lua_setfield(L, -2, "point_failure");
    lua_pushnumber(L, m.mean_failure), lua_setfield(L, -2, "mean_failure");
    lua_pushnumber(L, m.image_failure), lua_setfield(L, -2, "image_failure");
    return 1;
}

/* Class numbers from [N] labels (1-based) or [N, K] scores (the largest wins). */
static int *class_numbers(lua_State *L, const mtfl_tensor *t, int64_t *n, int *k)
{
    char s[128];
    if (t->ndim != 1 && t->ndim != 2)
        lmtfl_error(L, "attribute_summary: want [N] labels or [N, K] scores, got %s", mtfl_shape_str(t, s, sizeof s));
    *n = t->shape[0];
    *k = t->ndim == 2 ? (int)t->shape[1] : 0;
    const float *v = host_values(L, t);
    int *out = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof(int), 0);
    for (int64_t i = 0; i < *n; i++) {
        if (t->ndim == 1) {
            out[i] = isfinite(v[i]) && v[i] == floorf(v[i]) && fabsf(v[i]) < 1e6f ? (int)v[i] : 0;
            continue;
        }
        int best = 0;
        for (int c = 1; c < *k; c++) if (v[i * *k + c] > v[i * *k + best]) best = c;
        out[i] = best + 1;
    }
    return out;
}

/* attribute_summary(pred, truth, classes) -> {count, unknown, classes, accuracy,
 * confusion (rows: truth, columns: prediction), majority_class, majority_rate}; true
 * labels of 0 are unknown: counted apart, in neither accuracy nor the majority rate */
static int l_attribute_summary(lua_State *L)
{
    lua_settop(L, 3);
    int64_t np, nt;
    int kp, kt;
    const int *pred = class_numbers(L, lmtfl_check_tensor(L, 1), &np, &kp);
    const int *truth = class_numbers(L, lmtfl_check_tensor(L, 2), &nt, &kt);
    int classes = (int)luaL_optinteger(L, 3, kp ? kp : 2);
    if (np != nt) lmtfl_error(L, "attribute_summary: %lld predictions for %lld labels", (long long)np, (long long)nt);
    mtfl_attr_summary m;
    if (mtfl_attr_summarize(pred, truth, (int)np, classes, &m)) return lmtfl_raise(L);
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, m.count), lua_setfield(L, -2, "count");
    lua_pushinteger(L, m.unknown), lua_setfield(L, -2, "unknown");
    lua_pushinteger(L, m.classes), lua_setfield(L, -2, "classes");
    lua_pushnumber(L, m.accuracy), lua_setfield(L, -2, "accuracy");
    lua_pushinteger(L, m.majority_class), lua_setfield(L, -2, "majority_class");
    lua_pushnumber(L, m.majority_rate), lua_setfield(L, -2, "majority_rate");
    lua_createtable(L, classes, 0);
    for (int r = 0; r < classes; r++) {
        lua_createtable(L, classes, 0);
        for (int c = 0; c < classes; c++) {
            lua_pushinteger(L, m.confusion[r][c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_rawseti(L, -2, r + 1);
    }
    lua_setfield(L, -2, "confusion");
    return 1;
}

/* ---- transforms ---------------------------------------------------------------------- */

static void check_points(lua_State *L, int idx, float *pts)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    if (luaL_len(L, idx) != MTFL_COORDS) lmtfl_error(L, "landmarks: want 10 numbers (x1..x5, y1..y5)");
    for (int k = 0; k < MTFL_COORDS; k++) {
        lua_geti(L, idx, k + 1);
        pts[k] = (float)luaL_checknumber(L, -1);
        lua_pop(L, 1);
    }
}

/* mirror_points(points, width) -> points mirrored in an image that wide, sides swapped */
static int l_mirror_points(lua_State *L)
{
    float in[MTFL_COORDS], out[MTFL_COORDS];
    check_points(L, 1, in);
    mtfl_mirror_points(in, (float)luaL_checknumber(L, 2), out);
    ldata_push_floats(L, out, MTFL_COORDS);
    return 1;
}

static int l_mirror_pose(lua_State *L)
{
    lua_Integer p = luaL_checkinteger(L, 1);
    if (p < 1 || p > 5) lmtfl_error(L, "mirror_pose: pose %lld (1..5)", (long long)p);
    lua_pushinteger(L, mtfl_mirror_pose((int)p));
    return 1;
}

static const luaL_Reg metrics_functions[] = {
    {"landmark_errors", l_landmark_errors}, {"landmark_summary", l_landmark_summary},
    {"attribute_summary", l_attribute_summary}, {"mirror_points", l_mirror_points},
    {"mirror_pose", l_mirror_pose}, {NULL, NULL}};

void ldata_open_metrics(lua_State *L) { luaL_setfuncs(L, metrics_functions, 0); }
