/*
 * completion.h - readline tab completion of Lua globals, fields and methods.
 */
#ifndef MTFL_HOST_COMPLETION_H
#define MTFL_HOST_COMPLETION_H

#include <lua.h>

/* Makes readline complete against the values living in L. */
void host_completion_install(lua_State *L);

#endif
