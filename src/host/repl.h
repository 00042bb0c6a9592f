/*
 * repl.h - the interactive loop.
 */
#ifndef MTFL_HOST_REPL_H
#define MTFL_HOST_REPL_H

#include <stdbool.h>

#include <lua.h>

/* Reads, runs and prints statements until end of input. With `use_readline` input is
 * edited with readline and kept in the history file; without, lines are read plainly
 * from stdin (the prompts are still printed), so the loop can be driven by a pipe. */
void host_repl(lua_State *L, bool use_readline);

#endif
