/*
 * tensor.c - storages, tensors and views, and moving data in and out of them.
 *
 * A tensor is a view: shape and strides over a refcounted storage. Views never copy;
 * storage memory is charged to its device's budget so that running out is an ordinary
 * error (MTFL_ERR_OOM) the Lua side can answer with a garbage collection and a retry.
 */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "tensor_internal.h"

size_t mtfl_numel(const mtfl_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

bool mtfl_is_contiguous(const mtfl_tensor *t)
{
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != expected) return false;
        expected *= t->shape[i];
    }
    return true;
}

mtfl_device *mtfl_tensor_device(const mtfl_tensor *t) { return t->storage->device; }

const char *mtfl_shape_str(const mtfl_tensor *t, char *buf, size_t size)
{
    return mtfl_dims_str(t->ndim, t->shape, buf, size);
}

const char *mtfl_dims_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "x" : "",
                                 (long long)shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

bool mtfl_same_shape(const mtfl_tensor *a, const mtfl_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

mtfl_status mtfl_expect_tensor(const char *op, const char *what, const mtfl_tensor *t, int ndim,
                               const int64_t *shape, const mtfl_device *dev, bool contiguous)
{
    char st[128], sw[128];
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (!ok)
        return mtfl_fail(MTFL_ERR_ARG, "%s: %s is %s, should be %s", op, what,
                         mtfl_shape_str(t, st, sizeof st), mtfl_dims_str(ndim, shape, sw, sizeof sw));
    if (mtfl_tensor_device(t) != dev)
        return mtfl_fail(MTFL_ERR_DEVICE, "%s: %s on %s, expected %s", op, what,
                         mtfl_tensor_device(t)->id, dev->id);
    if (contiguous && !mtfl_is_contiguous(t))
        return mtfl_fail(MTFL_ERR_ARG, "%s: %s %s must be contiguous", op, what,
                         mtfl_shape_str(t, st, sizeof st));
    return MTFL_OK;
}

mtfl_buf mtfl_tensor_buf(const mtfl_tensor *t)
{
    return (mtfl_buf){t->storage->handle, t->offset};
}

/* ---- tensors -------------------------------------------------------------------- */

static bool valid_shape(const char *op, int ndim, const int64_t *shape, size_t *numel)
{
    char dims[256];
    if (ndim < 0 || ndim > MTFL_MAX_DIMS) {
        mtfl_fail(MTFL_ERR_ARG, "%s: %d dimensions (at most %d)", op, ndim, MTFL_MAX_DIMS);
        return false;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            mtfl_fail(MTFL_ERR_ARG, "%s: negative size in shape %s", op,
                      mtfl_dims_str(ndim, shape, dims, sizeof dims));
            return false;
        }
        if (shape[i] > 0 && n > ((size_t)1 << 40) / (size_t)shape[i]) {
            mtfl_fail(MTFL_ERR_OOM, "%s: shape %s is too large", op,
                      mtfl_dims_str(ndim, shape, dims, sizeof dims));
            return false;
        }
        n *= (size_t)shape[i];
    }
    *numel = n;
    return true;
}

static void set_contiguous_strides(mtfl_tensor *t)
{
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = stride;
        stride *= t->shape[i] ? t->shape[i] : 1;
    }
}

mtfl_tensor *mtfl_tensor_new(mtfl_device *dev, int ndim, const int64_t *shape)
{
    size_t numel;
    if (!dev) {
        mtfl_fail(MTFL_ERR_DEVICE, "tensor: no device");
        return NULL;
    }
    if (!valid_shape("tensor", ndim, shape, &numel)) return NULL;
    mtfl_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        mtfl_fail(MTFL_ERR_OOM, "out of host memory for a tensor header");
        return NULL;
    }
    t->storage = mtfl_storage_new(dev, numel);
    if (!t->storage) {
        free(t);
        return NULL;
    }
    t->ndim = ndim;
    if (ndim > 0) memcpy(t->shape, shape, (size_t)ndim * sizeof *shape); /* shape may be NULL */
    set_contiguous_strides(t);
    return t;
}

mtfl_tensor *mtfl_tensor_new_like(const mtfl_tensor *t)
{
    return mtfl_tensor_new(t->storage->device, t->ndim, t->shape);
}

void mtfl_tensor_release(mtfl_tensor *t)
{
    if (!t) return;
    if (t->storage) mtfl_storage_release(t->storage);
    free(t);
}

mtfl_tensor *mtfl_tensor_view(const mtfl_tensor *t)
{
    mtfl_tensor *v = malloc(sizeof *v);
    if (!v) {
        mtfl_fail(MTFL_ERR_OOM, "out of host memory for a tensor header");
        return NULL;
    }
    *v = *t;
    __atomic_add_fetch(&v->storage->refcount, 1, __ATOMIC_ACQ_REL);
    return v;
}

static bool check_dim(const char *op, const mtfl_tensor *t, int dim)
{
    if (dim >= 0 && dim < t->ndim) return true;
    char s[128];
    mtfl_fail(MTFL_ERR_ARG, "%s: dimension %d out of range for a tensor of shape %s "
              "(dimensions are 1..%d)", op, dim + 1, mtfl_shape_str(t, s, sizeof s), t->ndim);
    return false;
}

mtfl_tensor *mtfl_tensor_reshape(const mtfl_tensor *t, int ndim, const int64_t *shape)
{
    char from[128], to[128];
    if (ndim < 0 || ndim > MTFL_MAX_DIMS) {
        mtfl_fail(MTFL_ERR_ARG, "reshape: %d dimensions (at most %d)", ndim, MTFL_MAX_DIMS);
        return NULL;
    }
    int64_t resolved[MTFL_MAX_DIMS];
    int inferred = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1 && inferred < 0) inferred = i;
        else if (shape[i] == -1) {
            mtfl_fail(MTFL_ERR_ARG, "reshape: only one size can be -1 (inferred)");
            return NULL;
        } else if (shape[i] < 0) {
            mtfl_fail(MTFL_ERR_ARG, "reshape: bad size %lld in the new shape",
                      (long long)shape[i]);
            return NULL;
        } else known *= (size_t)shape[i];
    }
    size_t numel = mtfl_numel(t);
    if (inferred >= 0) resolved[inferred] = known ? (int64_t)(numel / known) : 0;
    size_t target = 1;
    for (int i = 0; i < ndim; i++) target *= (size_t)resolved[i];
    if (target != numel) {
        mtfl_fail(MTFL_ERR_ARG, "reshape: cannot view %s (%zu elements) as %s",
                  mtfl_shape_str(t, from, sizeof from), numel,
                  mtfl_dims_str(ndim, resolved, to, sizeof to));
        return NULL;
    }
    if (!mtfl_is_contiguous(t)) {
        mtfl_fail(MTFL_ERR_ARG, "reshape: tensor %s is not contiguous; call contiguous() first",
                  mtfl_shape_str(t, from, sizeof from));
        return NULL;
    }
    mtfl_tensor *v = mtfl_tensor_view(t);
    if (!v) return NULL;
    v->ndim = ndim;
    if (ndim > 0) memcpy(v->shape, resolved, (size_t)ndim * sizeof *resolved);
    set_contiguous_strides(v);
    return v;
}

mtfl_tensor *mtfl_tensor_narrow(const mtfl_tensor *t, int dim, int64_t start, int64_t length)
{
    char s[128];
    if (!check_dim("narrow", t, dim)) return NULL;
    /* compared without adding: start and length come from users and files */
    if (start < 0 || length < 0 || start > t->shape[dim] || length > t->shape[dim] - start) {
        if (start >= 0 && length >= 0 && length <= INT64_MAX - start)
            mtfl_fail(MTFL_ERR_ARG, "narrow: elements %lld..%lld of dimension %d are outside "
                      "shape %s", (long long)start + 1, (long long)(start + length), dim + 1,
                      mtfl_shape_str(t, s, sizeof s));
        else
            mtfl_fail(MTFL_ERR_ARG, "narrow: %lld elements from element %lld do not fit "
                      "dimension %d of shape %s", (long long)length,
                      (long long)(start >= 0 && start < INT64_MAX ? start + 1 : start), dim + 1,
                      mtfl_shape_str(t, s, sizeof s));
        return NULL;
    }
    mtfl_tensor *v = mtfl_tensor_view(t);
    if (!v) return NULL;
    v->offset += (size_t)(start * t->stride[dim]);
    v->shape[dim] = length;
    return v;
}

mtfl_tensor *mtfl_tensor_select(const mtfl_tensor *t, int dim, int64_t index)
{
    char s[128];
    if (!check_dim("select", t, dim)) return NULL;
    if (index < 0 || index >= t->shape[dim]) {
        mtfl_fail(MTFL_ERR_ARG, "select: index %lld out of range 1..%lld for dimension %d "
                  "of shape %s", (long long)(index < INT64_MAX ? index + 1 : index),
                  (long long)t->shape[dim], dim + 1, mtfl_shape_str(t, s, sizeof s));
        return NULL;
    }
    mtfl_tensor *v = mtfl_tensor_view(t);
    if (!v) return NULL;
    v->offset += (size_t)(index * t->stride[dim]);
    for (int i = dim; i < t->ndim - 1; i++) {
        v->shape[i] = t->shape[i + 1];
        v->stride[i] = t->stride[i + 1];
    }
    v->ndim--;
    return v;
}

mtfl_tensor *mtfl_tensor_transpose(const mtfl_tensor *t, int dim0, int dim1)
{
    if (!check_dim("transpose", t, dim0) || !check_dim("transpose", t, dim1)) return NULL;
    mtfl_tensor *v = mtfl_tensor_view(t);
    if (!v) return NULL;
    v->shape[dim0] = t->shape[dim1];
    v->shape[dim1] = t->shape[dim0];
    v->stride[dim0] = t->stride[dim1];
    v->stride[dim1] = t->stride[dim0];
    return v;
}

mtfl_tensor *mtfl_tensor_expand(const mtfl_tensor *t, int ndim, const int64_t *shape)
{
    char from[128], to[128];
    if (ndim < t->ndim || ndim > MTFL_MAX_DIMS) {
        mtfl_fail(MTFL_ERR_ARG, "expand: cannot expand %s to %s", mtfl_shape_str(t, from, sizeof from),
                  mtfl_dims_str(ndim, shape, to, sizeof to));
        return NULL;
    }
    mtfl_tensor *v = mtfl_tensor_view(t);
    if (!v) return NULL;
    int lead = ndim - t->ndim;
    for (int i = ndim - 1; i >= 0; i--) {
        int64_t size = i >= lead ? t->shape[i - lead] : 1;
        int64_t stride = i >= lead ? t->stride[i - lead] : 0;
        if (size != shape[i] && size != 1) {
            mtfl_tensor_release(v);
            mtfl_fail(MTFL_ERR_ARG, "expand: cannot expand %s to %s (dimension %d is %lld)",
                      mtfl_shape_str(t, from, sizeof from), mtfl_dims_str(ndim, shape, to, sizeof to),
                      i + 1, (long long)size);
            return NULL;
        }
        v->shape[i] = shape[i];
        v->stride[i] = size == shape[i] ? stride : 0;
    }
    v->ndim = ndim;
    return v;
}

mtfl_tensor *mtfl_tensor_clone(const mtfl_tensor *t)
{
    mtfl_tensor *c = mtfl_tensor_new_like(t);
    if (c && mtfl_copy(c, t) != MTFL_OK) {
        mtfl_tensor_release(c);
        return NULL;
    }
    return c;
}

mtfl_tensor *mtfl_tensor_contiguous(const mtfl_tensor *t)
{
    return mtfl_is_contiguous(t) ? mtfl_tensor_view(t) : mtfl_tensor_clone(t);
}

mtfl_tensor *mtfl_tensor_to(const mtfl_tensor *t, mtfl_device *dev)
{
    if (t->storage->device == dev) return mtfl_tensor_view(t);
    mtfl_tensor *c = mtfl_tensor_new(dev, t->ndim, t->shape);
    if (c && mtfl_copy(c, t) != MTFL_OK) {
        mtfl_tensor_release(c);
        return NULL;
    }
    return c;
}

/* ---- host transfers ------------------------------------------------------------- */

static bool check_count(const char *op, const mtfl_tensor *t, size_t n)
{
    if (n == mtfl_numel(t)) return true;
    char s[128];
    mtfl_fail(MTFL_ERR_ARG, "%s: %zu values for a tensor of shape %s (%zu elements)", op, n,
              mtfl_shape_str(t, s, sizeof s), mtfl_numel(t));
    return false;
}

mtfl_status mtfl_tensor_write(mtfl_tensor *t, const float *src, size_t n)
{
    if (!check_count("write", t, n)) return MTFL_ERR_ARG;
    if (n == 0) return MTFL_OK;
    mtfl_device *dev = t->storage->device;
    mtfl_count(&dev->stats.bytes_to_device, n * sizeof(float));
    if (mtfl_is_contiguous(t)) return dev->backend->write(dev, mtfl_tensor_buf(t), src, n);
    mtfl_tensor *tmp = mtfl_tensor_new_like(t);
    if (!tmp) return mtfl_last_status();
    mtfl_status st = dev->backend->write(dev, mtfl_tensor_buf(tmp), src, n);
    if (st == MTFL_OK) st = mtfl_copy(t, tmp);
    mtfl_tensor_release(tmp);
    return st;
}

mtfl_status mtfl_tensor_read(const mtfl_tensor *t, float *dst, size_t n)
{
    if (!check_count("read", t, n)) return MTFL_ERR_ARG;
    if (n == 0) return MTFL_OK;
    mtfl_tensor *c = mtfl_tensor_contiguous(t);
    if (!c) return mtfl_last_status();
    mtfl_device *dev = c->storage->device;
    mtfl_count(&dev->stats.blocking_reads, 1);
    mtfl_count(&dev->stats.bytes_to_host, n * sizeof(float));
    mtfl_status st = dev->backend->read(dev, dst, mtfl_tensor_buf(c), n);
    mtfl_tensor_release(c);
    return st;
}

/* ---- copy ----------------------------------------------------------------------- */

/* Merges dimensions that are laid out back to back in both tensors, so that a copy of
 * contiguous data is one flat run and a backend's fast path sees it. Returns ndim. */
static int collapse_dims(int ndim, const int64_t *shape, const int64_t *dst_stride,
                         const int64_t *src_stride, int64_t *out_shape, int64_t *out_dst,
                         int64_t *out_src)
{
    int n = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        if (n > 0 && out_dst[n - 1] == dst_stride[i] * shape[i] &&
            out_src[n - 1] == src_stride[i] * shape[i]) {
            out_shape[n - 1] *= shape[i];
            out_dst[n - 1] = dst_stride[i];
            out_src[n - 1] = src_stride[i];
        } else {
            out_shape[n] = shape[i];
            out_dst[n] = dst_stride[i];
            out_src[n] = src_stride[i];
            n++;
        }
    }
    if (n == 0) {
        out_shape[0] = 1;
        out_dst[0] = out_src[0] = 1;
        n = 1;
    }
    return n;
}

static mtfl_status copy_same_device(mtfl_tensor *dst, const mtfl_tensor *src)
{
    int64_t shape[MTFL_MAX_DIMS], ds[MTFL_MAX_DIMS], ss[MTFL_MAX_DIMS];
    int n = collapse_dims(dst->ndim, dst->shape, dst->stride, src->stride, shape, ds, ss);
    mtfl_device *dev = dst->storage->device;
    return dev->backend->copy_strided(dev, mtfl_tensor_buf(dst), mtfl_tensor_buf(src), n,
                                      shape, ds, ss);
}

/* Across devices the data goes through host memory. */
static mtfl_status copy_across_devices(mtfl_tensor *dst, const mtfl_tensor *src)
{
    size_t n = mtfl_numel(src);
    float *host = malloc(n * sizeof *host);
    if (!host)
        return mtfl_fail(MTFL_ERR_OOM, "copy: out of host memory staging %zu elements", n);
    mtfl_status st = mtfl_tensor_read(src, host, n);
    if (st == MTFL_OK) st = mtfl_tensor_write(dst, host, n);
    free(host);
    return st;
}

mtfl_status mtfl_copy(mtfl_tensor *dst, const mtfl_tensor *src)
{
    char a[128], b[128];
    bool same = mtfl_same_shape(dst, src);
    bool flat = !same && mtfl_numel(dst) == mtfl_numel(src) && mtfl_is_contiguous(dst) &&
                mtfl_is_contiguous(src);
    if (!same && !flat)
        return mtfl_fail(MTFL_ERR_ARG, "copy: shapes %s and %s differ",
                         mtfl_shape_str(dst, a, sizeof a), mtfl_shape_str(src, b, sizeof b));
    if (mtfl_numel(dst) == 0) return MTFL_OK;
    if (dst->storage->device != src->storage->device) return copy_across_devices(dst, src);
    if (flat) {
        mtfl_device *dev = dst->storage->device;
        int64_t n = (int64_t)mtfl_numel(dst), one = 1;
        return dev->backend->copy_strided(dev, mtfl_tensor_buf(dst), mtfl_tensor_buf(src), 1,
                                          &n, &one, &one);
    }
    return copy_same_device(dst, src);
}
