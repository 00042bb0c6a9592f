/*
 * ldata_lists.c - any list of faces as a set, framed for a trained model (lists.c):
 *
 *   load_list(file, {frame = "none" | "points" | "box", size, eye_mouth, after_line,
 *             limit, on_error, threads}) -> set, info
 *   load_images({path, ...}, {boxes = {[i] = {x, y, w, h}}, size, on_error, threads})
 *             -> set, info
 *
 * info = {lines, bad_lines, bad_images, bytes, hash} (bytes and hash of the list file).
 */
#include <stdlib.h>
#include <string.h>

#include "ldata.h"

static mtfl_list_options check_list_options(lua_State *L, int opts, bool points_known)
{
    const char *frame = ldata_opt_string(L, opts, "frame", "none");
    mtfl_list_options o = {.size = ldata_opt_int(L, opts, "size", 150),
                           .eye_mouth = (float)ldata_opt_number(L, opts, "eye_mouth", 0.316),
                           .points_known = points_known,
                           .after_line = ldata_opt_int(L, opts, "after_line", 0),
                           .limit = ldata_opt_int(L, opts, "limit", 0),
                           .on_error = ldata_opt_on_error(L, opts),
                           .threads = ldata_opt_int(L, opts, "threads", 0)};
    if (strcmp(frame, "none") == 0) o.frame = MTFL_FRAME_WHOLE;
    else if (strcmp(frame, "points") == 0) o.frame = MTFL_FRAME_POINTS;
    else if (strcmp(frame, "box") == 0) o.frame = MTFL_FRAME_BOX;
    else lmtfl_error(L, "option 'frame' is '%s' (use \"none\", \"points\" or \"box\")", frame);
    return o;
}

static int push_list(lua_State *L, mtfl_list *l)
{
    ldata_push_set(L, l->set);   /* takes over the set */
    l->set = NULL;
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, l->lines), lua_setfield(L, -2, "lines");
    ldata_push_problems(L, &l->bad_lines), lua_setfield(L, -2, "bad_lines");
    ldata_push_problems(L, &l->bad_images), lua_setfield(L, -2, "bad_images");
    char hash[20];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)l->fingerprint.hash);
    lua_pushinteger(L, (lua_Integer)l->fingerprint.size), lua_setfield(L, -2, "bytes");
    lua_pushstring(L, hash), lua_setfield(L, -2, "hash");
    return 2;
}

static int l_load_list(lua_State *L)
{
    lua_settop(L, 2);
    const char *file = luaL_checkstring(L, 1);
    mtfl_list_options o = check_list_options(L, 2, true);
    mtfl_list l;
    if (mtfl_list_load(&l, file, &o)) return lmtfl_raise(L);
    return push_list(L, &l);
}

/* The box of image i from options.boxes[i] ({x, y, w, h}), if there is one. */
static bool read_box(lua_State *L, int opts, int i, float box[4])
{
    if (!ldata_has_field(L, opts, "boxes")) return false;
    if (!lua_istable(L, -1)) lmtfl_error(L, "option 'boxes' is a %s, not a table", luaL_typename(L, -1));
    bool found = lua_geti(L, -1, i) != LUA_TNIL;
    if (found) {
        if (!lua_istable(L, -1) || luaL_len(L, -1) != 4)
            lmtfl_error(L, "boxes[%d] is not a table {x, y, width, height}", i);
        for (int k = 0; k < 4; k++) {
            lua_geti(L, -1, k + 1);
            int ok;
            box[k] = (float)lua_tonumberx(L, -1, &ok);
            if (!ok) lmtfl_error(L, "boxes[%d][%d] is not a number", i, k + 1);
            lua_pop(L, 1);
        }
        if (!(box[2] >= 1 && box[3] >= 1))
            lmtfl_error(L, "boxes[%d] is %gx%g pixels (at least 1x1)", i, box[2], box[3]);
    }
    lua_pop(L, 2);
    return found;
}

/* The faces are made here and freed on every path, errors included: a to-be-closed
 * slot holds them while Lua may raise. */
typedef struct { mtfl_annotations a; } faces_box;

static int faces_gc(lua_State *L)
{
    faces_box *f = lua_touserdata(L, 1);
    mtfl_annotations_free(&f->a);
    return 0;
}

static int l_load_images(lua_State *L)
{
    lua_settop(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 1);
    if (n < 1 || n > 10000000) lmtfl_error(L, "load_images: %lld paths (1..10000000)", (long long)n);
    faces_box *f = lua_newuserdatauv(L, sizeof *f, 0);   /* index 3 */
    memset(f, 0, sizeof *f);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, faces_gc), lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    f->a.file = mtfl_strdup("(images)");
    f->a.faces = calloc((size_t)n, sizeof *f->a.faces);
    if (!f->a.file || !f->a.faces) lmtfl_error(L, "load_images: out of memory for %lld paths", (long long)n);
    bool any_box = false;
    for (lua_Integer i = 1; i <= n; i++) {
        mtfl_face *face = &f->a.faces[f->a.count];
        if (lua_geti(L, 1, i) != LUA_TSTRING) lmtfl_error(L, "load_images: path %lld is a %s, not a string", (long long)i, luaL_typename(L, -1));
        face->path = mtfl_strdup(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!face->path) lmtfl_error(L, "load_images: out of memory");
        f->a.count++;
        face->file = f->a.file;
        face->line = (int)i;
        face->has_box = read_box(L, 2, (int)i, face->box);
        any_box = any_box || face->has_box;
    }
    mtfl_list_options o = check_list_options(L, 2, false);
    if (ldata_has_field(L, 2, "frame")) lmtfl_error(L, "load_images: the framing follows from boxes (give none)");
    o.frame = any_box ? MTFL_FRAME_BOX : MTFL_FRAME_WHOLE;
    for (int i = 0; any_box && i < f->a.count; i++)
        if (!f->a.faces[i].has_box)
            lmtfl_error(L, "load_images: boxes given for some images but not for image %d (%s)", i + 1, f->a.faces[i].path);
    mtfl_list l;
    memset(&l, 0, sizeof l);
    l.lines = f->a.count;
    if (mtfl_list_from_faces(&l, &f->a, ".", &o)) return lmtfl_raise(L);
    return push_list(L, &l);
}

static const luaL_Reg list_functions[] = {
    {"load_list", l_load_list}, {"load_images", l_load_images}, {NULL, NULL}};

void ldata_open_lists(lua_State *L)
{
    luaL_setfuncs(L, list_functions, 0);
}
