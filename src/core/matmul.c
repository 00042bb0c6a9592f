/*
 * matmul.c - matrix products, plain and batched, on any backend's GEMM.
 *
 * A transposed view (t:t()) is not copied: its strides say it is a transposed matrix,
 * and the GEMM is told so with its transpose flag. Only operands whose rows and
 * columns are both strided get gathered into a contiguous temporary.
 */
#include "tensor_internal.h"

typedef struct {
    mtfl_tensor *held;   /* the tensor the buffer belongs to (a view or a gathered copy) */
    bool trans;          /* flag for the GEMM: stored transposed relative to op(X) */
    size_t ld;           /* leading dimension */
    size_t batch_stride; /* 0: one matrix shared by the whole batch */
} gemm_operand;

/* rows x cols of the last two dims, as stored */
static bool layout_ok(const mtfl_tensor *t, bool *stored_transposed, size_t *ld)
{
    int r = t->ndim - 2, c = t->ndim - 1;
    int64_t rows = t->shape[r], cols = t->shape[c];
    if (t->stride[c] == 1 && t->stride[r] >= (cols > 1 ? cols : 1)) {
        *stored_transposed = false;
        *ld = (size_t)(t->stride[r] > 0 ? t->stride[r] : 1);
        return true;
    }
    if (t->stride[r] == 1 && t->stride[c] >= (rows > 1 ? rows : 1)) {
        *stored_transposed = true;
        *ld = (size_t)t->stride[c];
        return true;
    }
    return false;
}

static mtfl_status prepare_operand(const mtfl_tensor *t, bool want_trans, gemm_operand *op)
{
    bool stored_transposed;
    size_t ld;
    bool batch_ok = t->ndim == 2 || t->shape[0] == 1 || t->stride[0] >= 0;
    if (batch_ok && layout_ok(t, &stored_transposed, &ld)) {
        op->held = mtfl_tensor_view(t);
    } else {
        op->held = mtfl_tensor_clone(t);
        stored_transposed = false;
        ld = op->held ? (size_t)op->held->shape[t->ndim - 1] : 0;
    }
    if (!op->held) return mtfl_last_status();
    op->trans = want_trans != stored_transposed;
    op->ld = ld;
    op->batch_stride = op->held->ndim == 3 && op->held->shape[0] > 1 ? (size_t)op->held->stride[0] : 0;
    return MTFL_OK;
}

int mtfl_matmul_shape(const mtfl_tensor *a, const mtfl_tensor *b, bool trans_a, bool trans_b,
                      int64_t *shape)
{
    char sa[128], sb[128];
    if (a->ndim < 2 || a->ndim > 3 || b->ndim < 2 || b->ndim > 3) {
        mtfl_fail(MTFL_ERR_ARG, "matmul: operands must be 2-D or 3-D (batched), got %s and %s",
                  mtfl_shape_str(a, sa, sizeof sa), mtfl_shape_str(b, sb, sizeof sb));
        return -1;
    }
    int64_t m = a->shape[a->ndim - (trans_a ? 1 : 2)], ka = a->shape[a->ndim - (trans_a ? 2 : 1)];
    int64_t kb = b->shape[b->ndim - (trans_b ? 1 : 2)], n = b->shape[b->ndim - (trans_b ? 2 : 1)];
    int64_t batch_a = a->ndim == 3 ? a->shape[0] : -1, batch_b = b->ndim == 3 ? b->shape[0] : -1;
    if (ka != kb || (batch_a >= 0 && batch_b >= 0 && batch_a != batch_b)) {
        mtfl_fail(MTFL_ERR_ARG, "matmul: shapes %s%s and %s%s do not multiply",
                  mtfl_shape_str(a, sa, sizeof sa), trans_a ? " (transposed)" : "",
                  mtfl_shape_str(b, sb, sizeof sb), trans_b ? " (transposed)" : "");
        return -1;
    }
    int64_t batch = batch_a >= 0 ? batch_a : batch_b;
    int nd = 0;
    if (batch >= 0) shape[nd++] = batch;
    shape[nd++] = m;
    shape[nd++] = n;
    return nd;
}

mtfl_status mtfl_matmul(mtfl_tensor *c, const mtfl_tensor *a, const mtfl_tensor *b,
                        bool trans_a, bool trans_b, float alpha, float beta)
{
    char sa[128], sc[128];
    int64_t shape[3];
    int nd = mtfl_matmul_shape(a, b, trans_a, trans_b, shape);
    if (nd < 0) return mtfl_last_status();
    mtfl_device *dev = c->storage->device;
    if (a->storage->device != dev || b->storage->device != dev)
        return mtfl_fail(MTFL_ERR_DEVICE, "matmul: operands on %s and %s, result on %s",
                         a->storage->device->id, b->storage->device->id, dev->id);
    if (c->ndim != nd || memcmp(c->shape, shape, (size_t)nd * sizeof *shape) != 0)
        return mtfl_fail(MTFL_ERR_ARG, "matmul: result %s should be %s",
                         mtfl_shape_str(c, sc, sizeof sc), mtfl_dims_str(nd, shape, sa, sizeof sa));
    if (!mtfl_is_contiguous(c))
        return mtfl_fail(MTFL_ERR_ARG, "matmul: result %s is not contiguous",
                         mtfl_shape_str(c, sc, sizeof sc));
    size_t batch = nd == 3 ? (size_t)shape[0] : 1;
    size_t m = (size_t)shape[nd - 2], n = (size_t)shape[nd - 1];
    size_t k = (size_t)a->shape[a->ndim - (trans_a ? 2 : 1)];
    if (mtfl_numel(c) == 0) return MTFL_OK;
    if (k == 0) return beta == 0.0f ? mtfl_fill(c, 0.0f)
                                    : mtfl_unary(MTFL_UNARY_MUL_SCALAR, c, c, beta, 0.0f);

    gemm_operand ga = {0}, gb = {0};
    mtfl_status st = prepare_operand(a, trans_a, &ga);
    if (st == MTFL_OK) st = prepare_operand(b, trans_b, &gb);
    if (st == MTFL_OK)
        st = dev->backend->gemm(dev, ga.trans, gb.trans, m, n, k, alpha,
                                mtfl_tensor_buf(ga.held), ga.ld, ga.batch_stride,
                                mtfl_tensor_buf(gb.held), gb.ld, gb.batch_stride, beta,
                                mtfl_tensor_buf(c), n, m * n, batch);
    mtfl_tensor_release(ga.held);
    mtfl_tensor_release(gb.held);
    return st;
}
