/*
 * join.c - cat and stack: tensors of one device joined into one.
 *
 * Each input is copied into a view of the output (a narrow() for cat, a select() for
 * stack), so a join costs one strided copy per input: the copy merges the dimensions
 * both sides lay out back to back, which leaves two (rows of the output, a run inside
 * each), whatever the rank.
 */
#include "tensor_internal.h"

/* Inputs 1..count (1-based in messages, as Lua numbers them) share a device and agree
 * in every size except, for cat, the one along skip (-1: none). */
static mtfl_status check_inputs(const char *op, const mtfl_tensor *const *inputs, int count,
                                int skip)
{
    if (count < 1) return mtfl_fail(MTFL_ERR_ARG, "%s: expects at least one tensor, got none", op);
    const mtfl_tensor *first = inputs[0];
    char s1[128], s2[128];
    for (int i = 1; i < count; i++) {
        const mtfl_tensor *t = inputs[i];
        if (mtfl_tensor_device(t) != mtfl_tensor_device(first))
            return mtfl_fail(MTFL_ERR_DEVICE, "%s: tensor %d %s is on %s, tensor 1 %s on %s", op,
                             i + 1, mtfl_shape_str(t, s1, sizeof s1), mtfl_tensor_device(t)->id,
                             mtfl_shape_str(first, s2, sizeof s2), mtfl_tensor_device(first)->id);
        bool same = t->ndim == first->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = d == skip || t->shape[d] == first->shape[d];
        if (!same && skip >= 0)
            return mtfl_fail(MTFL_ERR_ARG, "%s: tensor %d %s does not match tensor 1 %s (sizes "
                             "must agree except along dimension %d)", op, i + 1,
                             mtfl_shape_str(t, s1, sizeof s1), mtfl_shape_str(first, s2, sizeof s2),
                             skip + 1);
        if (!same)
            return mtfl_fail(MTFL_ERR_ARG, "%s: tensor %d %s does not match tensor 1 %s (shapes "
                             "must be equal)", op, i + 1, mtfl_shape_str(t, s1, sizeof s1),
                             mtfl_shape_str(first, s2, sizeof s2));
    }
    return MTFL_OK;
}

int mtfl_cat_shape(const mtfl_tensor *const *inputs, int count, int dim, int64_t *shape)
{
    char s[128];
    if (count >= 1 && (dim < 0 || dim >= inputs[0]->ndim)) {
        mtfl_fail(MTFL_ERR_ARG, "cat: dimension %d out of range for tensor 1 %s (1..%d)", dim + 1,
                  mtfl_shape_str(inputs[0], s, sizeof s), inputs[0]->ndim);
        return -1;
    }
    if (check_inputs("cat", inputs, count, dim) != MTFL_OK) return -1;
    int ndim = inputs[0]->ndim;
    for (int d = 0; d < ndim; d++) shape[d] = inputs[0]->shape[d];
    shape[dim] = 0;
    for (int i = 0; i < count; i++) {
        /* sizes are below 2^63 each, but a sum of many could wrap */
        if (inputs[i]->shape[dim] > INT64_MAX - shape[dim]) {
            mtfl_fail(MTFL_ERR_ARG, "cat: the sizes along dimension %d add up past 2^63", dim + 1);
            return -1;
        }
        shape[dim] += inputs[i]->shape[dim];
    }
    return ndim;
}

int mtfl_stack_shape(const mtfl_tensor *const *inputs, int count, int dim, int64_t *shape)
{
    char s[128];
    if (count >= 1 && inputs[0]->ndim >= MTFL_MAX_DIMS) {
        mtfl_fail(MTFL_ERR_ARG, "stack: tensor 1 %s has %d dimensions already (at most %d)",
                  mtfl_shape_str(inputs[0], s, sizeof s), inputs[0]->ndim, MTFL_MAX_DIMS);
        return -1;
    }
    if (count >= 1 && (dim < 0 || dim > inputs[0]->ndim)) {
        mtfl_fail(MTFL_ERR_ARG, "stack: dimension %d out of range for tensors %s (1..%d)", dim + 1,
                  mtfl_shape_str(inputs[0], s, sizeof s), inputs[0]->ndim + 1);
        return -1;
    }
    if (check_inputs("stack", inputs, count, -1) != MTFL_OK) return -1;
    int ndim = inputs[0]->ndim + 1;
    for (int d = 0, from = 0; d < ndim; d++) shape[d] = d == dim ? count : inputs[0]->shape[from++];
    return ndim;
}

/* dst must be what the shape rule says, on the inputs' device. */
static mtfl_status check_output(const char *op, const mtfl_tensor *dst, int ndim,
                                const int64_t *shape, const mtfl_tensor *first)
{
    if (ndim < 0) return mtfl_last_status();
    return mtfl_expect_tensor(op, "output", dst, ndim, shape, mtfl_tensor_device(first), false);
}

mtfl_status mtfl_cat(mtfl_tensor *dst, const mtfl_tensor *const *inputs, int count, int dim)
{
    int64_t shape[MTFL_MAX_DIMS];
    mtfl_status st = check_output("cat", dst, mtfl_cat_shape(inputs, count, dim, shape), shape,
                                  count > 0 ? inputs[0] : dst);
    int64_t at = 0;
    for (int i = 0; st == MTFL_OK && i < count; i++) {
        int64_t len = inputs[i]->shape[dim];
        if (len == 0) continue;
        mtfl_tensor *part = mtfl_tensor_narrow(dst, dim, at, len);
        st = part ? mtfl_copy(part, inputs[i]) : mtfl_last_status();
        mtfl_tensor_release(part);
        at += len;
    }
    return st;
}

mtfl_status mtfl_stack(mtfl_tensor *dst, const mtfl_tensor *const *inputs, int count, int dim)
{
    int64_t shape[MTFL_MAX_DIMS];
    mtfl_status st = check_output("stack", dst, mtfl_stack_shape(inputs, count, dim, shape), shape,
                                  count > 0 ? inputs[0] : dst);
    for (int i = 0; st == MTFL_OK && i < count; i++) {
        mtfl_tensor *slot = mtfl_tensor_select(dst, dim, i);
        st = slot ? mtfl_copy(slot, inputs[i]) : mtfl_last_status();
        mtfl_tensor_release(slot);
    }
    return st;
}
