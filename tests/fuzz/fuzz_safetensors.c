/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors loader,
 * require("mtfl.safetensors").load(path, {device = "cpu"}).
 *
 * Why: checkpoints are files users exchange, and the safetensors header is JSON of
 * the file's own choosing. The loader is Lua (lua/mtfl/safetensors.lua over
 * lua/mtfl/json.lua) that checks dtype, shape and data_offsets, then hands the bytes
 * to the C constructor mtfl.from_string (src/lua/ltensor.c), which trusts that the
 * byte count matches the shape. A check the Lua side gets wrong becomes a C-side
 * overflow, and a Lua error is the only acceptable answer to a bad file.
 *
 * One Lua state lives for the whole run (opening mtfl and its embedded library costs
 * far more than one input). Each input is written to a temp file (fuzz_tempfile.h)
 * and loaded under pcall; a Lua error is an expected outcome, a crash or a sanitizer
 * report is a finding. What loads is saved and loaded again and must come back the
 * same, and errors should be the loader's own ("safetensors.load PATH: ..."), not a
 * Lua runtime error from inside the library: those two checks only count by default
 * and abort (so libFuzzer keeps the input) when MTFL_FUZZ_STRICT=1.
 *
 * Coverage of the Lua code: libFuzzer only sees the C code it instrumented, and Lua's
 * interpreter (Debian's liblua5.4) is not instrumented, so the line hook below maps
 * each pair of consecutive Lua lines run to a counter in libFuzzer's extra counters
 * section: a new path through json.lua or safetensors.lua is then new coverage.
 *
 * No OpenCL device is probed: OCL_ICD_VENDORS points the ICD loader at an empty
 * directory, so the CPU backend is the only device and PoCL never starts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz_tempfile.h"
#include "lmtfl.h"

/* ---- the Lua side: load, and on success a save and a reload that must agree ---------- */

static const char driver_source[] =
    "local mtfl = require 'mtfl'\n"
    "local safetensors = require 'mtfl.safetensors'\n"
    "local options = {device = 'cpu'}\n"
    "\n"
    "local function contents(tensors)\n"
    "  local out = {}\n"
    "  for name, t in pairs(tensors) do\n"
    "    if not mtfl.is_tensor(t) then return nil, 'a ' .. type(t) .. ' among the tensors' end\n"
    "    local bytes = t:to_string()\n"
    "    if #bytes ~= t:numel() * 4 then return nil, 'to_string length differs from numel' end\n"
    "    out[name] = table.concat(t:size(), 'x') .. ':' .. bytes\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "\n"
    "local function same(a, b)\n"
    "  for k, v in pairs(a) do if b[k] ~= v then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n"
    "\n"
    "-- -> 'loaded' | 'rejected', message | 'unexpected', message | 'broken', message\n"
    "return function(path, copy)\n"
    "  local ok, tensors, metadata = pcall(safetensors.load, path, options)\n"
    "  if not ok then\n"
    "    local message = tostring(tensors)\n"
    "    if message:find('safetensors.load ', 1, true) then return 'rejected', message end\n"
    "    return 'unexpected', message\n"
    "  end\n"
    "  local before, why = contents(tensors)\n"
    "  if not before then return 'broken', why end\n"
    "  local saved, err = pcall(safetensors.save, copy, tensors, metadata)\n"
    "  if not saved then os.remove(copy); return 'broken', 'saving what loaded failed: ' .. tostring(err) end\n"
    "  local again, tensors2, metadata2 = pcall(safetensors.load, copy, options)\n"
    "  os.remove(copy)\n"
    "  if not again then return 'broken', 'reloading what was saved failed: ' .. tostring(tensors2) end\n"
    "  local after = contents(tensors2)\n"
    "  if not after or not same(before, after) then return 'broken', 'tensors changed in a save and a load' end\n"
    "  if not same(metadata, metadata2) then return 'broken', 'metadata changed in a save and a load' end\n"
    "  return 'loaded'\n"
    "end\n";

static lua_State *L;
static int driver_ref = LUA_NOREF;
static char copy_path[700];
static int strict;

/* ---- Lua line coverage as libFuzzer extra counters -------------------------------------- */

#define LUA_EDGES (1 << 16)
__attribute__((section("__libfuzzer_extra_counters"), used))
static uint8_t lua_edges[LUA_EDGES];
static uint32_t previous_line;

static void line_hook(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar)) return;
    /* ar->source points into the chunk's interned source name, stable while the chunk
     * is loaded (the library's modules are loaded once, before fuzzing starts) */
    uint32_t here = (uint32_t)((uintptr_t)ar->source * 2654435761u) ^ (uint32_t)ar->currentline * 40503u;
    uint32_t edge = (here ^ previous_line) % LUA_EDGES;
    if (lua_edges[edge] < 255) lua_edges[edge]++;
    previous_line = here >> 1;
}

/* ---- set-up and teardown --------------------------------------------------------------- */

static long unexpected_count, broken_count;

static void close_lua(void)
{
    if (unexpected_count || broken_count)   /* scripts/fuzz.sh shows this line */
        fprintf(stderr, "fuzz_safetensors: counted %ld unexpected Lua errors, %ld broken round trips "
                "(MTFL_FUZZ_STRICT=1 stops at the first)\n", unexpected_count, broken_count);
    if (L) lua_close(L);   /* collects every tensor, so LeakSanitizer sees a clean exit */
    L = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    setenv("OCL_ICD_VENDORS", "/nonexistent/mtfl-fuzz", 1);
    unsetenv("OCL_ICD_FILENAMES");
    setenv("MTFL_DEVICE", "cpu", 1);
    const char *s = getenv("MTFL_FUZZ_STRICT");
    strict = s && strcmp(s, "1") == 0;

    fuzz_tempfile_init("input.safetensors");
    snprintf(copy_path, sizeof copy_path, "%s/copy.safetensors", fuzz_dir);

    L = luaL_newstate();
    if (!L) abort();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);   /* as src/host/main.c */
    lua_pushcfunction(L, luaopen_mtfl);
    lua_setfield(L, -2, "mtfl");
    lua_pop(L, 1);
    if (luaL_loadbuffer(L, driver_source, sizeof driver_source - 1, "=fuzz_safetensors") != LUA_OK ||
        lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "fuzz_safetensors: setting up Lua failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    atexit(close_lua);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    return 0;
}

/* ---- one input --------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_tempfile_write(data, size);
    if (!path) return 0;
    previous_line = 0;

    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
    lua_pushstring(L, path);
    lua_pushstring(L, copy_path);
    if (lua_pcall(L, 2, 2, 0) != LUA_OK) {
        /* the driver catches the loader's errors itself: this is the driver failing */
        fprintf(stderr, "fuzz_safetensors: the driver failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    const char *outcome = lua_tostring(L, 1), *message = lua_tostring(L, 2);
    bool unexpected = outcome && strcmp(outcome, "unexpected") == 0;
    bool broken = outcome && strcmp(outcome, "broken") == 0;
    if (unexpected || broken) {
        long n = unexpected ? ++unexpected_count : ++broken_count;
        if (strict || n == 1)   /* the first of each kind is shown even when not strict */
            fprintf(stderr, "fuzz_safetensors: %s: %s\n", outcome, message ? message : "?");
        if (strict) abort();
    }
    lua_settop(L, 0);
    /* tensors hold device memory Lua does not see: collect them now, not some
     * hundreds of inputs later */
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
