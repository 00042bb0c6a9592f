/*
 * lineedit.h - terminal line input: readline, history file, Ctrl-C at the prompt.
 */
#ifndef MTFL_HOST_LINEEDIT_H
#define MTFL_HOST_LINEEDIT_H

#include <lua.h>

typedef enum {
    HOST_LINE_OK,          /* a line was read; the caller frees it */
    HOST_LINE_EOF,         /* Ctrl-D on an empty line, or the terminal went away */
    HOST_LINE_INTERRUPTED, /* Ctrl-C: the line was discarded */
} host_line_status;

/* Sets up readline, completion against L and the history file. */
void host_lineedit_open(lua_State *L);

host_line_status host_lineedit_read(const char *prompt, char **line);

/* Adds a line to the history (in memory and in the file). */
void host_lineedit_remember(const char *line);

/* Trims the history file. */
void host_lineedit_close(void);

#endif
