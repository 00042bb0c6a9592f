/*
 * devices.c - the host's view of mtfl's devices: --device, --devices and the banner.
 *
 * Everything here runs in plain protected calls without a traceback: a device error is
 * a configuration problem of the user, and the Lua stack behind it says nothing to them.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "devices.h"
#include "host.h"

/* The module as `require` returned it, so a script reassigning the global `mtfl`
 * cannot redirect these calls. */
static void push_mtfl_function(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "mtfl") != LUA_TTABLE)
        luaL_error(L, "the mtfl module is not loaded");
    if (lua_getfield(L, -1, name) != LUA_TFUNCTION)
        luaL_error(L, "mtfl.%s is not available", name);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

static int set_device(lua_State *L)
{
    const char *spec = lua_touserdata(L, 1);
    push_mtfl_function(L, "set_device");
    lua_pushstring(L, spec);
    lua_call(L, 1, 0);
    return 0;
}

bool host_set_device(lua_State *L, const char *spec)
{
    lua_pushcfunction(L, set_device);
    lua_pushlightuserdata(L, (void *)spec);
    if (lua_pcall(L, 1, 0, 0) == LUA_OK)
        return true;
    const char *why = lua_tostring(L, -1);
    lua_pushfstring(L, "cannot use device '%s': %s", spec, why ? why : "(no message)");
    host_report(L, LUA_ERRRUN, true);
    lua_pop(L, 1);
    return false;
}

/* Device fields as text; a missing or odd field shows as "?" rather than failing the
 * whole listing. */
static const char *field_text(lua_State *L, int entry, const char *key, char *buf,
                              size_t size)
{
    int type = lua_getfield(L, entry, key);
    if (type == LUA_TSTRING || type == LUA_TNUMBER)
        snprintf(buf, size, "%s", lua_tostring(L, -1));
    else
        snprintf(buf, size, "?");
    lua_pop(L, 1);
    return buf;
}

static void memory_text(lua_State *L, int entry, char *buf, size_t size)
{
    int isnum;
    lua_getfield(L, entry, "memory");
    lua_Number bytes = lua_tonumberx(L, -1, &isnum);
    lua_pop(L, 1);
    if (isnum && bytes >= 0)
        snprintf(buf, size, "%.0f MiB", bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, size, "?");
}

static bool is_default(lua_State *L, int entry)
{
    lua_getfield(L, entry, "default");
    bool yes = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return yes;
}

enum { COL_ID, COL_BACKEND, COL_NAME, COL_PLATFORM, COL_MEMORY, COL_UNITS, COL_TUNED, NCOLS };

static void row_texts(lua_State *L, int entry, char text[NCOLS][160])
{
    field_text(L, entry, "id", text[COL_ID], sizeof text[0]);
    field_text(L, entry, "backend", text[COL_BACKEND], sizeof text[0]);
    field_text(L, entry, "name", text[COL_NAME], sizeof text[0]);
    field_text(L, entry, "platform", text[COL_PLATFORM], sizeof text[0]);
    memory_text(L, entry, text[COL_MEMORY], sizeof text[0]);
    field_text(L, entry, "compute_units", text[COL_UNITS], sizeof text[0]);
    /* which CLBlast kernels run with parameters tuned here (scripts/tune.lua) */
    field_text(L, entry, "tuned", text[COL_TUNED], sizeof text[0]);
    if (strcmp(text[COL_BACKEND], "opencl") != 0)
        snprintf(text[COL_TUNED], sizeof text[0], "-");
    else if (text[COL_TUNED][0] == '\0')
        snprintf(text[COL_TUNED], sizeof text[0], "no");
}

static void print_row(char text[NCOLS][160], const int width[NCOLS], char mark)
{
    printf("%c %-*s  %-*s  %-*s  %-*s  %*s  %*s  %s\n", mark,
           width[COL_ID], text[COL_ID], width[COL_BACKEND], text[COL_BACKEND],
           width[COL_NAME], text[COL_NAME], width[COL_PLATFORM], text[COL_PLATFORM],
           width[COL_MEMORY], text[COL_MEMORY], width[COL_UNITS], text[COL_UNITS],
           text[COL_TUNED]);
}

static int list_devices(lua_State *L)
{
    static char header[NCOLS][160] = {"id", "backend", "name", "platform", "memory",
                                      "units", "tuned"};
    char text[NCOLS][160];
    int width[NCOLS];

    push_mtfl_function(L, "devices");
    lua_call(L, 0, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    int list = lua_gettop(L);
    lua_Integer n = luaL_len(L, list);

    /* Two passes, so the columns fit the longest entry without storing the rows. */
    for (int c = 0; c < NCOLS; c++)
        width[c] = (int)strlen(header[c]);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, list, i) == LUA_TTABLE) {
            row_texts(L, lua_gettop(L), text);
            for (int c = 0; c < NCOLS; c++)
                if ((int)strlen(text[c]) > width[c])
                    width[c] = (int)strlen(text[c]);
        }
        lua_pop(L, 1);
    }
    print_row(header, width, ' ');
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, list, i) == LUA_TTABLE) {
            int entry = lua_gettop(L);
            row_texts(L, entry, text);
            print_row(text, width, is_default(L, entry) ? '*' : ' ');
        }
        lua_pop(L, 1);
    }
    /* tunings that could not be applied (lua/mtfl/tuning.lua) */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "mtfl") == LUA_TTABLE && lua_getfield(L, -1, "tuning_problems") == LUA_TTABLE)
        for (lua_Integer i = 1; lua_geti(L, -1, i) == LUA_TSTRING; i++) {
            printf("note: %s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    fflush(stdout);
    return 0;
}

bool host_list_devices(lua_State *L)
{
    lua_pushcfunction(L, list_devices);
    if (lua_pcall(L, 0, 0, 0) == LUA_OK)
        return true;
    const char *why = lua_tostring(L, -1);
    lua_pushfstring(L, "cannot list the devices: %s", why ? why : "(no message)");
    host_report(L, LUA_ERRRUN, true);
    lua_pop(L, 1);
    return false;
}

static int default_device(lua_State *L)
{
    push_mtfl_function(L, "device");
    lua_call(L, 0, 1);
    luaL_tolstring(L, -1, NULL);
    return 1;
}

bool host_default_device(lua_State *L, char *buf, size_t size)
{
    lua_pushcfunction(L, default_device);
    bool ok = lua_pcall(L, 0, 1, 0) == LUA_OK;
    if (ok)
        snprintf(buf, size, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    return ok;
}
