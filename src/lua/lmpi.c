/*
 * lmpi.c - mtfl._mpi: the few MPI calls data-parallel training needs, over Open MPI
 * (built in when CMake finds MPI: MTFL_HAVE_MPI). lua/mtfl/mpi.lua is the Lua face of
 * it; it decides whether MPI is used at all (only under mpirun) and checks arguments
 * first, so these functions assume a launched process.
 *
 *   local C = require("mtfl")._mpi        -- nil in a build without MPI
 *   C.allreduce(t, "mean")                -- every rank's t summed / size, in place
 *
 * MPI starts on first use (MPI_Init_thread, FUNNELED: only the Lua thread calls MPI)
 * and stops when the Lua state that started it closes. Every call runs on a duplicate
 * of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so a failing call is a Lua error naming
 * the function ("mpi.allreduce: MPI_Allreduce failed: ..."), never an abort. Before a
 * collective whose sizes must agree, one tiny MPI_Allreduce compares them, so that
 * tensors of different sizes raise on every rank instead of hanging or truncating.
 */
#include "lbind.h"

#ifdef MTFL_HAVE_MPI

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* MPI is one per process, whatever the number of Lua states. */
static struct {
    bool started;     /* MPI_Init by us */
    bool finalized;
    MPI_Comm comm;
    int rank, size;
    const void *owner;  /* the Lua state that started it: its closing finalizes MPI */
} g_mpi = {.comm = MPI_COMM_NULL};

/* Raises "mpi.<fn>: <call> failed: <MPI's words>" when rc is not MPI_SUCCESS. */
static void check_rc(lua_State *L, int rc, const char *fn, const char *call)
{
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error code %d", rc);
    else text[len < (int)sizeof text ? len : (int)sizeof text - 1] = '\0';
    lmtfl_error(L, "mpi.%s: %s failed: %s", fn, call, text);
}

static const void *main_thread(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    const void *main = lua_topointer(L, -1);
    lua_pop(L, 1);
    return main;
}

/* Starts MPI on first use; fn names the error. */
static void ensure_started(lua_State *L, const char *fn)
{
    if (g_mpi.finalized) lmtfl_error(L, "mpi.%s: MPI was finalized (mpi.finalize) and cannot start again", fn);
    if (g_mpi.comm != MPI_COMM_NULL) return;
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) {
        int provided = 0;
        check_rc(L, MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), fn, "MPI_Init_thread");
        g_mpi.started = true;
    }
    check_rc(L, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), fn, "MPI_Comm_set_errhandler");
    MPI_Comm comm;
    check_rc(L, MPI_Comm_dup(MPI_COMM_WORLD, &comm), fn, "MPI_Comm_dup");
    check_rc(L, MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), fn, "MPI_Comm_set_errhandler");
    check_rc(L, MPI_Comm_rank(comm, &g_mpi.rank), fn, "MPI_Comm_rank");
    check_rc(L, MPI_Comm_size(comm, &g_mpi.size), fn, "MPI_Comm_size");
    g_mpi.comm = comm;
    g_mpi.owner = main_thread(L);
}

static void finalize(void)
{
    if (g_mpi.finalized || g_mpi.comm == MPI_COMM_NULL) return;
    MPI_Comm_free(&g_mpi.comm);
    g_mpi.comm = MPI_COMM_NULL;
    int done = 0;
    MPI_Finalized(&done);
    if (g_mpi.started && !done) MPI_Finalize();
    g_mpi.finalized = true;
}

/* Every rank's count must be the same: raises on every rank when they differ. */
static void check_same_count(lua_State *L, const char *fn, const char *what, long long count)
{
    long long bounds[2] = {count, -count}; /* max of both: the largest and minus the smallest */
    check_rc(L, MPI_Allreduce(MPI_IN_PLACE, bounds, 2, MPI_LONG_LONG, MPI_MAX, g_mpi.comm), fn, "MPI_Allreduce");
    if (bounds[0] != -bounds[1])
        lmtfl_error(L, "mpi.%s: the %s differ across ranks (%lld to %lld; rank %d has %lld)", fn, what,
                    -bounds[1], bounds[0], g_mpi.rank, count);
}

/* MPI counts are ints: large buffers go in pieces of at most this many elements. */
#define MAX_PIECE (1 << 30)

/* A contiguous float32 tensor's elements in host memory: its own storage on the CPU, or
 * a copy (a userdata pushed on the stack, freed by the collector even on error). */
static void check_contiguous(lua_State *L, const mtfl_tensor *t, const char *fn)
{
    if (!mtfl_is_contiguous(t)) lmtfl_error(L, "mpi.%s: the tensor must be contiguous (call :contiguous() first)", fn);
}

static float *host_elements(lua_State *L, mtfl_tensor *t, const char *fn, bool *copied)
{
    size_t n = mtfl_numel(t);
    mtfl_device *dev = t->storage->device;
    *copied = strcmp(mtfl_device_backend(dev), "cpu") != 0;
    if (!*copied) return (float *)t->storage->handle + t->offset;
    float *buf = lua_newuserdatauv(L, (n ? n : 1) * sizeof(float), 0);
    LMTFL_CALL(L, mtfl_tensor_read(t, buf, n));
    return buf;
}

static MPI_Op check_op(lua_State *L, int idx, const char *fn, bool *mean)
{
    const char *name = luaL_optstring(L, idx, "sum");
    *mean = strcmp(name, "mean") == 0;
    if (*mean || strcmp(name, "sum") == 0) return MPI_SUM;
    if (strcmp(name, "max") == 0) return MPI_MAX;
    if (strcmp(name, "min") == 0) return MPI_MIN;
    lmtfl_error(L, "mpi.%s: op \"%s\" (use \"sum\", \"mean\", \"max\" or \"min\")", fn, name);
    return MPI_SUM;
}

static int check_root(lua_State *L, int idx, const char *fn)
{
    lua_Integer root = luaL_optinteger(L, idx, 0);
    if (root < 0 || root >= g_mpi.size)
        lmtfl_error(L, "mpi.%s: root %lld is not a rank (0..%d)", fn, (long long)root, g_mpi.size - 1);
    return (int)root;
}

static int l_rank(lua_State *L)
{
    ensure_started(L, "rank");
    lua_pushinteger(L, g_mpi.rank);
    return 1;
}

static int l_size(lua_State *L)
{
    ensure_started(L, "size");
    lua_pushinteger(L, g_mpi.size);
    return 1;
}

static int l_barrier(lua_State *L)
{
    ensure_started(L, "barrier");
    check_rc(L, MPI_Barrier(g_mpi.comm), "barrier", "MPI_Barrier");
    return 0;
}

/* allreduce(tensor [, op]) -> tensor, reduced in place */
static int l_allreduce(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    ensure_started(L, "allreduce");
    bool mean;
    MPI_Op op = check_op(L, 2, "allreduce", &mean);
    lua_settop(L, 2);
    check_contiguous(L, t, "allreduce");
    size_t n = mtfl_numel(t);
    check_same_count(L, "allreduce", "tensors' element counts", (long long)n);
    bool copied;
    float *x = host_elements(L, t, "allreduce", &copied);
    for (size_t done = 0; done < n; done += MAX_PIECE) {
        int piece = n - done < MAX_PIECE ? (int)(n - done) : MAX_PIECE;
        check_rc(L, MPI_Allreduce(MPI_IN_PLACE, x + done, piece, MPI_FLOAT, op, g_mpi.comm), "allreduce",
                 "MPI_Allreduce");
    }
    if (mean) {
        float scale = 1.0f / (float)g_mpi.size;
        for (size_t i = 0; i < n; i++) x[i] *= scale;
    }
    if (copied) LMTFL_CALL(L, mtfl_tensor_write(t, x, n));
    lua_settop(L, 1);
    return 1;
}

/* broadcast(tensor [, root]) -> tensor, the root's values in place */
static int l_broadcast(lua_State *L)
{
    mtfl_tensor *t = lmtfl_check_tensor(L, 1);
    ensure_started(L, "broadcast");
    int root = check_root(L, 2, "broadcast");
    lua_settop(L, 2);
    check_contiguous(L, t, "broadcast");
    size_t n = mtfl_numel(t);
    check_same_count(L, "broadcast", "tensors' element counts", (long long)n);
    bool copied;
    float *x = host_elements(L, t, "broadcast", &copied);
    for (size_t done = 0; done < n; done += MAX_PIECE) {
        int piece = n - done < MAX_PIECE ? (int)(n - done) : MAX_PIECE;
        check_rc(L, MPI_Bcast(x + done, piece, MPI_FLOAT, root, g_mpi.comm), "broadcast", "MPI_Bcast");
    }
    if (copied) LMTFL_CALL(L, mtfl_tensor_write(t, x, n));
    lua_settop(L, 1);
    return 1;
}

/* broadcast_string(s | nil, root) -> the root's string (only the root's s is read) */
static int l_broadcast_string(lua_State *L)
{
    ensure_started(L, "broadcast_string");
    int root = check_root(L, 2, "broadcast_string");
    size_t len = 0;
    const char *s = g_mpi.rank == root && lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
    /* the others cannot see the root's mistake: a length of -1 tells them */
    long long length = g_mpi.rank == root && !s ? -1 : (long long)len;
    check_rc(L, MPI_Bcast(&length, 1, MPI_LONG_LONG, root, g_mpi.comm), "broadcast_string", "MPI_Bcast");
    if (length < 0)
        lmtfl_error(L, "mpi.broadcast_string: the root's value must be a string, got a %s%s",
                    g_mpi.rank == root ? luaL_typename(L, 1) : "non-string", g_mpi.rank == root ? "" : " (on the root)");
    char *buf = lua_newuserdatauv(L, (size_t)length + 1, 0);
    if (s) memcpy(buf, s, (size_t)length);
    for (long long done = 0; done < length; done += MAX_PIECE) {
        int piece = length - done < MAX_PIECE ? (int)(length - done) : MAX_PIECE;
        check_rc(L, MPI_Bcast(buf + done, piece, MPI_CHAR, root, g_mpi.comm), "broadcast_string", "MPI_Bcast");
    }
    lua_pushlstring(L, buf, (size_t)length);
    return 1;
}

/* gather_strings(s, root) -> {rank 0's, rank 1's, ...} on the root, nil elsewhere */
static int l_gather_strings(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    ensure_started(L, "gather_strings");
    int root = check_root(L, 2, "gather_strings");
    /* MPI_Gatherv counts and displacements are ints: the total must fit, known to all */
    long long total = (long long)len;
    check_rc(L, MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_LONG_LONG, MPI_SUM, g_mpi.comm), "gather_strings",
             "MPI_Allreduce");
    if (total > INT_MAX)
        lmtfl_error(L, "mpi.gather_strings: %lld bytes in all, more than one gather takes (%d)", total, INT_MAX);
    int length = (int)len;
    bool is_root = g_mpi.rank == root;
    int *lengths = is_root ? lua_newuserdatauv(L, 2 * (size_t)g_mpi.size * sizeof(int), 0) : NULL;
    int *offsets = is_root ? lengths + g_mpi.size : NULL;
    check_rc(L, MPI_Gather(&length, 1, MPI_INT, lengths, 1, MPI_INT, root, g_mpi.comm), "gather_strings",
             "MPI_Gather");
    char *all = NULL;
    if (is_root) {
        int at = 0;
        for (int r = 0; r < g_mpi.size; r++) offsets[r] = at, at += lengths[r];
        all = lua_newuserdatauv(L, (size_t)at + 1, 0);
    }
    check_rc(L, MPI_Gatherv(s, length, MPI_CHAR, all, lengths, offsets, MPI_CHAR, root, g_mpi.comm),
             "gather_strings", "MPI_Gatherv");
    if (!is_root) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, g_mpi.size, 0);
    for (int r = 0; r < g_mpi.size; r++) {
        lua_pushlstring(L, all + offsets[r], (size_t)lengths[r]);
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
}

/* allreduce_numbers({x, y, ...} [, op]) -> {reduced x, y, ...} as doubles */
static int l_allreduce_numbers(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    ensure_started(L, "allreduce_numbers");
    bool mean;
    MPI_Op op = check_op(L, 2, "allreduce_numbers", &mean);
    lua_settop(L, 2);
    lua_Integer n = luaL_len(L, 1);
    if (n > MAX_PIECE) lmtfl_error(L, "mpi.allreduce_numbers: %lld numbers (at most %d)", (long long)n, MAX_PIECE);
    double *x = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof(double), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        int ok;
        lua_rawgeti(L, 1, i);
        x[i - 1] = lua_tonumberx(L, -1, &ok);
        if (!ok) lmtfl_error(L, "mpi.allreduce_numbers: element %lld is a %s, not a number", (long long)i,
                             luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    check_same_count(L, "allreduce_numbers", "tables' lengths", (long long)n);
    check_rc(L, MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, op, g_mpi.comm), "allreduce_numbers",
             "MPI_Allreduce");
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushnumber(L, mean ? x[i - 1] / g_mpi.size : x[i - 1]);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

static int l_processor_name(lua_State *L)
{
    ensure_started(L, "processor_name");
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    check_rc(L, MPI_Get_processor_name(name, &len), "processor_name", "MPI_Get_processor_name");
    lua_pushlstring(L, name, (size_t)len);
    return 1;
}

/* finalize(): idempotent; true when MPI had started */
static int l_finalize(lua_State *L)
{
    bool was_running = g_mpi.comm != MPI_COMM_NULL;
    finalize();
    lua_pushboolean(L, was_running);
    return 1;
}

/* started() -> whether MPI is running now (initialized by this module, not finalized) */
static int l_started(lua_State *L)
{
    lua_pushboolean(L, g_mpi.comm != MPI_COMM_NULL);
    return 1;
}

static int l_version(lua_State *L)
{
    char text[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) len = 0;
    lua_pushlstring(L, text, (size_t)len);
    return 1;
}

/* abort_job(message [, code = 1]) -> false when there is no job to end (MPI not running,
 * or a job of one). Otherwise it does not return: the message, naming this rank, goes to
 * stderr and MPI_Abort ends every rank. For a program's uncaught error only (the host
 * program calls it): the other ranks may wait in a collective this rank will never
 * join, and MPI_Finalize would wait for them in turn, so that the job hangs for ever. */
static int l_abort_job(lua_State *L)
{
    const char *message = luaL_checkstring(L, 1);
    lua_Integer code = luaL_optinteger(L, 2, 1);
    if (g_mpi.comm == MPI_COMM_NULL || g_mpi.size < 2) {
        lua_pushboolean(L, false);
        return 1;
    }
    fprintf(stderr, "mtfl: rank %d of %d: %s\n", g_mpi.rank, g_mpi.size, message);
    fflush(stderr);
    fflush(stdout);
    MPI_Abort(g_mpi.comm, code > 0 && code < 256 ? (int)code : 1);
    lua_pushboolean(L, true);   /* not reached: MPI_Abort ends the process */
    return 1;
}

/* Another Lua state of the process closing leaves MPI to the one that started it. */
static int finalize_at_close(lua_State *L)
{
    if (g_mpi.owner == main_thread(L)) finalize();
    return 0;
}

static const luaL_Reg mpi_functions[] = {
    {"rank", l_rank}, {"size", l_size}, {"barrier", l_barrier}, {"allreduce", l_allreduce},
    {"broadcast", l_broadcast}, {"broadcast_string", l_broadcast_string},
    {"gather_strings", l_gather_strings}, {"allreduce_numbers", l_allreduce_numbers},
    {"processor_name", l_processor_name}, {"finalize", l_finalize}, {"started", l_started},
    {"version", l_version}, {"abort_job", l_abort_job}, {NULL, NULL}};

void lmtfl_open_mpi(lua_State *L)
{
    lua_newtable(L);
    luaL_setfuncs(L, mpi_functions, 0);
    lua_setfield(L, -2, "_mpi");
    /* a registry value whose finalizer runs when the state closes: MPI_Finalize, which
     * mpirun wants from every process that started MPI */
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, finalize_at_close);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "mtfl.mpi_finalizer");
}

#else

/* Without MPI there is no mtfl._mpi: lua/mtfl/mpi.lua then says so. */
void lmtfl_open_mpi(lua_State *L) { (void)L; }

#endif
