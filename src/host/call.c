/*
 * call.c - protected calls of user code: tracebacks and Ctrl-C interruption.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "host.h"

/* A signal handler may only touch this one state; it is set before the handler is
 * installed and stays valid for as long as the handler is. */
static lua_State *volatile interrupt_target;

static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0); /* one-shot: the next call must not be interrupted too */
    luaL_error(L, "interrupted!");
}

/* Raising an error inside a signal handler is not possible, but lua_sethook is
 * documented as signal-safe: the hook raises the error at the next Lua event. */
static void on_sigint(int sig)
{
    (void)sig;
    lua_sethook(interrupt_target, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static int message_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        /* Error objects with __tostring are shown as such and without a traceback,
         * since they usually carry their own context. */
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int host_docall(lua_State *L, int narg, int nresults)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);

    struct sigaction interrupt = {0}, previous;
    interrupt.sa_handler = on_sigint;
    sigemptyset(&interrupt.sa_mask);
    /* A second Ctrl-C gets the default action, so a long C computation that never
     * reaches the hook can still be killed. */
    interrupt.sa_flags = SA_RESETHAND;
    interrupt_target = L;
    sigaction(SIGINT, &interrupt, &previous);

    int status = lua_pcall(L, narg, nresults, base);

    sigaction(SIGINT, &previous, NULL);
    /* A Ctrl-C that came after the call finished must not hit the next one; a hook the
     * script installed itself is left alone. */
    if (lua_gethook(L) == interrupt_hook)
        lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

void host_message(const char *msg)
{
    fflush(stdout); /* keep what the script printed before the error in order */
    fprintf(stderr, "%s: %s\n", HOST_PROGNAME, msg);
    fflush(stderr);
}

int host_report(lua_State *L, int status, bool prefixed)
{
    if (status == LUA_OK)
        return status;
    int top = lua_gettop(L);
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
    if (prefixed) {
        host_message(msg);
    } else {
        fflush(stdout);
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
    }
    lua_settop(L, top - 1);
    return status;
}
