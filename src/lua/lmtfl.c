/*
 * lmtfl.c - the `mtfl` module: devices, the random seed, and the Lua library that is
 * embedded in the binary (lua/), reachable with require from any Lua state that
 * loaded this module.
 */
#include <string.h>
#include <time.h>

#include "embedded_lua.h"
#include "lbind.h"
#include "lmtfl.h"

/* ---- devices ------------------------------------------------------------------- */

static void push_device(lua_State *L, const mtfl_device *dev, const mtfl_device *def)
{
    lua_createtable(L, 0, 13);
    lua_pushstring(L, dev->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, dev->driver);
    lua_setfield(L, -2, "driver");
    lua_pushstring(L, dev->tuned);
    lua_setfield(L, -2, "tuned");
    if (dev->platform_index >= 0) {
        lua_pushinteger(L, dev->platform_index);
        lua_setfield(L, -2, "platform_index");
        lua_pushinteger(L, dev->platform_device);
        lua_setfield(L, -2, "platform_device");
    }
    lua_pushstring(L, mtfl_device_backend(dev));
    lua_setfield(L, -2, "backend");
    lua_pushstring(L, dev->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, dev->platform);
    lua_setfield(L, -2, "platform");
    lua_pushinteger(L, (lua_Integer)dev->memory);
    lua_setfield(L, -2, "memory");
    lua_pushinteger(L, dev->compute_units);
    lua_setfield(L, -2, "compute_units");
    lua_pushboolean(L, dev->is_gpu);
    lua_setfield(L, -2, "is_gpu");
    lua_pushboolean(L, dev == def);
    lua_setfield(L, -2, "default");
}

/* devices() -> { {id=, backend=, name=, platform=, driver=, tuned=, memory=,
 * compute_units=, is_gpu=, default=, platform_index=, platform_device= (OpenCL's
 * numbering)}, ... } */
static int l_devices(lua_State *L)
{
    mtfl_device *def = lmtfl_default_device(L);
    int n = mtfl_device_count();
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_device(L, mtfl_device_at(i), def);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* device() -> id of the default device */
static int l_device(lua_State *L)
{
    lua_pushstring(L, lmtfl_default_device(L)->id);
    return 1;
}

/* set_device("cpu" | "opencl:N" | "opencl" | "gpu") -> id */
static int l_set_device(lua_State *L)
{
    mtfl_device *dev = mtfl_device_find(luaL_checkstring(L, 1));
    if (!dev) lmtfl_raise(L);
    mtfl_device_set_default(dev);
    lua_pushstring(L, dev->id);
    return 1;
}

static int l_synchronize(lua_State *L)
{
    LMTFL_CALL(L, mtfl_synchronize(lmtfl_opt_device(L, 1)));
    return 0;
}

/* memory([device]) -> {in_use=, cached=, peak=, budget=, total=, oom_retries=}: bytes
 * (peak: in use and cached together), and how many allocations found room only after
 * a garbage collection */
static int l_memory(lua_State *L)
{
    mtfl_device *dev = lmtfl_opt_device(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, (lua_Integer)dev->bytes_in_use);
    lua_setfield(L, -2, "in_use");
    lua_pushinteger(L, (lua_Integer)dev->bytes_cached);
    lua_setfield(L, -2, "cached");
    lua_pushinteger(L, (lua_Integer)dev->peak_bytes);
    lua_setfield(L, -2, "peak");
    lua_pushinteger(L, (lua_Integer)dev->oom_retries);
    lua_setfield(L, -2, "oom_retries");
    lua_pushinteger(L, (lua_Integer)(dev->memory_limit ? dev->memory_limit : dev->memory));
    lua_setfield(L, -2, "budget");
    lua_pushinteger(L, (lua_Integer)dev->memory);
    lua_setfield(L, -2, "total");
    return 1;
}

/* stats([device]) -> {launches, blocking_reads, synchronizations, bytes_to_device,
 * bytes_to_host, allocations, cached_allocations}: counts since start-up; the
 * difference of two calls is what the code between them asked of the device */
static int l_stats(lua_State *L)
{
    mtfl_device_stats s = mtfl_device_stats_of(lmtfl_opt_device(L, 1));
    const struct { const char *name; size_t value; } fields[] = {
        {"launches", s.launches}, {"blocking_reads", s.blocking_reads},
        {"synchronizations", s.synchronizations}, {"bytes_to_device", s.bytes_to_device},
        {"bytes_to_host", s.bytes_to_host}, {"allocations", s.allocations},
        {"cached_allocations", s.cached_allocations},
    };
    lua_createtable(L, 0, (int)(sizeof fields / sizeof *fields));
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        lua_pushinteger(L, (lua_Integer)fields[i].value);
        lua_setfield(L, -2, fields[i].name);
    }
    return 1;
}

/* reset_peak([device]): peak starts again from what is in use now */
static int l_reset_peak(lua_State *L)
{
    mtfl_device_reset_peak(lmtfl_opt_device(L, 1));
    return 0;
}

/* release_workspaces(): the convolution workspaces go back to the budgets */
static int l_release_workspaces(lua_State *L)
{
    mtfl_release_workspaces();
    return 0;
}

/* tune(device, kernel, {NAME = value, ...}): tuned parameters for one CLBlast kernel */
static int l_tune(lua_State *L)
{
    mtfl_device *dev = lmtfl_opt_device(L, 1);
    const char *kernel = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    enum { MAX_PARAMETERS = 32 };
    const char *names[MAX_PARAMETERS];
    size_t values[MAX_PARAMETERS];
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, 3)) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (lua_type(L, -2) != LUA_TSTRING || !ok || v < 0)
            lmtfl_error(L, "tune: %s parameters must be NAME = non-negative integer", kernel);
        if (count == MAX_PARAMETERS)
            lmtfl_error(L, "tune: more than %d parameters for %s", MAX_PARAMETERS, kernel);
        names[count] = lua_tostring(L, -2);   /* the table keeps the key alive */
        values[count++] = (size_t)v;
        lua_pop(L, 1);
    }
    LMTFL_CALL(L, mtfl_device_tune(dev, kernel, count, names, values));
    return 0;
}

/* release_cache([device]): the blocks kept for reuse go back to the driver */
static int l_release_cache(lua_State *L)
{
    mtfl_device_release_cache(lmtfl_opt_device(L, 1));
    return 0;
}

/* ---- out of memory ------------------------------------------------------------------ */

/* Device memory is held by tensors Lua may no longer reach but has not collected (it
 * sees small userdata, not the buffers behind them): a full collection frees it. The
 * collection runs on the main thread, which lives as long as the state; the finalizers
 * it runs only release tensors. */
static bool collect_garbage(void *ctx, mtfl_device *dev, size_t bytes)
{
    lua_gc((lua_State *)ctx, LUA_GCCOLLECT);
    return true;
}

static int forget_oom_handler(lua_State *L)
{
    if (mtfl_oom_handler_context() == lua_touserdata(L, lua_upvalueindex(1)))
        mtfl_set_oom_handler(NULL, NULL);
    return 0;
}

void lmtfl_install_oom_handler(lua_State *L)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    lua_State *main = lua_tothread(L, -1);
    lua_pop(L, 1);
    mtfl_set_oom_handler(collect_garbage, main);
    /* a registry value whose finalizer runs when the state closes */
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 1);
    lua_pushlightuserdata(L, main);
    lua_pushcclosure(L, forget_oom_handler, 1);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "mtfl.oom_handler");
}

/* set_memory_limit(bytes [, device]): a budget for tensors on a device (0 = all of
 * it), e.g. to run as if on a 2 GiB GPU */
static int l_set_memory_limit(lua_State *L)
{
    lua_Integer bytes = luaL_checkinteger(L, 1);
    mtfl_device *dev = lmtfl_opt_device(L, 2);
    if (bytes < 0) luaL_argerror(L, 1, "negative memory limit");
    mtfl_device_set_memory_limit(dev, (size_t)bytes);
    return 0;
}

/* ---- random state ---------------------------------------------------------------- */

static int l_manual_seed(lua_State *L)
{
    mtfl_manual_seed((uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

/* rng_state() -> seed, counter: enough to resume a run's random stream exactly */
static int l_rng_state(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mtfl_rng_seed());
    lua_pushinteger(L, (lua_Integer)mtfl_rng_counter());
    return 2;
}

static int l_set_rng_state(lua_State *L)
{
    mtfl_rng_set_state((uint64_t)luaL_checkinteger(L, 1), (uint64_t)luaL_checkinteger(L, 2));
    return 0;
}

/* clock() -> seconds on a monotonic wall clock (os.clock counts CPU time of all
 * threads, which says nothing about how long multi-threaded work took) */
static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static int l_is_tensor(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, LMTFL_TENSOR) != NULL);
    return 1;
}

/* ---- the embedded Lua library ------------------------------------------------------ */

static const mtfl_lua_module *find_embedded(const char *name)
{
    for (const mtfl_lua_module *m = mtfl_lua_modules; m->name; m++)
        if (strcmp(m->name, name) == 0) return m;
    return NULL;
}

static int load_embedded(lua_State *L, const mtfl_lua_module *m)
{
    if (luaL_loadbufferx(L, m->source, m->size, m->chunkname, "t") != LUA_OK)
        return lua_error(L);
    return 1;
}

/* A package.searchers entry: finds "mtfl.nn" and friends inside the binary. */
static int search_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const mtfl_lua_module *m = find_embedded(name);
    if (!m) {
        lua_pushfstring(L, "no embedded module '%s'", name);
        return 1;
    }
    load_embedded(L, m);
    lua_pushstring(L, m->chunkname + 1);
    return 2;
}

/* _lua_sources() -> {["mtfl.nn.linear"] = its source text, ...}: the embedded library's
 * text, which mtfl.help reads its documentation from (no source tree needed) */
static int l_lua_sources(lua_State *L)
{
    lua_newtable(L);
    for (const mtfl_lua_module *m = mtfl_lua_modules; m->name; m++) {
        lua_pushlstring(L, m->source, m->size);
        lua_setfield(L, -2, m->name);
    }
    return 1;
}

static void install_searcher(lua_State *L)
{
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "searchers");
    if (lua_istable(L, -1)) {
        lua_pushcfunction(L, search_embedded);
        lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    }
    lua_pop(L, 2);
}

/* build_info() -> {mtfl, lua, openblas, openblas_core, clblast, compiler, openmp} */
static int l_build_info(lua_State *L)
{
    lua_newtable(L);
    lua_pushstring(L, MTFL_VERSION);
    lua_setfield(L, -2, "mtfl");
    lua_pushstring(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    lua_pushstring(L, mtfl_blas_version());
    lua_setfield(L, -2, "openblas");
    lua_pushstring(L, mtfl_blas_core());
    lua_setfield(L, -2, "openblas_core");
    lua_pushstring(L, mtfl_clblast_version());
    lua_setfield(L, -2, "clblast");
#ifdef __VERSION__
    lua_pushstring(L, __VERSION__);
    lua_setfield(L, -2, "compiler");
#endif
#ifdef _OPENMP
    lua_pushinteger(L, _OPENMP);
    lua_setfield(L, -2, "openmp");
#endif
    return 1;
}

static const luaL_Reg module_functions[] = {
    {"devices", l_devices}, {"device", l_device}, {"set_device", l_set_device},
    {"synchronize", l_synchronize}, {"memory", l_memory}, {"stats", l_stats},
    {"set_memory_limit", l_set_memory_limit}, {"reset_peak", l_reset_peak},
    {"release_workspaces", l_release_workspaces}, {"release_cache", l_release_cache},
    {"tune", l_tune},
    {"manual_seed", l_manual_seed},
    {"rng_state", l_rng_state}, {"set_rng_state", l_set_rng_state},
    {"is_tensor", l_is_tensor}, {"clock", l_clock}, {"build_info", l_build_info}, {"_lua_sources", l_lua_sources}, {NULL, NULL}};

int luaopen_mtfl(lua_State *L)
{
    lmtfl_install_oom_handler(L);
    lua_newtable(L);
    luaL_setfuncs(L, module_functions, 0);
    lua_pushstring(L, MTFL_VERSION);
    lua_setfield(L, -2, "version");
    lmtfl_open_tensor(L);
    lmtfl_open_ops(L);
    lmtfl_open_nn(L);
    lmtfl_open_data(L);
    lmtfl_open_files(L);
    lmtfl_open_mpi(L);
    luaL_getmetatable(L, LMTFL_TENSOR);
    lua_setfield(L, -2, "Tensor");
    install_searcher(L);
    /* lua/mtfl.lua completes the module in Lua: it receives the table and extends it */
    const mtfl_lua_module *rest = find_embedded("mtfl");
    if (rest) {
        load_embedded(L, rest);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 0);
    }
    return 1;
}
