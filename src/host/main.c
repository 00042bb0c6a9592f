/*
 * main.c - mtfl-lua: a Lua 5.4 interpreter with the mtfl module built in.
 *
 * Command line handling and running scripts; the interactive loop is in repl.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "devices.h"
#include "host.h"
#include "repl.h"

/* -e and -l run in the order given, so they are kept as a list. */
typedef struct {
    char kind; /* 'e' or 'l' */
    const char *arg;
} host_action;

typedef struct {
    int argc;
    char **argv;
    int script;    /* index of the script in argv; 0 when there is none */
    host_action *actions;
    int nactions;
    const char *device; /* --device */
    bool has_e;         /* some -e: the command line is the program */
    bool interactive;   /* -i */
    bool version;       /* -v */
    bool help;          /* -h */
    bool list_devices;  /* --devices */
    bool ok;            /* set by run_host: everything it ran succeeded */
} host_options;

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: %s [options] [script [args...]]\n"
            "Available options are:\n"
            "  -e stat        execute string 'stat'\n"
            "  -l name        require library 'name' into global 'name'\n"
            "  -l g=name      require library 'name' into global 'g'\n"
            "  -i             enter interactive mode after executing 'script'\n"
            "  -v, --version  show version information\n"
            "  -h, --help     show this help\n"
            "  --device D     make D the default device (cpu, gpu, opencl, opencl:N)\n"
            "  --devices      list the devices; '*' marks the default one\n"
            "  --             stop handling options\n"
            "  -              execute stdin and stop handling options\n"
            "The module 'mtfl' is loaded before anything runs, as the global 'mtfl'.\n"
            "Environment:\n"
            "  MTFL_DEVICE       the default device when --device is not given\n"
            "  MTFL_LUA_HISTORY  the interactive history file (default "
            "~/.mtfl_lua_history)\n",
            HOST_PROGNAME);
}

static void print_version(void)
{
    printf("%s %s (%s)\n", HOST_PROGNAME, MTFL_VERSION_STRING, LUA_RELEASE);
    fflush(stdout);
}

/* Reports a usage problem; returns false so callers can `return usage_error(...)`. */
static bool usage_error(const char *option, bool missing_argument)
{
    if (missing_argument)
        fprintf(stderr, "%s: '%s' needs an argument\n", HOST_PROGNAME, option);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", HOST_PROGNAME, option);
    print_usage(stderr);
    return false;
}

/* The argument of -e, -l or --device: glued ("-eX", "--device=X") or the next one. */
static const char *option_argument(host_options *o, int *i, size_t name_len)
{
    const char *glued = o->argv[*i] + name_len;
    if (*glued == '=' && name_len > 2)
        return glued + 1;
    if (*glued != '\0')
        return name_len == 2 ? glued : NULL;
    if (*i + 1 >= o->argc)
        return NULL;
    return o->argv[++*i];
}

static bool parse_options(host_options *o)
{
    o->actions = calloc((size_t)(o->argc > 0 ? o->argc : 1), sizeof *o->actions);
    if (o->actions == NULL) {
        fprintf(stderr, "%s: not enough memory\n", HOST_PROGNAME);
        return false;
    }
    for (int i = 1; i < o->argc; i++) {
        const char *a = o->argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            o->script = i;
            return true;
        }
        if (strcmp(a, "--") == 0) {
            o->script = i + 1 < o->argc ? i + 1 : 0;
            return true;
        }
        if (strcmp(a, "--version") == 0) {
            o->version = true;
        } else if (strcmp(a, "--help") == 0) {
            o->help = true;
        } else if (strcmp(a, "--devices") == 0) {
            o->list_devices = true;
        } else if (strncmp(a, "--device", 8) == 0 && (a[8] == '\0' || a[8] == '=')) {
            o->device = option_argument(o, &i, 8);
            if (o->device == NULL || *o->device == '\0')
                return usage_error("--device", true);
        } else if (a[1] == 'e' || a[1] == 'l') {
            host_action *act = &o->actions[o->nactions++];
            act->kind = a[1];
            o->has_e |= act->kind == 'e';
            act->arg = option_argument(o, &i, 2);
            if (act->arg == NULL)
                return usage_error(a, true);
        } else if (strcmp(a, "-i") == 0) {
            o->interactive = true;
        } else if (strcmp(a, "-v") == 0) {
            o->version = true;
        } else if (strcmp(a, "-h") == 0) {
            o->help = true;
        } else {
            return usage_error(a, false);
        }
    }
    return true;
}

/* Without a script, -e, -v or --devices there is nothing to run but stdin: typed into
 * the REPL at a terminal, read whole as a script from a pipe. */
static bool stdin_is_the_program(const host_options *o)
{
    return o->script == 0 && !o->has_e && !o->version && !o->list_devices;
}

static bool wants_repl(const host_options *o)
{
    return o->interactive || (stdin_is_the_program(o) && isatty(STDIN_FILENO));
}

/* mtfl is only preloaded here (engine.c opens mtfl.so); requiring it is left to
 * load_mtfl, whose failure gets a traceback like any other error. */
static void open_libraries(lua_State *L)
{
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, host_open_mtfl);
    lua_setfield(L, -2, "mtfl");
    lua_pop(L, 1);
}

/* arg[0] is the script; the interpreter and options get negative indices, the
 * script's arguments positive ones. */
static void create_arg_table(lua_State *L, const host_options *o)
{
    int script = o->script;
    lua_createtable(L, o->argc > script ? o->argc - script - 1 : 0, script + 1);
    for (int i = 0; i < o->argc; i++) {
        lua_pushstring(L, o->argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    if (o->argc == 0) {
        lua_pushstring(L, HOST_PROGNAME);
        lua_rawseti(L, -2, 0);
    }
    lua_setglobal(L, "arg");
}

static bool load_mtfl(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "mtfl");
    if (host_report(L, host_docall(L, 1, 1), true) != LUA_OK)
        return false;
    /* help(x) in the REPL and in scripts run by the host (a library loaded into another
     * program sets no globals but mtfl.help's own table) */
    lua_getfield(L, -1, "help");
    lua_setglobal(L, "help");
    lua_setglobal(L, "mtfl");
    return true;
}

/* Runs the chunk below its `nargs` arguments; with a load failure (status), the error
 * message is on top instead and gets reported. */
static bool run_chunk(lua_State *L, int status, int nargs)
{
    if (status == LUA_OK)
        status = host_docall(L, nargs, 0);
    return host_report(L, status, true) == LUA_OK;
}

static bool run_string(lua_State *L, const char *code)
{
    int status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
    return run_chunk(L, status, 0);
}

/* -l [g=]name: the global g gets require(name). Without g, the global is the name
 * minus any "-version" suffix, the part Lua also drops to find a C module's luaopen_. */
static bool run_library(lua_State *L, const char *spec)
{
    const char *eq = strchr(spec, '=');
    const char *module = eq ? eq + 1 : spec;
    size_t global_len = eq ? (size_t)(eq - spec) : strcspn(spec, "-");
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    int status = host_docall(L, 1, 1);
    if (host_report(L, status, true) != LUA_OK)
        return false;
    lua_pushglobaltable(L);
    lua_insert(L, -2);
    lua_pushlstring(L, spec, global_len);
    lua_insert(L, -2);
    lua_settable(L, -3);
    lua_pop(L, 1);
    return true;
}

static bool run_script(lua_State *L, const host_options *o)
{
    const char *name = o->argv[o->script];
    /* "-" is stdin, unless it came after "--" and so names a file. */
    bool from_stdin = strcmp(name, "-") == 0 && strcmp(o->argv[o->script - 1], "--") != 0;
    int status = luaL_loadfile(L, from_stdin ? NULL : name);
    int nargs = o->argc - o->script - 1;
    if (!lua_checkstack(L, nargs + 2)) {
        host_message("too many arguments to the script");
        return false;
    }
    if (status != LUA_OK)
        return run_chunk(L, status, 0);
    for (int i = o->script + 1; i < o->argc; i++)
        lua_pushstring(L, o->argv[i]);
    return run_chunk(L, status, nargs);
}

static int run_host(lua_State *L)
{
    host_options *o = lua_touserdata(L, 1);
    luaL_checkversion(L);
    open_libraries(L);
    create_arg_table(L, o);
    if (!load_mtfl(L))
        return 0;
    if (o->device && !host_set_device(L, o->device))
        return 0;
    if (o->list_devices && !host_list_devices(L))
        return 0;
    for (int i = 0; i < o->nactions; i++) {
        const host_action *act = &o->actions[i];
        bool ok = act->kind == 'e' ? run_string(L, act->arg) : run_library(L, act->arg);
        if (!ok)
            return 0;
    }
    if (o->script && !run_script(L, o))
        return 0;
    if (wants_repl(o)) {
        host_repl(L, isatty(STDIN_FILENO));
    } else if (stdin_is_the_program(o)) {
        if (!run_chunk(L, luaL_loadfile(L, NULL), 0))
            return 0;
    }
    o->ok = true;
    return 0;
}

/* Under mpirun a failed rank ends the whole job (mtfl.mpi's abort_job, MPI_Abort): the
 * other ranks may be waiting for it in a collective, and the MPI_Finalize that closing
 * the state runs would wait for them in turn, so that the job would hang for ever.
 * Without MPI running this does nothing. */
static void end_mpi_job_after_failure(lua_State *L)
{
    static const char code[] =
        "local mtfl = package.loaded.mtfl\n"
        "local C = type(mtfl) == 'table' and mtfl._mpi\n"
        "if C then C.abort_job('failed (the error above): ending every rank of the job') end";
    if (luaL_loadstring(L, code) == LUA_OK)
        lua_pcall(L, 0, 0, 0);
    lua_settop(L, 0);
}

int main(int argc, char **argv)
{
    host_runtime_defaults();   /* before mtfl.so, and with it OpenMP and OpenBLAS, loads */
    host_options o = {.argc = argc, .argv = argv};
    if (!parse_options(&o)) {
        free(o.actions);
        return EXIT_FAILURE;
    }
    if (o.help) {
        print_usage(stdout);
        free(o.actions);
        return EXIT_SUCCESS;
    }
    /* With -i the banner says the same, with the device. */
    if (o.version && !o.interactive)
        print_version();

    lua_State *L = luaL_newstate();
    if (L == NULL) {
        host_message("cannot create the Lua state: not enough memory");
        free(o.actions);
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, run_host);
    lua_pushlightuserdata(L, &o);
    int status = lua_pcall(L, 1, 0, 0);
    host_report(L, status, true);
    if (!(status == LUA_OK && o.ok))
        end_mpi_job_after_failure(L);
    lua_close(L);
    free(o.actions);
    return status == LUA_OK && o.ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
