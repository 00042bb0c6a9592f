/*
 * ldata_image.c - RGB images from Lua (mtfl.data.Image): made, loaded, drawn on,
 * pasted, resized, saved, and converted to and from tensors. Positions are pixel
 * coordinates from the top-left corner, as landmarks are.
 */
#include <stdio.h>
#include <string.h>

#include "ldata.h"

image_box *ldata_new_image(lua_State *L, int w, int h)
{
    image_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, IMAGE_T);
    if (mtfl_image_alloc(&b->img, w, h, 3)) lmtfl_raise(L);
    return b;
}

static mtfl_image *check_image(lua_State *L, int idx)
{
    image_box *b = luaL_checkudata(L, idx, IMAGE_T);
    if (!b->img.pixels) lmtfl_error(L, "image used after free()");
    return &b->img;
}

/* A colour: {r, g, b} (0..255) or "#rrggbb". */
static mtfl_rgb check_color(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tostring(L, idx);
        unsigned r, g, b;
        if (strlen(s) != 7 || sscanf(s, "#%2x%2x%2x", &r, &g, &b) != 3)
            lmtfl_error(L, "colour '%s' (use \"#rrggbb\" or {r, g, b})", s);
        return (mtfl_rgb){(uint8_t)r, (uint8_t)g, (uint8_t)b};
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    int v[3];
    for (int k = 0; k < 3; k++) {
        lua_geti(L, idx, k + 1);
        v[k] = (int)luaL_checknumber(L, -1);
        lua_pop(L, 1);
        if (v[k] < 0 || v[k] > 255) lmtfl_error(L, "colour component %d is %d (0..255)", k + 1, v[k]);
    }
    return (mtfl_rgb){(uint8_t)v[0], (uint8_t)v[1], (uint8_t)v[2]};
}

static mtfl_rgb opt_color(lua_State *L, int opts, mtfl_rgb def)
{
    if (!ldata_has_field(L, opts, "color")) return def;
    mtfl_rgb c = check_color(L, lua_gettop(L));
    lua_pop(L, 1);
    return c;
}

/* image(width, height [, colour]) */
static int l_image(lua_State *L)
{
    lua_settop(L, 3);
    lua_Integer w = luaL_checkinteger(L, 1), h = luaL_checkinteger(L, 2);
    if (w < 1 || h < 1 || w > 32768 || h > 32768) lmtfl_error(L, "image: size %lldx%lld (1..32768)", (long long)w, (long long)h);
    mtfl_rgb c = lua_isnoneornil(L, 3) ? (mtfl_rgb){0, 0, 0} : check_color(L, 3);
    image_box *b = ldata_new_image(L, (int)w, (int)h);
    mtfl_draw_fill(&b->img, c);
    return 1;
}

/* image_load(path) -> image, channels in the file */
static int l_image_load(lua_State *L)
{
    image_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, IMAGE_T);
    int channels;
    if (mtfl_image_load(&b->img, luaL_checkstring(L, 1), &channels)) return lmtfl_raise(L);
    lua_pushinteger(L, channels);
    return 2;
}

static int image_gc(lua_State *L)
{
    mtfl_image_free(&((image_box *)luaL_checkudata(L, 1, IMAGE_T))->img);
    return 0;
}

static int image_size(lua_State *L)
{
    mtfl_image *img = check_image(L, 1);
    lua_pushinteger(L, img->width);
    lua_pushinteger(L, img->height);
    return 2;
}

/* img:save(path [, {quality = 95 (JPEG), gray = false (one channel; use .png)}]) */
static int image_save(lua_State *L)
{
    lua_settop(L, 3);
    mtfl_image *img = check_image(L, 1);
    const char *path = luaL_checkstring(L, 2);
    int quality = ldata_opt_int(L, 3, "quality", 95);
    if (quality < 1 || quality > 100) lmtfl_error(L, "save: JPEG quality %d (1..100)", quality);
    if (!ldata_opt_bool(L, 3, "gray", false)) {
        if (mtfl_image_save(img, path, quality)) return lmtfl_raise(L);
    } else {
        mtfl_image gray;
        if (mtfl_image_luma(img, &gray)) return lmtfl_raise(L);
        mtfl_status s = mtfl_image_save(&gray, path, quality);
        mtfl_image_free(&gray);
        if (s) return lmtfl_raise(L);
    }
    lua_settop(L, 1);
    return 1;
}

/* img:paste(other, x, y): other's top-left corner at pixel (x, y) */
static int image_paste(lua_State *L)
{
    mtfl_image *dst = check_image(L, 1), *src = check_image(L, 2);
    if (mtfl_draw_paste(dst, src, (int)luaL_checkinteger(L, 3), (int)luaL_checkinteger(L, 4))) return lmtfl_raise(L);
    lua_settop(L, 1);
    return 1;
}

/* img:mark(x, y [, {radius, style = "disc"|"ring"|"cross", color}]) */
static int image_mark(lua_State *L)
{
    lua_settop(L, 4);
    mtfl_image *img = check_image(L, 1);
    float x = (float)luaL_checknumber(L, 2), y = (float)luaL_checknumber(L, 3);
    float r = (float)ldata_opt_number(L, 4, "radius", 2.5);
    const char *style = ldata_opt_string(L, 4, "style", "disc");
    mtfl_mark m = !strcmp(style, "disc") ? MTFL_MARK_DISC : !strcmp(style, "ring") ? MTFL_MARK_RING
                : !strcmp(style, "cross") ? MTFL_MARK_CROSS : (mtfl_mark)-1;
    if ((int)m < 0) lmtfl_error(L, "mark: style '%s' (use \"disc\", \"ring\" or \"cross\")", style);
    mtfl_draw_mark(img, x, y, r, m, opt_color(L, 4, (mtfl_rgb){255, 0, 0}));
    lua_settop(L, 1);
    return 1;
}

/* img:line(x0, y0, x1, y1 [, {width, color}]) */
static int image_line(lua_State *L)
{
    lua_settop(L, 6);
    mtfl_image *img = check_image(L, 1);
    float v[4];
    for (int k = 0; k < 4; k++) v[k] = (float)luaL_checknumber(L, 2 + k);
    mtfl_draw_line(img, v[0], v[1], v[2], v[3], (float)ldata_opt_number(L, 6, "width", 1),
                   opt_color(L, 6, (mtfl_rgb){255, 255, 255}));
    lua_settop(L, 1);
    return 1;
}

/* img:rect(x, y, w, h, colour) */
static int image_rect(lua_State *L)
{
    mtfl_image *img = check_image(L, 1);
    int v[4];
    for (int k = 0; k < 4; k++) v[k] = (int)luaL_checkinteger(L, 2 + k);
    mtfl_draw_rect(img, v[0], v[1], v[2], v[3], check_color(L, 6));
    lua_settop(L, 1);
    return 1;
}

/* img:text(x, y, text [, {scale, color}]) -> width in pixels */
static int image_text(lua_State *L)
{
    lua_settop(L, 5);
    mtfl_image *img = check_image(L, 1);
    int x = (int)luaL_checkinteger(L, 2), y = (int)luaL_checkinteger(L, 3);
    const char *text = luaL_checkstring(L, 4);
    int scale = ldata_opt_int(L, 5, "scale", 1);
    if (scale < 1 || scale > 16) lmtfl_error(L, "text: scale %d (1..16)", scale);
    lua_pushinteger(L, mtfl_draw_text(img, x, y, text, scale, opt_color(L, 5, (mtfl_rgb){255, 255, 255})));
    return 1;
}

static int l_text_width(lua_State *L)
{
    lua_pushinteger(L, mtfl_text_width(luaL_checkstring(L, 1), (int)luaL_optinteger(L, 2, 1)));
    return 1;
}

/* img:resize(w, h) -> a new image */
static int image_resize(lua_State *L)
{
    mtfl_image *img = check_image(L, 1);
    lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3);
    if (w < 1 || h < 1 || w > 32768 || h > 32768) lmtfl_error(L, "resize: size %lldx%lld", (long long)w, (long long)h);
    image_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, IMAGE_T);
    if (mtfl_image_resize(img, &b->img, (int)w, (int)h)) return lmtfl_raise(L);
    return 1;
}

/* img:bytes() -> the pixels as a string, rows of RGB */
static int image_bytes(lua_State *L)
{
    mtfl_image *img = check_image(L, 1);
    lua_pushlstring(L, (const char *)img->pixels, (size_t)img->width * (size_t)img->height * 3);
    return 1;
}

/* img:to_tensor([device]) -> [3, H, W] with pixel / 255 */
static int image_to_tensor(lua_State *L)
{
    mtfl_image *img = check_image(L, 1);
    int64_t shape[3] = {3, img->height, img->width};
    mtfl_tensor *t = lmtfl_new_tensor(L, lmtfl_opt_device(L, 2), 3, shape);
    LMTFL_CALL(L, mtfl_from_bytes(t, img->pixels, img->height, img->width, 3, true, 1.0f / 255.0f));
    return 1;
}

/* image_from_tensor(t) -> image, from [3, H, W] (or [1, H, W]) with values in [0, 1] */
static int l_image_from_tensor(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    char s[128];
    if (t->ndim != 3 || (t->shape[0] != 3 && t->shape[0] != 1) || t->shape[1] > 32768 || t->shape[2] > 32768)
        lmtfl_error(L, "image_from_tensor: want [3, H, W] or [1, H, W], got %s", mtfl_shape_str(t, s, sizeof s));
    int c = (int)t->shape[0], h = (int)t->shape[1], w = (int)t->shape[2];
    image_box *b = ldata_new_image(L, w, h);
    LMTFL_CALL(L, mtfl_to_bytes(t, b->img.pixels, h, w, c, true, 1.0f / 255.0f));
    if (c == 1) /* spread the one plane over three channels, last pixel first */
        for (size_t i = (size_t)w * (size_t)h; i-- > 0;)
            b->img.pixels[3 * i] = b->img.pixels[3 * i + 1] = b->img.pixels[3 * i + 2] = b->img.pixels[i];
    return 1;
}

static const luaL_Reg image_methods[] = {
    {"size", image_size}, {"save", image_save}, {"paste", image_paste}, {"mark", image_mark},
    {"line", image_line}, {"rect", image_rect}, {"text", image_text}, {"resize", image_resize},
    {"bytes", image_bytes}, {"to_tensor", image_to_tensor},
    {"free", image_gc}, {NULL, NULL}};


static const luaL_Reg image_functions[] = {
    {"image", l_image}, {"image_load", l_image_load}, {"image_from_tensor", l_image_from_tensor},
    {"text_width", l_text_width}, {NULL, NULL}};

void ldata_open_images(lua_State *L)
{
    ldata_new_type(L, IMAGE_T, image_methods, image_gc);
    luaL_setfuncs(L, image_functions, 0);
}
