/*
 * lmtfl.h - the Lua bindings of mtfl: the `mtfl` module.
 */
#ifndef LMTFL_H
#define LMTFL_H

#include <lua.h>

/* Opens the `mtfl` module (tensors, devices, the embedded Lua library) and leaves it
 * on the stack. Registered as the C module entry point of build/mtfl.so, and preloaded
 * by the mtfl-lua host. */
int luaopen_mtfl(lua_State *L);

#endif
