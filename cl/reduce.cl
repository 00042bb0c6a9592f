/*
 * reduce.cl - reductions of x viewed as [outer, len, inner] to [outer, inner].
 *
 * Two kernels cover the shapes that matter. mtfl_reduce_groups gives each output
 * (or each chunk of a long output) a whole work-group that reads consecutive elements
 * and combines them in local memory: the fast path for reducing contiguous rows and
 * for the all-elements case, where the host splits len into chunks so that the whole
 * device works, then reduces the chunk results with a second launch of the same
 * kernel. mtfl_reduce_serial gives each output one work-item that walks len: the fast
 * path when there are many outputs side by side (inner large, coalesced reads) or the
 * rows are short.
 *
 * Sums use Kahan compensation within a work-item, so float accumulation stays within
 * a few ulp of a double-precision sum even for millions of elements. Arg-reductions
 * carry the index of the best value and prefer the lower index on ties, which makes
 * the result independent of how the work was split. A NaN is better than any number
 * (the first NaN wins), so that max, min, argmax and argmin all show it.
 */

#pragma OPENCL FP_CONTRACT OFF

/* Same numbering as mtfl_reduce_op in src/core/mtfl.h. */
#define MTFL_REDUCE_SUM 0
#define MTFL_REDUCE_MEAN 1
#define MTFL_REDUCE_MAX 2
#define MTFL_REDUCE_MIN 3
#define MTFL_REDUCE_ARGMAX 4
#define MTFL_REDUCE_ARGMIN 5

/* Work-items per group at most; the host never launches more (MTFL_CL_MAX_GROUP). */
#define MTFL_REDUCE_GROUP 256

/* No element seen yet: any value is better. */
#define MTFL_NO_INDEX ((ulong)-1)

typedef struct {
    float value;   /* the sum, or the best value so far */
    float carry;   /* Kahan compensation of the sum */
    ulong index;   /* where the best value was, for the extremum ops */
} mtfl_reduction;

bool mtfl_is_sum(int op) { return op == MTFL_REDUCE_SUM || op == MTFL_REDUCE_MEAN; }

mtfl_reduction mtfl_reduction_empty(void)
{
    mtfl_reduction r = {0.0f, 0.0f, MTFL_NO_INDEX};
    return r;
}

bool mtfl_is_better(int op, float value, ulong index, mtfl_reduction best)
{
    if (index == MTFL_NO_INDEX) /* an idle work-item's slot in the tree */
        return false;
    if (best.index == MTFL_NO_INDEX)
        return true;
    /* NaN wins, the first one (the lowest index): max, min and their args show it, as in
     * PyTorch, rather than the best of the other values */
    if (isnan(best.value))
        return isnan(value) && index < best.index;
    if (isnan(value))
        return true;
    bool larger = op == MTFL_REDUCE_MAX || op == MTFL_REDUCE_ARGMAX;
    if (larger ? value > best.value : value < best.value)
        return true;
    return value == best.value && index < best.index;
}

mtfl_reduction mtfl_reduction_add(int op, mtfl_reduction r, float value, ulong index)
{
    if (mtfl_is_sum(op)) {
        float y = value - r.carry;
        float t = r.value + y;
        r.carry = (t - r.value) - y;
        r.value = t;
    } else if (mtfl_is_better(op, value, index, r)) {
        r.value = value;
        r.index = index;
    }
    return r;
}

/* What the output holds: the mean divides by the full len, even after chunking. */
float mtfl_reduction_result(int op, mtfl_reduction r, float len)
{
    if (op == MTFL_REDUCE_MEAN)
        return r.value / len;
    if (op == MTFL_REDUCE_ARGMAX || op == MTFL_REDUCE_ARGMIN)
        return (float)r.index;
    return r.value;
}

/* One group per (output, chunk) pair, looping over pairs if there are more than
 * groups. With chunks == 1 the group writes the final result to dst; otherwise it
 * writes a partial value and index to dst and dst_index at position pair, and a second
 * launch reduces those with has_x_index set (x_index parallels x). */
__kernel void mtfl_reduce_groups(__global float *dst, ulong dst_off, __global ulong *dst_index,
                                 __global const float *x, ulong x_off,
                                 __global const ulong *x_index, int has_x_index, int op,
                                 ulong outputs, ulong len, ulong inner, ulong chunks,
                                 ulong chunk_len, float mean_len)
{
    __local float values[MTFL_REDUCE_GROUP];
    __local ulong indices[MTFL_REDUCE_GROUP];
    const uint me = get_local_id(0);
    const uint group = get_local_size(0);

    for (ulong pair = get_group_id(0); pair < outputs * chunks; pair += get_num_groups(0)) {
        ulong output = pair / chunks, chunk = pair - output * chunks;
        ulong o = output / inner, in = output - o * inner;
        ulong base = x_off + o * len * inner + in;
        ulong end = min(len, (chunk + 1) * chunk_len);

        mtfl_reduction r = mtfl_reduction_empty();
        for (ulong l = chunk * chunk_len + me; l < end; l += group) {
            ulong at = base + l * inner;
            r = mtfl_reduction_add(op, r, x[at], has_x_index ? x_index[at] : l);
        }
        values[me] = r.value - r.carry;
        indices[me] = r.index;
        barrier(CLK_LOCAL_MEM_FENCE);

        for (uint width = group / 2; width > 0; width /= 2) {
            if (me < width) {
                mtfl_reduction mine = {values[me], 0.0f, indices[me]};
                mine = mtfl_reduction_add(op, mine, values[me + width], indices[me + width]);
                values[me] = mine.value;
                indices[me] = mine.index;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
        }

        if (me == 0) {
            mtfl_reduction total = {values[0], 0.0f, indices[0]};
            if (chunks == 1) {
                dst[dst_off + output] = mtfl_reduction_result(op, total, mean_len);
            } else {
                dst[pair] = total.value;
                dst_index[pair] = total.index;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE); /* values[] is reused by the next pair */
    }
}

/* One work-item per output, walking len. */
__kernel void mtfl_reduce_serial(__global float *dst, ulong dst_off, __global const float *x,
                                 ulong x_off, int op, ulong outputs, ulong len, ulong inner,
                                 float mean_len)
{
    for (ulong output = get_global_id(0); output < outputs; output += get_global_size(0)) {
        ulong o = output / inner, in = output - o * inner;
        ulong base = x_off + o * len * inner + in;
        mtfl_reduction r = mtfl_reduction_empty();
        for (ulong l = 0; l < len; l++)
            r = mtfl_reduction_add(op, r, x[base + l * inner], l);
        r.value -= r.carry;
        dst[dst_off + output] = mtfl_reduction_result(op, r, mean_len);
    }
}
