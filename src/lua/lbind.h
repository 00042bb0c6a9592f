/*
 * lbind.h - what the binding files share: the tensor userdata and the one way errors
 * leave C (lmtfl_raise, a Lua error carrying the core's message).
 */
#ifndef MTFL_LBIND_H
#define MTFL_LBIND_H

#include <lauxlib.h>
#include <lua.h>

#include "mtfl.h"

#define LMTFL_TENSOR "mtfl.Tensor"

typedef struct {
    mtfl_tensor *t; /* NULL after t:free() */
    /* The values are indices (argmax over a dimension): still float32, the only dtype,
     * but item(), totable() and t[i] give them as Lua integers. Views and copies of
     * the tensor keep the mark; arithmetic drops it. */
    bool integer;
} lmtfl_tensor_box;

/* Raises the core's last error as a Lua error at the calling script's line. */
int lmtfl_raise(lua_State *L);
/* Raises a Lua error formatted with printf's rules (luaL_error knows only a few). */
int lmtfl_error(lua_State *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a core call and raises its error. Out of memory is not retried here: the core
 * retries the one allocation that failed, after the garbage collection the binding's
 * handler runs (lmtfl_install_oom_handler), so no op ever runs twice. */
#define LMTFL_CALL(L, expr)                                                        \
    do {                                                                           \
        if ((expr) != MTFL_OK) lmtfl_raise(L);                                     \
    } while (0)

/* Makes allocations on this thread collect Lua's garbage and retry once when a device
 * runs out of memory; undone when the state closes. */
void lmtfl_install_oom_handler(lua_State *L);

mtfl_tensor *lmtfl_check_tensor(lua_State *L, int idx);
mtfl_tensor *lmtfl_test_tensor(lua_State *L, int idx); /* NULL if not a tensor */
/* Pushes a userdata owning t (the reference passes to Lua). t NULL raises. */
mtfl_tensor *lmtfl_push_tensor(lua_State *L, mtfl_tensor *t);
/* Marks the tensor at idx as holding indices (see lmtfl_tensor_box), or unmarks it;
 * whether the value at idx is a tensor so marked. */
void lmtfl_set_integer(lua_State *L, int idx, bool integer);
bool lmtfl_is_integer(lua_State *L, int idx);
/* A new tensor on dev, pushed on the stack. */
mtfl_tensor *lmtfl_new_tensor(lua_State *L, mtfl_device *dev, int ndim, const int64_t *shape);
mtfl_tensor *lmtfl_new_like(lua_State *L, const mtfl_tensor *t);

/* The device named by the string at idx, or the default device when idx is none/nil. */
mtfl_device *lmtfl_opt_device(lua_State *L, int idx);
mtfl_device *lmtfl_default_device(lua_State *L);
/* A 1-based dimension argument, negative counting from the end, returned 0-based. */
int lmtfl_check_dim(lua_State *L, int idx, const mtfl_tensor *t);
/* A 1-based element index argument (>= 1) returned 0-based; op names the error. */
int64_t lmtfl_check_index(lua_State *L, int idx, const char *op);

/* Shape from integers at idx.. or a table at idx; returns ndim. *next is the first
 * argument after the shape. */
int lmtfl_check_shape(lua_State *L, int idx, int64_t *shape, int *next);
/* Pushes {d1, d2, ...}: a shape or strides as Lua sees them. */
void lmtfl_push_dims(lua_State *L, int ndim, const int64_t *dims);

void lmtfl_open_tensor(lua_State *L);  /* metatable and tensor methods */
void lmtfl_open_ops(lua_State *L);     /* adds op methods to the metatable's __index */
void lmtfl_open_nn(lua_State *L);      /* layer ops: conv2d, maxpool2d, cross_entropy, ... */
void lmtfl_open_data(lua_State *L);    /* mtfl._data: the data pipeline (src/data) */
void lmtfl_open_files(lua_State *L);   /* mtfl._files: atomic writes, locks (lfiles.c) */
void lmtfl_open_mpi(lua_State *L);     /* mtfl._mpi when built with MPI (lmpi.c) */
void lmtfl_print_tensor(lua_State *L, const mtfl_tensor *t); /* pushes its text */

#endif
