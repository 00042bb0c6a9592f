/*
 * lfiles.c - mtfl._files: what Lua's io library cannot do and saving results needs
 * (src/data/files.c): files written whole or not at all, locks that die with their
 * process, folders, and what a path is. lua/mtfl/files.lua is the Lua face of it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ldata.h"

#define WRITER_T "mtfl.files.Writer"
#define LOCK_T "mtfl.files.Lock"

/* create(path) -> writer: writer:write(s, ...), writer:commit(); dropped or closed
 * without commit, the temporary file goes and path stays as it was */
static int l_create(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mtfl_atomic_file *f = lua_newuserdatauv(L, sizeof *f, 0);
    f->stream = NULL;
    f->tmp[0] = '\0';
    luaL_setmetatable(L, WRITER_T);
    if (mtfl_atomic_open(f, path)) lmtfl_raise(L);
    return 1;
}

static int writer_write(lua_State *L)
{
    mtfl_atomic_file *f = luaL_checkudata(L, 1, WRITER_T);
    for (int i = 2; i <= lua_gettop(L); i++) {
        size_t n;
        const char *s = luaL_checklstring(L, i, &n);
        if (mtfl_atomic_write(f, s, n)) lmtfl_raise(L);
    }
    lua_settop(L, 1);
    return 1;
}

static int writer_commit(lua_State *L)
{
    if (mtfl_atomic_commit(luaL_checkudata(L, 1, WRITER_T))) lmtfl_raise(L);
    return 0;
}

static int writer_abort(lua_State *L)
{
    mtfl_atomic_abort(luaL_checkudata(L, 1, WRITER_T));
    return 0;
}

static const luaL_Reg writer_methods[] = {
    {"write", writer_write}, {"commit", writer_commit}, {"abort", writer_abort}, {NULL, NULL}};

/* lock(path) -> lock, or nil, message, pid of the holder */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mtfl_lock *l = lua_newuserdatauv(L, sizeof *l, 0);
    l->fd = -1;
    luaL_setmetatable(L, LOCK_T);
    long holder;
    if (mtfl_lock_acquire(l, path, &holder) == MTFL_OK) return 1;
    lua_pushnil(L);
    lua_pushstring(L, mtfl_last_error());
    lua_pushinteger(L, holder);
    return 3;
}

static int lock_release(lua_State *L)
{
    mtfl_lock_release(luaL_checkudata(L, 1, LOCK_T));
    return 0;
}

static const luaL_Reg lock_methods[] = {{"release", lock_release}, {NULL, NULL}};

/* kind(path) -> "file", "directory", "other", or nil when nothing is there */
static int l_kind(lua_State *L)
{
    struct stat st;
    if (stat(luaL_checkstring(L, 1), &st) != 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
    return 1;
}

/* mkdirs(path): the folder and its parents */
static int l_mkdirs(lua_State *L)
{
    if (mtfl_make_dirs(luaL_checkstring(L, 1))) lmtfl_raise(L);
    return 0;
}

/* list(dir) -> the names in dir (without "." and ".."), unsorted */
static int l_list(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    DIR *d = opendir(dir);
    if (!d) lmtfl_error(L, "%s: %s", dir, strerror(errno));
    lua_newtable(L);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* real_path(path) -> the absolute path with no symbolic link, "." or ".." in it (path
 * must exist), or nil and the message: what a command printed for another folder needs */
static int l_real_path(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *real = realpath(path, NULL);
    if (!real) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushstring(L, real);
    free(real);
    return 1;
}

static const luaL_Reg files_functions[] = {
    {"create", l_create}, {"lock", l_lock}, {"kind", l_kind}, {"mkdirs", l_mkdirs},
    {"list", l_list}, {"real_path", l_real_path}, {NULL, NULL}};

void lmtfl_open_files(lua_State *L)
{
    ldata_new_type(L, WRITER_T, writer_methods, writer_abort);
    ldata_new_type(L, LOCK_T, lock_methods, lock_release);
    lua_newtable(L);
    luaL_setfuncs(L, files_functions, 0);
    lua_setfield(L, -2, "_files");
}
