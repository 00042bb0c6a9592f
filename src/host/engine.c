/*
 * engine.c - how mtfl-lua loads the framework: defaults for the runtimes under the CPU
 * backend first, then the `mtfl` module (mtfl.so, the same file stock lua5.4 requires)
 * with dlopen.
 *
 * libgomp and OpenBLAS read their settings once, when they are loaded. Were they linked
 * into this program, they would be loaded before main and read the environment as the
 * user left it: the program would have to start itself again to change it, which
 * debuggers, valgrind and perf do not follow. Loaded with mtfl.so after main has set
 * the defaults, they see them, in this one process.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "host.h"

/* OpenMP threads that spin between parallel regions steal the cores OpenBLAS and the
 * next region need; on a 2-core machine that made a convolution's backward pass 2-4x
 * slower (scripts/bench_net.lua). */
static void prefer_passive_openmp(void)
{
    if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
}

/* Debian 12's OpenBLAS (0.3.21) picks its kernels from a table of Intel CPU models, and
 * on a model newer than the table (the Sapphire and Emerald Rapids Xeons of today's
 * cloud machines) falls back to its generic "Prescott" kernels: 32 instead of 162
 * GFLOP/s on the development machine (scripts/bench_gemm.lua). For Intel CPUs, where
 * that table is what fails, the kernels follow from the features: SkylakeX's with
 * AVX-512, Haswell's with AVX2. Other vendors, and a choice the user made
 * (OPENBLAS_CORETYPE), are left alone. */
static void prefer_blas_kernels(void)
{
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE")) return;
    __builtin_cpu_init();
    if (!__builtin_cpu_is("intel")) return;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        setenv("OPENBLAS_CORETYPE", "Haswell", 1);
#endif
}

void host_runtime_defaults(void)
{
    prefer_passive_openmp();
    prefer_blas_kernels();
}

/* Where mtfl.so is: $MTFL_MODULE, else beside this program (the build folder), else
 * where `cmake --install` puts it relative to bin/. */
static int candidate_paths(char paths[][PATH_MAX], int max)
{
    int n = 0;
    const char *given = getenv("MTFL_MODULE");
    if (given && given[0]) {   /* the user's choice, and only that */
        snprintf(paths[n++], PATH_MAX, "%s", given);
        return n;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return n;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return n;
    *slash = '\0';
    if (n < max) snprintf(paths[n++], PATH_MAX, "%.*s/mtfl.so", PATH_MAX - 16, exe);
    if (n < max) snprintf(paths[n++], PATH_MAX, "%.*s/%s", PATH_MAX - 64, exe, MTFL_MODULE_FROM_BIN);
    return n;
}

/* package.preload.mtfl: opens mtfl.so and runs its luaopen_mtfl. The library stays
 * loaded (it is linked -z nodelete): its threads and drivers outlive the state. */
int host_open_mtfl(lua_State *L)
{
    char paths[3][PATH_MAX];
    int n = candidate_paths(paths, 3);
    luaL_Buffer tried;
    luaL_buffinit(L, &tried);
    for (int i = 0; i < n; i++) {
        if (access(paths[i], F_OK) != 0) {
            luaL_addstring(&tried, "\n\tno file '");
            luaL_addstring(&tried, paths[i]);
            luaL_addstring(&tried, "'");
            continue;
        }
        void *lib = dlopen(paths[i], RTLD_NOW | RTLD_GLOBAL);
        lua_CFunction open = lib ? (lua_CFunction)(uintptr_t)dlsym(lib, "luaopen_mtfl") : NULL;
        if (open) {
            lua_settop(L, 1);
            return open(L);
        }
        luaL_addstring(&tried, "\n\t");
        luaL_addstring(&tried, lib ? "no luaopen_mtfl in " : "");
        luaL_addstring(&tried, lib ? paths[i] : dlerror());
    }
    luaL_pushresult(&tried);
    return luaL_error(L, "cannot load the mtfl module (mtfl.so; MTFL_MODULE names another):%s",
                      lua_tostring(L, -1));
}
