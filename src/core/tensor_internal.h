/*
 * tensor_internal.h - helpers the core's own files share. Not part of the API.
 */
#ifndef MTFL_TENSOR_INTERNAL_H
#define MTFL_TENSOR_INTERNAL_H

#include <stdio.h>
#include <string.h>

#include "backend.h"

mtfl_buf mtfl_tensor_buf(const mtfl_tensor *t);

/* Storages (memory.c): memory from the device's cache or backend, within its budget,
 * with the out-of-memory handler's one retry. NULL + error when it does not fit. */
mtfl_storage *mtfl_storage_new(mtfl_device *dev, size_t numel);
void mtfl_storage_release(mtfl_storage *s);
mtfl_tensor *mtfl_tensor_new_like(const mtfl_tensor *t);

/* An op's argument must have this shape, live on dev and (when asked) be contiguous;
 * the error names the op and what the argument is. */
mtfl_status mtfl_expect_tensor(const char *op, const char *what, const mtfl_tensor *t, int ndim,
                               const int64_t *shape, const mtfl_device *dev, bool contiguous);

/* A backend may lack an op (ggml's supports_op): that is an error, not a NULL call. */
#define MTFL_REQUIRE_OP(dev, member, op)                                                \
    do {                                                                                \
        if (!(dev)->backend->member)                                                    \
            return mtfl_fail(MTFL_ERR_DEVICE, "%s: not supported by the %s backend (%s)", \
                             op, (dev)->backend->name, (dev)->id);                      \
    } while (0)

#endif
