/*
 * ldata.c - the data pipeline (src/data) from Lua, as mtfl._data: the raw functions
 * that lua/mtfl/data/ builds the `mtfl.data` module on. Here: annotations, sets of
 * samples (mtfl.data.Set), batches, loading, synthesis and the loader
 * (mtfl.data.Loader); images are in ldata_image.c, metrics in ldata_metrics.c.
 *
 * Sample numbers are 1-based here, 0-based in C. Options come in tables; a value of
 * the wrong type is an error naming the option. Functions start with lua_settop to the
 * number of arguments they take, so that an absent option table keeps its stack slot
 * and temporaries pushed later cannot be mistaken for it.
 */
#include <math.h>
#include <string.h>

#include "ldata.h"

#define SET_T "mtfl.data.Set"
#define LOADER_T "mtfl.data.Loader"

typedef struct { mtfl_set *s; } set_box;
typedef struct { mtfl_loader *l; } loader_box;

/* ---- options ------------------------------------------------------------------------ */

bool ldata_has_field(lua_State *L, int opts, const char *key)
{
    if (lua_isnoneornil(L, opts)) return false;
    luaL_checktype(L, opts, LUA_TTABLE);
    lua_getfield(L, opts, key);
    if (!lua_isnil(L, -1)) return true;
    lua_pop(L, 1);
    return false;
}

double ldata_opt_number(lua_State *L, int opts, const char *key, double def)
{
    if (!ldata_has_field(L, opts, key)) return def;
    /* a string that reads as a number is refused too: "48" is a typo for 48 somewhere */
    if (lua_type(L, -1) != LUA_TNUMBER) {
        if (lua_type(L, -1) == LUA_TSTRING)
            lmtfl_error(L, "option '%s' must be a number, got the string \"%s\"", key, lua_tostring(L, -1));
        lmtfl_error(L, "option '%s' must be a number, got a %s", key, luaL_typename(L, -1));
    }
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (!isfinite(v)) lmtfl_error(L, "option '%s' must be a finite number, got %g", key, v);
    return v;
}

int ldata_opt_int(lua_State *L, int opts, const char *key, int def)
{
    double v = ldata_opt_number(L, opts, key, def);
    /* in full: %g would show 4294967300 as 4.29497e+09 */
    if (v != floor(v)) lmtfl_error(L, "option '%s' must be an integer, got %.17g", key, v);
    if (v < -2147483647.0 || v > 2147483647.0)
        lmtfl_error(L, "option '%s' is %.0f, out of range (far beyond any size or count it can be)", key, v);
    return (int)v;
}

bool ldata_opt_bool(lua_State *L, int opts, const char *key, bool def)
{
    if (!ldata_has_field(L, opts, key)) return def;
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A string option; the value stays valid while the options table holds it. */
const char *ldata_opt_string(lua_State *L, int opts, const char *key, const char *def)
{
    if (!ldata_has_field(L, opts, key)) return def;
    if (lua_type(L, -1) != LUA_TSTRING) lmtfl_error(L, "option '%s' must be a string, got %s", key, luaL_typename(L, -1));
    const char *v = lua_tostring(L, -1);
    lua_pop(L, 1);
    return v;
}

mtfl_on_error ldata_opt_on_error(lua_State *L, int opts)
{
    const char *v = ldata_opt_string(L, opts, "on_error", "stop");
    if (strcmp(v, "stop") && strcmp(v, "skip")) lmtfl_error(L, "option 'on_error' is '%s' (use \"stop\" or \"skip\")", v);
    return strcmp(v, "skip") == 0 ? MTFL_ON_ERROR_SKIP : MTFL_ON_ERROR_STOP;
}

void ldata_push_floats(lua_State *L, const float *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_attrs(lua_State *L, const uint8_t *attr)
{
    for (int a = 0; a < MTFL_ATTRS; a++) {
        lua_pushinteger(L, attr[a]);
        lua_setfield(L, -2, mtfl_attr_name((mtfl_attr)a));
    }
}

/* ---- annotations --------------------------------------------------------------------- */

void ldata_push_problems(lua_State *L, const mtfl_problems *p)
{
    lua_createtable(L, p->kept, 1);
    for (int k = 0; k < p->kept; k++) {
        lua_pushstring(L, p->message[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_pushinteger(L, p->count);
    lua_setfield(L, -2, "count");
}

static void push_annotations(lua_State *L, const mtfl_annotations *a)
{
    lua_createtable(L, 0, 4);
    lua_pushstring(L, a->file), lua_setfield(L, -2, "file");
    lua_pushinteger(L, a->count), lua_setfield(L, -2, "count");
    ldata_push_problems(L, &a->skipped), lua_setfield(L, -2, "skipped");
    lua_createtable(L, a->count, 0);
    for (int i = 0; i < a->count; i++) {
        const mtfl_face *f = &a->faces[i];
        lua_createtable(L, 0, 8);
        lua_pushstring(L, f->path), lua_setfield(L, -2, "path");
        lua_pushinteger(L, f->line), lua_setfield(L, -2, "line");
        ldata_push_floats(L, f->points, MTFL_COORDS), lua_setfield(L, -2, "points");
        if (f->has_box) ldata_push_floats(L, f->box, 4), lua_setfield(L, -2, "box");
        push_attrs(L, f->attr);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "faces");
}

/* parse_annotations(text, name [, {on_error}]) / read_annotations(path [, {on_error}]) */
static int l_parse_annotations(lua_State *L)
{
    lua_settop(L, 3);
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_checkstring(L, 2);
    mtfl_annotations a;
    if (mtfl_annotations_parse(&a, name, text, len, ldata_opt_on_error(L, 3))) return lmtfl_raise(L);
    push_annotations(L, &a);
    mtfl_annotations_free(&a);
    return 1;
}

static int l_read_annotations(lua_State *L)
{
    lua_settop(L, 2);
    mtfl_annotations a;
    if (mtfl_annotations_read(&a, luaL_checkstring(L, 1), ldata_opt_on_error(L, 2))) return lmtfl_raise(L);
    push_annotations(L, &a);
    mtfl_annotations_free(&a);
    return 1;
}

/* ---- sets ---------------------------------------------------------------------------- */

static mtfl_set *check_set(lua_State *L, int idx)
{
    set_box *b = luaL_checkudata(L, idx, SET_T);
    if (!b->s) lmtfl_error(L, "set used after free()");
    return b->s;
}

/* Takes over the reference to s. */
void ldata_push_set(lua_State *L, mtfl_set *s)
{
    if (!s) lmtfl_raise(L);
    set_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->s = s;
    luaL_setmetatable(L, SET_T);
}

static int check_index(lua_State *L, int idx, const mtfl_set *s)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    if (i < 1 || i > s->count) lmtfl_error(L, "set %s: sample %lld out of range 1..%d", s->name, (long long)i, s->count);
    return (int)i - 1;
}

static int set_gc(lua_State *L)
{
    set_box *b = luaL_checkudata(L, 1, SET_T);
    mtfl_set_release(b->s);
    b->s = NULL;
    return 0;
}

static int set_len(lua_State *L)
{
    lua_pushinteger(L, check_set(L, 1)->count);
    return 1;
}

static int set_tostring(lua_State *L)
{
    set_box *b = luaL_checkudata(L, 1, SET_T);
    if (!b->s) lua_pushstring(L, "mtfl.data.Set (freed)");
    else lua_pushfstring(L, "mtfl.data.Set %s: %d samples at %dx%d", b->s->name, b->s->count, b->s->size, b->s->size);
    return 1;
}

/* set:info() -> {name, count, size, jitter, bytes, has_pixels} */
static int set_info(lua_State *L)
{
    mtfl_set *s = check_set(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, s->name), lua_setfield(L, -2, "name");
    lua_pushinteger(L, s->count), lua_setfield(L, -2, "count");
    lua_pushinteger(L, s->size), lua_setfield(L, -2, "size");
    ldata_push_augment(L, &s->jitter), lua_setfield(L, -2, "jitter");
    lua_pushinteger(L, (lua_Integer)(s->pixels ? s->pixel_bytes : 0)), lua_setfield(L, -2, "bytes");
    lua_pushboolean(L, s->pixels != NULL), lua_setfield(L, -2, "has_pixels");
    return 1;
}

/* set:sample(i) -> {path, line, points (stored pixels), box, origin, scale, width,
 * height, file_width, file_height, gray, gender, smile, glasses, pose} */
static int set_sample(lua_State *L)
{
    mtfl_set *s = check_set(L, 1);
    const mtfl_sample *m = &s->samples[check_index(L, 2, s)];
    lua_createtable(L, 0, 15);
    lua_pushstring(L, s->strings + m->path), lua_setfield(L, -2, "path");
    lua_pushinteger(L, m->line), lua_setfield(L, -2, "line");
    ldata_push_floats(L, m->points, MTFL_COORDS), lua_setfield(L, -2, "points");
    ldata_push_floats(L, m->box, 4), lua_setfield(L, -2, "box");
    ldata_push_floats(L, m->origin, 2), lua_setfield(L, -2, "origin");
    ldata_push_floats(L, m->scale, 2), lua_setfield(L, -2, "scale");
    lua_pushinteger(L, m->width), lua_setfield(L, -2, "width");
    lua_pushinteger(L, m->height), lua_setfield(L, -2, "height");
    lua_pushinteger(L, m->file_width), lua_setfield(L, -2, "file_width");
    lua_pushinteger(L, m->file_height), lua_setfield(L, -2, "file_height");
    lua_pushboolean(L, m->gray), lua_setfield(L, -2, "gray");
    push_attrs(L, m->attr);
    return 1;
}

/* The jitter of one rendering, given exactly: {zoom, dx, dy, translate, mirror, rotate}. */
static mtfl_jitter check_jitter(lua_State *L, int idx)
{
    mtfl_jitter j = mtfl_jitter_none();
    if (lua_isnoneornil(L, idx)) return j;
    luaL_checktype(L, idx, LUA_TTABLE);
    j.zoom = (float)ldata_opt_number(L, idx, "zoom", 1);
    j.dx = (float)ldata_opt_number(L, idx, "dx", 0);
    j.dy = (float)ldata_opt_number(L, idx, "dy", 0);
    j.translate = (float)ldata_opt_number(L, idx, "translate", 0);
    j.mirror = ldata_opt_bool(L, idx, "mirror", false);
    j.rotate = (float)ldata_opt_number(L, idx, "rotate", 0);
    if (!(j.zoom > 0.01f)) lmtfl_error(L, "jitter: zoom %g must be positive", j.zoom);
    return j;
}

static int check_size(lua_State *L, int opts, int def)
{
    int size = ldata_opt_int(L, opts, "size", def);
    if (size < 1 || size > 2048) lmtfl_error(L, "option 'size' is %d (1..2048)", size);
    return size;
}

/* set:render(i [, {size, jitter = {zoom, dx, dy, translate, mirror, rotate}, fill}]) ->
 * image, points (10 numbers), labels {gender, smile, glasses, pose} */
static int set_render(lua_State *L)
{
    lua_settop(L, 3);
    mtfl_set *s = check_set(L, 1);
    int i = check_index(L, 2, s);
    int size = check_size(L, 3, s->size);
    mtfl_jitter j = mtfl_jitter_none();
    if (ldata_has_field(L, 3, "jitter")) j = check_jitter(L, lua_gettop(L));
    const char *fill = ldata_opt_string(L, 3, "fill", "edge");
    if (strcmp(fill, "edge") && strcmp(fill, "black")) lmtfl_error(L, "render: fill '%s' (use \"edge\" or \"black\")", fill);
    bool black = strcmp(fill, "black") == 0;
    image_box *img = ldata_new_image(L, size, size);
    float pts[MTFL_COORDS];
    uint8_t attr[MTFL_ATTRS];
    if (mtfl_render_sample(s, i, size, &j, black, NULL, img->img.pixels, pts, attr)) return lmtfl_raise(L);
    ldata_push_floats(L, pts, MTFL_COORDS);
    lua_createtable(L, 0, 4);
    push_attrs(L, attr);
    return 3;
}

/* The 0-based sample numbers in the table at idx (1-based numbers in Lua). */
static int *check_indices(lua_State *L, int idx, const mtfl_set *s, int *n)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    int *out = lua_newuserdatauv(L, (size_t)(*n > 0 ? *n : 1) * sizeof(int), 0);
    for (int k = 0; k < *n; k++) {
        lua_geti(L, idx, k + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 1 || v > s->count)
            lmtfl_error(L, "set %s: entry %d of the indices is %s, not a sample number 1..%d", s->name,
                        k + 1, lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1), s->count);
        out[k] = (int)v - 1;
        lua_pop(L, 1);
    }
    return out;
}

/* set:subset(indices [, name]) -> a new set with copies of those samples */
static int set_subset(lua_State *L)
{
    lua_settop(L, 3);
    mtfl_set *s = check_set(L, 1);
    int n;
    int *idx = check_indices(L, 2, s, &n);
    ldata_push_set(L, mtfl_set_subset(s, idx, n, luaL_optstring(L, 3, s->name)));
    return 1;
}

static int set_free(lua_State *L) { return set_gc(L); }

/* ---- batches ------------------------------------------------------------------------- */

static void push_tensor_from(lua_State *L, mtfl_device *dev, int ndim, const int64_t *shape,
                             const float *host)
{
    mtfl_tensor *t = lmtfl_new_tensor(L, dev, ndim, shape);
    LMTFL_CALL(L, mtfl_tensor_write(t, host, mtfl_numel(t)));
}

/* A Lua table {images, landmarks, gender, smile, glasses, pose, indices, count, epoch,
 * index} from a filled batch; the tensors go to dev. */
static void push_batch(lua_State *L, const mtfl_batch *b, mtfl_device *dev)
{
    int64_t n = b->count, S = b->size;
    lua_createtable(L, 0, 10);
    int64_t image_shape[4] = {n, 3, S, S}, point_shape[2] = {n, MTFL_COORDS};
    push_tensor_from(L, dev, 4, image_shape, b->images), lua_setfield(L, -2, "images");
    push_tensor_from(L, dev, 2, point_shape, b->points), lua_setfield(L, -2, "landmarks");
    for (int a = 0; a < MTFL_ATTRS; a++) {
        push_tensor_from(L, dev, 1, &n, b->attr[a]);
        lua_setfield(L, -2, mtfl_attr_name((mtfl_attr)a));
    }
    lua_createtable(L, (int)n, 0);
    for (int k = 0; k < n; k++) {
        lua_pushinteger(L, b->samples[k] + 1);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "indices");
    lua_pushinteger(L, n), lua_setfield(L, -2, "count");
    lua_pushinteger(L, b->epoch + 1), lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, b->index + 1), lua_setfield(L, -2, "index");
}

static mtfl_device *opt_device(lua_State *L, int opts)
{
    const char *id = ldata_opt_string(L, opts, "device", NULL);
    if (!id) return lmtfl_default_device(L);
    mtfl_device *dev = mtfl_device_find(id);
    if (!dev) lmtfl_raise(L);
    return dev;
}

#define BATCH_T "mtfl.data.HostBatch"

/* Host buffers of a batch as a userdata, so that an error while making tensors (out of
 * device memory) cannot leak them: the collector frees what is not freed below. */
static mtfl_batch *new_host_batch(lua_State *L, int n, int size)
{
    mtfl_batch *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BATCH_T);
    if (mtfl_batch_alloc(b, n, size)) lmtfl_raise(L);
    return b;
}

static int host_batch_gc(lua_State *L)
{
    mtfl_batch_free(luaL_checkudata(L, 1, BATCH_T));
    return 0;
}

/* set:batch(indices [, {size, augment, seed, epoch, point_scale, device}]) -> batch */
static int set_batch(lua_State *L)
{
    lua_settop(L, 3);
    mtfl_set *s = check_set(L, 1);
    int n;
    int *idx = check_indices(L, 2, s, &n);
    int size = check_size(L, 3, s->size);
    mtfl_augment a = {0};
    if (ldata_has_field(L, 3, "augment")) a = ldata_check_augment(L, lua_gettop(L));
    uint64_t seed = (uint64_t)ldata_opt_number(L, 3, "seed", 1);
    int epoch = ldata_opt_int(L, 3, "epoch", 1);
    float scale = (float)ldata_opt_number(L, 3, "point_scale", 1);
    mtfl_device *dev = opt_device(L, 3);
    if (n == 0) lmtfl_error(L, "set %s: batch of no samples", s->name);
    if (epoch < 1) lmtfl_error(L, "option 'epoch' is %d (1 or more)", epoch);
    mtfl_batch *b = new_host_batch(L, n, size);
    /* the same jitter streams as the loader's: epoch e, sample i */
    uint64_t stream = (uint64_t)(epoch - 1) * (uint64_t)s->count;
    if (mtfl_batch_fill(b, s, idx, n, &a, seed, stream, scale)) return lmtfl_raise(L);
    b->epoch = epoch - 1;
    push_batch(L, b, dev);
    mtfl_batch_free(b);
    return 1;
}

static const luaL_Reg set_methods[] = {
    {"info", set_info}, {"sample", set_sample}, {"render", set_render}, {"batch", set_batch},
    {"subset", set_subset}, {"free", set_free}, {NULL, NULL}};

/* ---- loading and synthesis ------------------------------------------------------------ */

static mtfl_protocol check_protocol(lua_State *L, int opts)
{
    const char *name = ldata_opt_string(L, opts, "protocol", "seed");
    if (strcmp(name, "seed") && strcmp(name, "crop"))
        lmtfl_error(L, "option 'protocol' is '%s' (use \"seed\" or \"crop\")", name);
    mtfl_protocol p = mtfl_protocol_defaults(strcmp(name, "crop") == 0 ? MTFL_PROTOCOL_CROP : MTFL_PROTOCOL_SEED);
    p.size = ldata_opt_int(L, opts, "size", p.size);
    p.validation = ldata_opt_int(L, opts, "validation", p.validation);
    p.eye_mouth = (float)ldata_opt_number(L, opts, "eye_mouth", p.eye_mouth);
    p.limit = ldata_opt_int(L, opts, "limit", 0);
    p.scan_only = ldata_opt_bool(L, opts, "scan", false);
    p.on_error = ldata_opt_on_error(L, opts);
    p.threads = ldata_opt_int(L, opts, "threads", 0);
    if (ldata_has_field(L, opts, "jitter")) {
        int t = lua_gettop(L);
        p.jitter.scale = (float)ldata_opt_number(L, t, "scale", p.jitter.scale);
        p.jitter.shift = (float)ldata_opt_number(L, t, "shift", p.jitter.shift);
        p.jitter.rotate = (float)ldata_opt_number(L, t, "rotate", p.jitter.rotate);
        lua_pop(L, 1);
    }
    return p;
}

static void push_load_info(lua_State *L, const mtfl_dataset *d, const mtfl_protocol *p)
{
    lua_createtable(L, 0, 14);
    lua_pushstring(L, mtfl_protocol_name(p->kind)), lua_setfield(L, -2, "protocol");
    lua_pushstring(L, d->dir), lua_setfield(L, -2, "real_dir");
    /* what the sets were made from: {training = {bytes =, hash =}, testing = {...}} */
    static const char *const files[2] = {"training", "testing"};
    lua_createtable(L, 0, 2);
    for (int f = 0; f < 2; f++) {
        char hash[20];
        snprintf(hash, sizeof hash, "%016llx", (unsigned long long)d->annotations[f].hash);
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, (lua_Integer)d->annotations[f].size), lua_setfield(L, -2, "bytes");
        lua_pushstring(L, hash), lua_setfield(L, -2, "hash");
        lua_setfield(L, -2, files[f]);
    }
    lua_setfield(L, -2, "annotations");
    lua_pushinteger(L, p->size), lua_setfield(L, -2, "size");
    lua_pushinteger(L, d->train_lines), lua_setfield(L, -2, "train_lines");
    lua_pushinteger(L, d->test_lines), lua_setfield(L, -2, "test_lines");
    lua_pushinteger(L, d->dropped_nonsquare), lua_setfield(L, -2, "dropped_nonsquare");
    lua_pushinteger(L, d->dropped_gray), lua_setfield(L, -2, "dropped_gray");
    ldata_push_problems(L, &d->bad_lines), lua_setfield(L, -2, "bad_lines");
    ldata_push_problems(L, &d->bad_images), lua_setfield(L, -2, "bad_images");
    lua_pushboolean(L, d->from_cache), lua_setfield(L, -2, "from_cache");
    if (d->cache_file[0]) lua_pushstring(L, d->cache_file), lua_setfield(L, -2, "cache_file");
    if (d->cache_note[0]) lua_pushstring(L, d->cache_note), lua_setfield(L, -2, "cache_note");
}

/* load(dir, {protocol, size, validation, eye_mouth, jitter = {scale, shift, rotate}, limit,
 * scan, on_error, threads, cache = dir}) -> train, val, test, info */
static int l_load(lua_State *L)
{
    lua_settop(L, 2);
    const char *dir = luaL_checkstring(L, 1);
    mtfl_protocol p = check_protocol(L, 2);
    const char *cache = ldata_opt_string(L, 2, "cache", NULL);
    mtfl_dataset d;
    if (mtfl_dataset_load(&d, dir, &p, cache)) return lmtfl_raise(L);
    ldata_push_set(L, d.train);   /* the userdata own the sets from here on */
    ldata_push_set(L, d.val);
    ldata_push_set(L, d.test);
    push_load_info(L, &d, &p);
    return 4;
}

/* synthetic(n, size, seed [, threads]) -> set */
static int l_synthetic(lua_State *L)
{
    lua_settop(L, 4);
    lua_Integer n = luaL_checkinteger(L, 1), size = luaL_checkinteger(L, 2);
    lua_Integer seed = luaL_checkinteger(L, 3);
    int threads = (int)luaL_optinteger(L, 4, 0);
    if (n < 0 || n > 10000000 || size < 16 || size > 2048)
        lmtfl_error(L, "synthetic: n = %lld (0..1e7) and size = %lld (16..2048)", (long long)n, (long long)size);
    ldata_push_set(L, mtfl_synth_set((int)n, (int)size, (uint64_t)seed, threads));
    return 1;
}

/* ---- the loader ---------------------------------------------------------------------- */

static mtfl_loader *check_loader(lua_State *L, int idx)
{
    loader_box *b = luaL_checkudata(L, idx, LOADER_T);
    if (!b->l) lmtfl_error(L, "loader used after close()");
    return b->l;
}

/* loader(set, {batch, shuffle, drop_last, seed, augment, point_scale, size, workers,
 * prefetch, shard_rank, shard_size}) */
static int l_loader(lua_State *L)
{
    lua_settop(L, 2);
    mtfl_set *s = check_set(L, 1);
    mtfl_loader_config c = mtfl_loader_defaults();
    c.batch_size = ldata_opt_int(L, 2, "batch", c.batch_size);
    c.shuffle = ldata_opt_bool(L, 2, "shuffle", c.shuffle);
    c.drop_last = ldata_opt_bool(L, 2, "drop_last", c.drop_last);
    c.seed = (uint64_t)ldata_opt_number(L, 2, "seed", (double)c.seed);
    c.point_scale = (float)ldata_opt_number(L, 2, "point_scale", c.point_scale);
    c.size = ldata_opt_int(L, 2, "size", 0);
    c.workers = ldata_opt_int(L, 2, "workers", c.workers);
    c.prefetch = ldata_opt_int(L, 2, "prefetch", c.prefetch);
    c.shard_rank = ldata_opt_int(L, 2, "shard_rank", 0);
    c.shard_size = ldata_opt_int(L, 2, "shard_size", 0);
    if (ldata_has_field(L, 2, "augment")) c.augment = ldata_check_augment(L, lua_gettop(L));
    loader_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->l = NULL;
    luaL_setmetatable(L, LOADER_T);
    if (!(b->l = mtfl_loader_new(s, &c))) return lmtfl_raise(L);
    return 1;
}

static int loader_batches(lua_State *L)
{
    lua_pushinteger(L, mtfl_loader_batches(check_loader(L, 1)));
    return 1;
}

/* loader:get(epoch, index [, device]) -> batch (both 1-based) */
static int loader_get(lua_State *L)
{
    lua_settop(L, 4);
    mtfl_loader *l = check_loader(L, 1);
    lua_Integer epoch = luaL_checkinteger(L, 2), index = luaL_checkinteger(L, 3);
    mtfl_device *dev = lmtfl_opt_device(L, 4);
    if (epoch < 1 || epoch > 1000000000 || index < 1 || index > mtfl_loader_batches(l))
        lmtfl_error(L, "loader: no batch %lld of epoch %lld (%d batches an epoch)", (long long)index,
                    (long long)epoch, mtfl_loader_batches(l));
    const mtfl_batch *b = mtfl_loader_acquire(l, (int)epoch - 1, (int)index - 1);
    if (!b) return lmtfl_raise(L);
    /* should making the tensors raise, the slot stays held until the next get, which
     * hands it back first */
    push_batch(L, b, dev);
    mtfl_loader_release(l);
    /* the rows of the whole batch, of which a shard holds its slice (count) */
    lua_pushinteger(L, mtfl_loader_batch_rows(l, (int)index - 1));
    lua_setfield(L, -2, "total");
    return 1;
}

static int loader_gc(lua_State *L)
{
    loader_box *b = luaL_checkudata(L, 1, LOADER_T);
    mtfl_loader_free(b->l);
    b->l = NULL;
    return 0;
}

static const luaL_Reg loader_methods[] = {
    {"batches", loader_batches}, {"get", loader_get}, {"close", loader_gc}, {NULL, NULL}};

static int l_cpu_count(lua_State *L)
{
    lua_pushinteger(L, mtfl_cpu_count());
    return 1;
}

/* check_augment(table) -> the same augmentation with every field filled in; a bad field
 * is an error naming it */
static int l_check_augment(lua_State *L)
{
    mtfl_augment a = ldata_check_augment(L, 1);
    ldata_push_augment(L, &a);
    return 1;
}

/* hash(text) -> 16 hex digits: the 64-bit FNV-1a the data cache uses, for fingerprints
 * of settings (not for security) */
static int l_hash(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    char hex[20];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)mtfl_hash(MTFL_HASH_INIT, text, len));
    lua_pushstring(L, hex);
    return 1;
}

/* ---- registration -------------------------------------------------------------------- */

void ldata_new_type(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__close");
    lua_pop(L, 1);
}

static const luaL_Reg data_functions[] = {
    {"parse_annotations", l_parse_annotations}, {"read_annotations", l_read_annotations},
    {"load", l_load}, {"synthetic", l_synthetic}, {"loader", l_loader},
    {"cpu_count", l_cpu_count}, {"hash", l_hash},
    {"check_augment", l_check_augment}, {NULL, NULL}};

void lmtfl_open_data(lua_State *L)
{
    ldata_new_type(L, SET_T, set_methods, set_gc);
    luaL_getmetatable(L, SET_T);
    lua_pushcfunction(L, set_len), lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, set_tostring), lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    ldata_new_type(L, LOADER_T, loader_methods, loader_gc);
    luaL_newmetatable(L, BATCH_T);
    lua_pushcfunction(L, host_batch_gc), lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    luaL_setfuncs(L, data_functions, 0);
    ldata_open_images(L);
    ldata_open_metrics(L);
    ldata_open_lists(L);
    lua_setfield(L, -2, "_data");
}
