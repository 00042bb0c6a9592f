/*
 * host.h - names shared by the pieces of the mtfl-lua host program.
 */
#ifndef MTFL_HOST_H
#define MTFL_HOST_H

#include <stdbool.h>

#include <lua.h>

#define HOST_PROGNAME "mtfl-lua"

/* CMake passes the project version; the fallback only serves ad-hoc builds of the host
 * (for example against a stub module) so they still report something sensible. */
#ifndef MTFL_VERSION_STRING
#define MTFL_VERSION_STRING "0.1.0"
#endif

/* Calls the function below `narg` arguments like lua_pcall, but with a traceback added
 * to error messages and with Ctrl-C turned into an "interrupted!" Lua error. */
int host_docall(lua_State *L, int narg, int nresults);

/* Prints the error message on top of the stack (when status is not LUA_OK) to stderr,
 * prefixed with "mtfl-lua: " when `prefixed`, and pops it. Returns status. */
int host_report(lua_State *L, int status, bool prefixed);

/* Prints "mtfl-lua: <msg>" to stderr. */
void host_message(const char *msg);

/* engine.c: the runtimes' defaults (set before anything loads them), and the loader of
 * mtfl.so for package.preload.mtfl. */
void host_runtime_defaults(void);
int host_open_mtfl(lua_State *L);

#endif
