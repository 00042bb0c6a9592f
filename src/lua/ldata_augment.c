/*
 * ldata_augment.c - the augment table of data.loader and set:batch, read into an
 * mtfl_augment and pushed back (a set's own jitter, in set:info()). Every key must be
 * one this file knows and of its type, and mtfl_augment_check gives the ranges, so that
 * a misspelt or misplaced setting is an error naming it rather than silently nothing.
 *
 *   {mirror = true | p, translate = px, scale =, shift =, rotate = degrees,
 *    fill = "edge" | "black", color = x | {brightness =, contrast =, saturation =},
 *    grayscale = p, blur = {p =, sigma = {lo, hi} | s}, erase = {p =, area = {lo, hi},
 *    aspect = {lo, hi}, fill = "noise" | "mean"}}
 */
#include <string.h>

#include "ldata.h"

#define BLUR_SIGMA_DEFAULT {0.5f, 1.5f}
#define ERASE_AREA_DEFAULT {0.02f, 0.2f}
#define ERASE_ASPECT_DEFAULT {0.3f, 3.3f}

static bool is_known(lua_State *L, int key, const char *const *known)
{
    if (lua_type(L, key) != LUA_TSTRING) return false;
    for (int k = 0; known[k]; k++)
        if (strcmp(lua_tostring(L, key), known[k]) == 0) return true;
    return false;
}

/* The keys of the table at idx are among `known` (NULL-terminated); else an error
 * naming the key and listing the known ones. */
static void check_keys(lua_State *L, int idx, const char *where, const char *const *known)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (is_known(L, -1, known)) continue;
        bool named = lua_type(L, -1) == LUA_TSTRING;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int k = 0; known[k]; k++) {
            if (k) luaL_addstring(&b, ", ");
            luaL_addstring(&b, known[k]);
        }
        luaL_pushresult(&b);
        lmtfl_error(L, "%s: unknown field %s%s%s (fields: %s)", where, named ? "'" : "",
                    named ? lua_tostring(L, -2) : luaL_typename(L, -2), named ? "'" : "", lua_tostring(L, -1));
    }
}

/* Field `key` of the table at idx as a number; absent: def. */
static float number_field(lua_State *L, int idx, const char *where, const char *key, float def)
{
    lua_getfield(L, idx, key);
    float v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            lmtfl_error(L, "%s.%s must be a number, got %s", where, key, luaL_typename(L, -1));
        v = (float)lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* A range: {lo, hi}, or one number for both. */
static void range_field(lua_State *L, int idx, const char *where, const char *key, float out[2])
{
    lua_getfield(L, idx, key);
    int t = lua_gettop(L);
    if (lua_type(L, t) == LUA_TNUMBER) {
        out[0] = out[1] = (float)lua_tonumber(L, t);
    } else if (lua_istable(L, t)) {
        if (luaL_len(L, t) != 2) lmtfl_error(L, "%s.%s must be {low, high}, got %d numbers", where, key, (int)luaL_len(L, t));
        for (int k = 0; k < 2; k++) {
            if (lua_geti(L, t, k + 1) != LUA_TNUMBER)
                lmtfl_error(L, "%s.%s must be {low, high} numbers, entry %d is a %s", where, key, k + 1, luaL_typename(L, -1));
            out[k] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, t)) {
        lmtfl_error(L, "%s.%s must be a number or {low, high}, got %s", where, key, luaL_typename(L, t));
    }
    lua_pop(L, 1);
}

/* One of two strings; absent: the first. Returns whether it is the second. */
static bool choice_field(lua_State *L, int idx, const char *where, const char *key, const char *first, const char *second)
{
    lua_getfield(L, idx, key);
    bool is_second = false;
    if (!lua_isnil(L, -1)) {
        const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (!v || (strcmp(v, first) && strcmp(v, second)))
            lmtfl_error(L, "%s.%s is %s%s%s (use \"%s\" or \"%s\")", where, key, v ? "'" : "a ",
                        v ? v : luaL_typename(L, -1), v ? "'" : "", first, second);
        is_second = strcmp(v, second) == 0;
    }
    lua_pop(L, 1);
    return is_second;
}

/* Field `key` as a sub-table, pushed and its index returned; 0 (nothing pushed) when
 * absent or false. */
static int table_field(lua_State *L, int idx, const char *where, const char *key)
{
    lua_getfield(L, idx, key);
    if (lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1)) lmtfl_error(L, "%s.%s must be a table (or false), got %s", where, key, luaL_typename(L, -1));
    return lua_gettop(L);
}

static float probability_field(lua_State *L, int t, const char *where)
{
    lua_getfield(L, t, "p");
    if (lua_type(L, -1) != LUA_TNUMBER)
        lmtfl_error(L, "%s.p (the probability) must be a number, got %s", where, luaL_typename(L, -1));
    float p = (float)lua_tonumber(L, -1);
    lua_pop(L, 1);
    return p;
}

static void read_color(lua_State *L, int idx, mtfl_augment *a)
{
    lua_getfield(L, idx, "color");
    int t = lua_gettop(L);
    if (lua_type(L, t) == LUA_TNUMBER) {
        a->brightness = a->contrast = a->saturation = (float)lua_tonumber(L, t);
    } else if (lua_istable(L, t)) {
        static const char *const keys[] = {"brightness", "contrast", "saturation", NULL};
        check_keys(L, t, "augment.color", keys);
        a->brightness = number_field(L, t, "augment.color", "brightness", 0);
        a->contrast = number_field(L, t, "augment.color", "contrast", 0);
        a->saturation = number_field(L, t, "augment.color", "saturation", 0);
    } else if (!lua_isnil(L, t) && !(lua_isboolean(L, t) && !lua_toboolean(L, t))) {
        lmtfl_error(L, "augment.color must be a number or {brightness, contrast, saturation}, got %s", luaL_typename(L, t));
    }
    lua_pop(L, 1);
}

static void read_blur(lua_State *L, int idx, mtfl_augment *a)
{
    int t = table_field(L, idx, "augment", "blur");
    if (!t) return;
    static const char *const keys[] = {"p", "sigma", NULL};
    check_keys(L, t, "augment.blur", keys);
    a->blur = probability_field(L, t, "augment.blur");
    float sigma[2] = BLUR_SIGMA_DEFAULT;
    range_field(L, t, "augment.blur", "sigma", sigma);
    memcpy(a->blur_sigma, sigma, sizeof sigma);
    lua_pop(L, 1);
}

static void read_erase(lua_State *L, int idx, mtfl_augment *a)
{
    int t = table_field(L, idx, "augment", "erase");
    if (!t) return;
    static const char *const keys[] = {"p", "area", "aspect", "fill", NULL};
    check_keys(L, t, "augment.erase", keys);
    a->erase = probability_field(L, t, "augment.erase");
    float area[2] = ERASE_AREA_DEFAULT, aspect[2] = ERASE_ASPECT_DEFAULT;
    range_field(L, t, "augment.erase", "area", area);
    range_field(L, t, "augment.erase", "aspect", aspect);
    memcpy(a->erase_area, area, sizeof area);
    memcpy(a->erase_aspect, aspect, sizeof aspect);
    a->erase_mean = choice_field(L, t, "augment.erase", "fill", "noise", "mean");
    lua_pop(L, 1);
}

mtfl_augment ldata_check_augment(lua_State *L, int idx)
{
    mtfl_augment a = {0};
    if (lua_isnoneornil(L, idx) || (lua_isboolean(L, idx) && !lua_toboolean(L, idx))) return a;
    if (!lua_istable(L, idx)) lmtfl_error(L, "augment must be a table or false, got %s", luaL_typename(L, idx));
    idx = lua_absindex(L, idx);
    static const char *const keys[] = {"mirror", "translate", "scale", "shift", "rotate", "fill", "color",
                                       "grayscale", "blur", "erase", NULL};
    check_keys(L, idx, "augment", keys);
    a.translate = number_field(L, idx, "augment", "translate", 0);
    a.scale = number_field(L, idx, "augment", "scale", 0);
    a.shift = number_field(L, idx, "augment", "shift", 0);
    a.rotate = number_field(L, idx, "augment", "rotate", 0);
    a.grayscale = number_field(L, idx, "augment", "grayscale", 0);
    lua_getfield(L, idx, "mirror");
    if (lua_isboolean(L, -1)) a.mirror = lua_toboolean(L, -1) ? 0.5f : 0.0f;
    else if (lua_type(L, -1) == LUA_TNUMBER) a.mirror = (float)lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1))
        lmtfl_error(L, "augment.mirror must be a boolean or a probability, got %s", luaL_typename(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, idx, "fill");
    const char *fill = lua_isnil(L, -1) ? "edge" : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!fill || (strcmp(fill, "edge") && strcmp(fill, "black")))
        lmtfl_error(L, "augment: fill '%s' (use \"edge\" or \"black\")", fill ? fill : luaL_typename(L, -1));
    a.black_fill = strcmp(fill, "black") == 0;
    lua_pop(L, 1);
    read_color(L, idx, &a);
    read_blur(L, idx, &a);
    read_erase(L, idx, &a);
    if (mtfl_augment_check(&a)) lmtfl_raise(L);
    return a;
}

static void push_pair(lua_State *L, const float v[2], const char *key)
{
    ldata_push_floats(L, v, 2);
    lua_setfield(L, -2, key);
}

void ldata_push_augment(lua_State *L, const mtfl_augment *a)
{
    lua_createtable(L, 0, 10);
    lua_pushnumber(L, a->translate), lua_setfield(L, -2, "translate");
    lua_pushnumber(L, a->mirror), lua_setfield(L, -2, "mirror");
    lua_pushnumber(L, a->scale), lua_setfield(L, -2, "scale");
    lua_pushnumber(L, a->shift), lua_setfield(L, -2, "shift");
    lua_pushnumber(L, a->rotate), lua_setfield(L, -2, "rotate");
    lua_pushstring(L, a->black_fill ? "black" : "edge"), lua_setfield(L, -2, "fill");
    lua_pushnumber(L, a->grayscale), lua_setfield(L, -2, "grayscale");
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, a->brightness), lua_setfield(L, -2, "brightness");
    lua_pushnumber(L, a->contrast), lua_setfield(L, -2, "contrast");
    lua_pushnumber(L, a->saturation), lua_setfield(L, -2, "saturation");
    lua_setfield(L, -2, "color");
    if (a->blur > 0) {
        lua_createtable(L, 0, 2);
        lua_pushnumber(L, a->blur), lua_setfield(L, -2, "p");
        push_pair(L, a->blur_sigma, "sigma");
        lua_setfield(L, -2, "blur");
    }
    if (a->erase > 0) {
        lua_createtable(L, 0, 4);
        lua_pushnumber(L, a->erase), lua_setfield(L, -2, "p");
        push_pair(L, a->erase_area, "area");
        push_pair(L, a->erase_aspect, "aspect");
        lua_pushstring(L, a->erase_mean ? "mean" : "noise"), lua_setfield(L, -2, "fill");
        lua_setfield(L, -2, "erase");
    }
}
