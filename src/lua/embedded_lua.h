/*
 * embedded_lua.h - the Lua library (lua/), compiled into the binary at build time.
 */
#ifndef MTFL_EMBEDDED_LUA_H
#define MTFL_EMBEDDED_LUA_H

#include <stddef.h>

typedef struct {
    const char *name;      /* as require names it: "mtfl.nn" */
    const char *chunkname; /* "@lua/mtfl/nn.lua", so errors name the file */
    const char *source;
    size_t size;
} mtfl_lua_module;

extern const mtfl_lua_module mtfl_lua_modules[]; /* ends with a NULL name */

#endif
