/*
 * opencl_reduce.c - choosing how to run a reduction of [outer, len, inner].
 *
 * A GPU is only fast when tens of thousands of work-items read neighbouring
 * addresses. Many side-by-side outputs (inner large) or short rows get one work-item
 * per output (mtfl_reduce_serial). Otherwise each output gets work-groups that read a
 * row together (mtfl_reduce_groups), and when there are too few outputs to occupy the
 * device, as in the all-elements sum, each row is cut into chunks: a first launch
 * leaves one partial per chunk in a scratch buffer and a second one combines them.
 * The scratch buffer is kept per device: the in-order queue and the device lock,
 * held across both launches, keep reductions from overlapping in it.
 */
#include "opencl_internal.h"

#define SHORT_ROW 64             /* rows this short are not worth a work-group */
#define WIDE_INNER 32            /* enough neighbours for coalesced serial reads */
#define MANY_OUTPUTS 4096        /* enough work-items to occupy a GPU */
#define MIN_CHUNK 4096           /* elements a chunk's work-group should get at least */

_Static_assert(MTFL_REDUCE_SUM == 0 && MTFL_REDUCE_MEAN == 1 && MTFL_REDUCE_MAX == 2 &&
                   MTFL_REDUCE_MIN == 3 && MTFL_REDUCE_ARGMAX == 4 &&
                   MTFL_REDUCE_ARGMIN == 5,
               "cl/reduce.cl numbers the reductions as mtfl.h does");

static size_t ceil_div(size_t a, size_t b) { return a / b + (a % b != 0); }

static mtfl_status ensure_scratch(mtfl_opencl_device *cl, size_t count)
{
    if (cl->scratch_count >= count)
        return MTFL_OK;
    if (cl->scratch_values)
        clReleaseMemObject(cl->scratch_values);
    if (cl->scratch_indices)
        clReleaseMemObject(cl->scratch_indices);
    cl->scratch_values = cl->scratch_indices = NULL;
    cl->scratch_count = 0;
    cl_int err;
    cl->scratch_values =
        clCreateBuffer(cl->context, CL_MEM_READ_WRITE, count * sizeof(cl_float), NULL, &err);
    if (err == CL_SUCCESS)
        cl->scratch_indices = clCreateBuffer(cl->context, CL_MEM_READ_WRITE,
                                             count * sizeof(cl_ulong), NULL, &err);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clCreateBuffer", "reduction scratch");
    cl->scratch_count = count;
    return MTFL_OK;
}

static mtfl_status reduce_serial(mtfl_opencl_device *cl, mtfl_reduce_op op, mtfl_buf dst,
                                 mtfl_buf x, size_t outer, size_t len, size_t inner)
{
    cl_mem dst_mem = dst.handle, x_mem = x.handle;
    cl_ulong dst_off = dst.offset, x_off = x.offset;
    cl_ulong outputs = (cl_ulong)outer * inner, len_arg = len, inner_arg = inner;
    cl_int op_arg = op;
    cl_float mean_len = (cl_float)len;
    return MTFL_CL_LAUNCH(cl, MTFL_CL_REDUCE_SERIAL, outputs, MTFL_CL_ARG(dst_mem),
                          MTFL_CL_ARG(dst_off), MTFL_CL_ARG(x_mem), MTFL_CL_ARG(x_off),
                          MTFL_CL_ARG(op_arg), MTFL_CL_ARG(outputs), MTFL_CL_ARG(len_arg),
                          MTFL_CL_ARG(inner_arg), MTFL_CL_ARG(mean_len));
}

/* One launch of mtfl_reduce_groups; see cl/reduce.cl for the arguments. */
typedef struct {
    cl_mem dst, dst_index, x, x_index;
    cl_ulong dst_off, x_off;
    cl_int has_x_index, op;
    cl_ulong outputs, len, inner, chunks, chunk_len;
    cl_float mean_len;
} group_pass;

static mtfl_status run_group_pass(mtfl_opencl_device *cl, group_pass *p)
{
    size_t items = (size_t)(p->outputs * p->chunks) * cl->group_size[MTFL_CL_REDUCE_GROUPS];
    return MTFL_CL_LAUNCH(cl, MTFL_CL_REDUCE_GROUPS, items, MTFL_CL_ARG(p->dst),
                          MTFL_CL_ARG(p->dst_off), MTFL_CL_ARG(p->dst_index),
                          MTFL_CL_ARG(p->x), MTFL_CL_ARG(p->x_off), MTFL_CL_ARG(p->x_index),
                          MTFL_CL_ARG(p->has_x_index), MTFL_CL_ARG(p->op),
                          MTFL_CL_ARG(p->outputs), MTFL_CL_ARG(p->len), MTFL_CL_ARG(p->inner),
                          MTFL_CL_ARG(p->chunks), MTFL_CL_ARG(p->chunk_len),
                          MTFL_CL_ARG(p->mean_len));
}

/* Enough chunks that outputs * chunks groups fill the device, none under MIN_CHUNK. */
static size_t chunk_count(const mtfl_opencl_device *cl, size_t outputs, size_t len)
{
    size_t by_size = ceil_div(len, MIN_CHUNK);
    size_t by_device = ceil_div(cl->max_groups, outputs);
    size_t chunks = by_size < by_device ? by_size : by_device;
    if (chunks <= 1)
        return 1;
    return ceil_div(len, ceil_div(len, chunks)); /* no chunk left empty */
}

static mtfl_status reduce_groups(mtfl_opencl_device *cl, mtfl_reduce_op op, mtfl_buf dst,
                                 mtfl_buf x, size_t outer, size_t len, size_t inner)
{
    size_t outputs = outer * inner;
    size_t chunks = chunk_count(cl, outputs, len);
    group_pass pass = {
        .dst = dst.handle, .dst_index = NULL, .x = x.handle, .x_index = NULL,
        .dst_off = dst.offset, .x_off = x.offset, .has_x_index = 0, .op = op,
        .outputs = outputs, .len = len, .inner = inner, .chunks = 1, .chunk_len = len,
        .mean_len = (cl_float)len,
    };
    if (chunks == 1)
        return run_group_pass(cl, &pass);

    mtfl_status status = ensure_scratch(cl, outputs * chunks);
    if (status != MTFL_OK)
        return status;
    pass.dst = cl->scratch_values;
    pass.dst_index = cl->scratch_indices;
    pass.dst_off = 0;
    pass.chunks = chunks;
    pass.chunk_len = ceil_div(len, chunks);
    status = run_group_pass(cl, &pass);
    if (status != MTFL_OK)
        return status;

    group_pass combine = {
        .dst = dst.handle, .dst_index = NULL, .x = cl->scratch_values,
        .x_index = cl->scratch_indices, .dst_off = dst.offset, .x_off = 0, .has_x_index = 1,
        .op = op, .outputs = outputs, .len = chunks, .inner = 1, .chunks = 1,
        .chunk_len = chunks, .mean_len = (cl_float)len,
    };
    return run_group_pass(cl, &combine);
}

mtfl_status mtfl_opencl_reduce(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf x,
                               size_t outer, size_t len, size_t inner)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_lock(dev, &cl);
    if (status != MTFL_OK)
        return status;
    size_t outputs = outer * inner;
    if (len <= SHORT_ROW || (inner >= WIDE_INNER && outputs >= MANY_OUTPUTS))
        status = reduce_serial(cl, op, dst, x, outer, len, inner);
    else
        status = reduce_groups(cl, op, dst, x, outer, len, inner);
    mtfl_opencl_unlock(cl);
    return status;
}
