/*
 * repl.c - the interactive loop: incomplete input, auto-printing, error recovery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "devices.h"
#include "host.h"
#include "lineedit.h"
#include "repl.h"

#define PROMPT "> "
#define PROMPT_MORE ">> "
#define CHUNKNAME "=stdin"

typedef enum {
    STATEMENT_READY,   /* a compiled chunk is on the stack */
    STATEMENT_ERROR,   /* a syntax error message is on the stack */
    STATEMENT_NOTHING, /* Ctrl-C threw the input away */
    STATEMENT_EOF,
} statement_status;

static host_line_status read_plain(const char *prompt, char **line)
{
    fputs(prompt, stdout);
    fflush(stdout);
    size_t size = 0;
    *line = NULL;
    ssize_t len = getline(line, &size, stdin);
    if (len < 0) {
        free(*line);
        *line = NULL;
        return HOST_LINE_EOF;
    }
    while (len > 0 && ((*line)[len - 1] == '\n' || (*line)[len - 1] == '\r'))
        (*line)[--len] = '\0';
    return HOST_LINE_OK;
}

static host_line_status read_line(bool use_readline, const char *prompt, char **line)
{
    if (use_readline) {
        host_line_status status = host_lineedit_read(prompt, line);
        if (status == HOST_LINE_OK)
            host_lineedit_remember(*line);
        return status;
    }
    return read_plain(prompt, line);
}

/* The parser reports a statement cut short by the end of the chunk as an error
 * "near <eof>"; that, and only that, means "keep reading". */
static bool is_incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX)
        return false;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    static const char mark[] = "<eof>";
    size_t mark_len = sizeof mark - 1;
    return msg && len >= mark_len && strcmp(msg + len - mark_len, mark) == 0;
}

/* A line that is an expression is run as "return <line>" so its value gets printed. */
static bool compile_as_expression(lua_State *L, const char *line)
{
    const char *code = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, code, strlen(code), CHUNKNAME);
    lua_remove(L, -2);
    if (status == LUA_OK)
        return true;
    lua_pop(L, 1);
    return false;
}

static statement_status read_statement(lua_State *L, bool use_readline)
{
    char *line;
    host_line_status got = read_line(use_readline, PROMPT, &line);
    if (got == HOST_LINE_EOF)
        return STATEMENT_EOF;
    if (got == HOST_LINE_INTERRUPTED)
        return STATEMENT_NOTHING;

    if (compile_as_expression(L, line)) {
        free(line);
        return STATEMENT_READY;
    }
    lua_pushstring(L, line);
    free(line);
    for (;;) {
        size_t len;
        const char *code = lua_tolstring(L, -1, &len);
        int status = luaL_loadbuffer(L, code, len, CHUNKNAME);
        if (!is_incomplete(L, status)) {
            lua_remove(L, -2); /* the source; the chunk or the error stays */
            return status == LUA_OK ? STATEMENT_READY : STATEMENT_ERROR;
        }
        got = read_line(use_readline, PROMPT_MORE, &line);
        if (got == HOST_LINE_EOF) {
            lua_remove(L, -2); /* the input ended inside a statement: say so */
            return STATEMENT_ERROR;
        }
        lua_pop(L, 1); /* the "<eof>" message */
        if (got == HOST_LINE_INTERRUPTED) {
            lua_pop(L, 1);
            return STATEMENT_NOTHING;
        }
        lua_pushliteral(L, "\n");
        lua_pushstring(L, line);
        free(line);
        lua_concat(L, 3);
    }
}

/* Runs protected: __tostring may raise, or return something that is not a string.
 * The line is built whole first, so a failure does not leave half of it printed. */
static int print_values(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer line;
    luaL_buffinit(L, &line);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&line, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&line);
    }
    luaL_addchar(&line, '\n');
    luaL_pushresult(&line);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static void print_banner(lua_State *L)
{
    char device[160];
    if (host_default_device(L, device, sizeof device))
        printf("%s %s (%s) - device: %s\n", HOST_PROGNAME, MTFL_VERSION_STRING,
               LUA_VERSION, device);
    else
        printf("%s %s (%s)\n", HOST_PROGNAME, MTFL_VERSION_STRING, LUA_VERSION);
    fflush(stdout);
}

void host_repl(lua_State *L, bool use_readline)
{
    print_banner(L);
    if (use_readline)
        host_lineedit_open(L);

    int base = lua_gettop(L);
    for (;;) {
        lua_settop(L, base);
        statement_status got = read_statement(L, use_readline);
        if (got == STATEMENT_EOF)
            break;
        if (got == STATEMENT_NOTHING)
            continue;
        if (got == STATEMENT_ERROR) {
            host_report(L, LUA_ERRSYNTAX, false);
            continue;
        }
        int status = host_docall(L, 0, LUA_MULTRET);
        if (status != LUA_OK) {
            host_report(L, status, false);
            continue;
        }
        int n = lua_gettop(L) - base;
        if (n > 0 && !lua_checkstack(L, LUA_MINSTACK)) {
            host_message("too many results to print");
        } else if (n > 0) {
            lua_pushcfunction(L, print_values);
            lua_insert(L, base + 1);
            status = lua_pcall(L, n, 0, 0);
            host_report(L, status, false);
        }
    }
    lua_settop(L, base);
    fputs("\n", stdout); /* leave the shell's prompt on a line of its own */
    fflush(stdout);
    if (use_readline)
        host_lineedit_close();
}
