/*
 * opencl_internal.h - what the files of the OpenCL backend share: the per-device state
 * behind mtfl_device.impl, the kernel table, error reporting and kernel launches.
 */
#ifndef MTFL_OPENCL_INTERNAL_H
#define MTFL_OPENCL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <CL/cl.h>

#include "opencl_backend.h"

/* One entry per kernel in cl/; their names are listed in opencl_launch.c. */
typedef enum {
    MTFL_CL_FILL,
    MTFL_CL_ARANGE,
    MTFL_CL_RANDOM,
    MTFL_CL_UNARY,
    MTFL_CL_BINARY,
    MTFL_CL_AXPY,
    MTFL_CL_COPY_STRIDED,
    MTFL_CL_REDUCE_GROUPS,
    MTFL_CL_REDUCE_SERIAL,
    MTFL_CL_IM2COL,
    MTFL_CL_COL2IM,
    MTFL_CL_MAXPOOL_FORWARD,
    MTFL_CL_MAXPOOL_BACKWARD,
    MTFL_CL_AVGPOOL_FORWARD,
    MTFL_CL_AVGPOOL_BACKWARD,
    MTFL_CL_BATCHNORM_STATS,
    MTFL_CL_BATCHNORM_APPLY,
    MTFL_CL_BATCHNORM_SUMS,
    MTFL_CL_BATCHNORM_DX,
    MTFL_CL_CHANNEL_BIAS,
    MTFL_CL_PRELU,
    MTFL_CL_SOFTMAX,
    MTFL_CL_SOFTMAX_XENT,
    MTFL_CL_LANDMARK_LOSS,
    MTFL_CL_ADAM,
    MTFL_CL_SGD,
    MTFL_CL_KERNEL_COUNT
} mtfl_cl_kernel;

/* The reduction kernels keep one value and one index per work-item in local memory
 * sized for this many work-items (cl/reduce.cl uses the same number). */
#define MTFL_CL_MAX_GROUP 256

/* Writes in flight at once, and the host memory their copies may hold, before a write
 * waits for the queue (opencl_transfer.c). */
#define MTFL_CL_STAGED_WRITES 64
#define MTFL_CL_STAGED_BYTES ((size_t)256 << 20)

typedef struct {
    cl_platform_id platform;
    cl_device_id device;
    mtfl_device *owner;              /* the device this is the state of (its counters) */
    pthread_mutex_t lock;            /* guards everything below and kernel arguments */

    bool ready;                      /* context, queue, program and kernels exist */
    bool build_failed;               /* the kernels do not compile here: do not retry */
    mtfl_status build_status;
    char *build_message;             /* the error reported for the failed build */

    cl_context context;
    cl_command_queue queue;          /* in order: each op sees the results of the last */
    cl_program program;
    cl_kernel kernels[MTFL_CL_KERNEL_COUNT];
    size_t group_size[MTFL_CL_KERNEL_COUNT]; /* work-items per group, a power of two */
    size_t max_groups;               /* cap for grid-stride launches */

    cl_mem scratch_values;           /* partial results of two-pass reductions */
    cl_mem scratch_indices;
    size_t scratch_count;

    /* host copies of data being written to the device (opencl_transfer.c); guarded by lock */
    struct { cl_event done; void *host; size_t bytes; } staged[MTFL_CL_STAGED_WRITES];
    int staged_count;
    size_t staged_bytes;

} mtfl_opencl_device;

/* ---- errors (opencl_errors.c) ---- */
const char *mtfl_opencl_error_name(cl_int err);
const char *mtfl_opencl_clblast_name(int status);
/* Out-of-memory codes become MTFL_ERR_OOM (worth a GC and a retry), others BACKEND. */
mtfl_status mtfl_opencl_status_of(cl_int err);

#define MTFL_CL_FAIL(err, call, what)                                                  \
    MTFL_FAIL_HERE(mtfl_opencl_status_of(err), "opencl: %s(%s) failed: %s (%d)", call,  \
                   what, mtfl_opencl_error_name(err), (int)(err))

/* ---- device state (opencl_backend.c) ---- */
/* Initialises the device on first use and takes its lock; on failure the lock is not
 * held. Every success must be paired with mtfl_opencl_unlock. */
mtfl_status mtfl_opencl_lock(mtfl_device *dev, mtfl_opencl_device **out);
void mtfl_opencl_unlock(mtfl_opencl_device *cl);
/* Initialises the device on first use, without keeping the lock. */
mtfl_status mtfl_opencl_ready(mtfl_device *dev, mtfl_opencl_device **out);

/* ---- CLBlast (opencl_gemm.c) ---- */
mtfl_status mtfl_opencl_tune(mtfl_device *dev, const char *kernel, size_t count,
                             const char *const *names, const size_t *values);

/* ---- transfers (opencl_transfer.c) ---- */
mtfl_status mtfl_opencl_write(mtfl_device *dev, mtfl_buf dst, const float *src, size_t n);
mtfl_status mtfl_opencl_read(mtfl_device *dev, float *dst, mtfl_buf src, size_t n);
mtfl_status mtfl_opencl_synchronize(mtfl_device *dev);
/* Frees the host copies of finished writes; the caller holds cl->lock or is alone. */
void mtfl_opencl_reap_staged(mtfl_opencl_device *cl);

/* ---- kernel launches (opencl_launch.c) ---- */
typedef struct {
    size_t size;
    const void *value;
} mtfl_cl_arg;

#define MTFL_CL_ARG(x) ((mtfl_cl_arg){sizeof(x), &(x)})

/* Sets the arguments and enqueues at least enough work-items for `items` (kernels
 * loop over the rest: the global size is capped and rounded to whole groups). The
 * caller holds the device lock. */
mtfl_status mtfl_opencl_launch(mtfl_opencl_device *cl, mtfl_cl_kernel kernel, size_t items,
                               const mtfl_cl_arg *args, int nargs);

#define MTFL_CL_LAUNCH(cl, kernel, items, ...)                                          \
    mtfl_opencl_launch(cl, kernel, items, (const mtfl_cl_arg[]){__VA_ARGS__},           \
                       (int)(sizeof((const mtfl_cl_arg[]){__VA_ARGS__}) / sizeof(mtfl_cl_arg)))

const char *mtfl_opencl_kernel_name(mtfl_cl_kernel kernel);

/* ---- ops (opencl_ops.c, opencl_reduce.c, opencl_gemm.c) ---- */
mtfl_status mtfl_opencl_copy_strided(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, int ndim,
                                     const int64_t *shape, const int64_t *dst_stride,
                                     const int64_t *src_stride);
mtfl_status mtfl_opencl_fill(mtfl_device *dev, mtfl_buf dst, size_t n, float value);
mtfl_status mtfl_opencl_arange(mtfl_device *dev, mtfl_buf dst, size_t n, float start,
                               float step);
mtfl_status mtfl_opencl_random(mtfl_device *dev, mtfl_buf dst, size_t n, bool normal,
                               uint64_t seed, uint64_t counter, float a, float b);
mtfl_status mtfl_opencl_unary(mtfl_device *dev, mtfl_unary_op op, mtfl_buf dst, mtfl_buf x,
                              size_t n, float a, float b);
mtfl_status mtfl_opencl_binary(mtfl_device *dev, mtfl_binary_op op, mtfl_buf dst, mtfl_buf x,
                               mtfl_buf y, size_t n, float a);
mtfl_status mtfl_opencl_axpy(mtfl_device *dev, mtfl_buf y, float alpha, mtfl_buf x, size_t n);
mtfl_status mtfl_opencl_reduce(mtfl_device *dev, mtfl_reduce_op op, mtfl_buf dst, mtfl_buf x,
                               size_t outer, size_t len, size_t inner);
mtfl_status mtfl_opencl_gemm(mtfl_device *dev, bool trans_a, bool trans_b, size_t m, size_t n,
                             size_t k, float alpha, mtfl_buf a, size_t lda, size_t stride_a,
                             mtfl_buf b, size_t ldb, size_t stride_b, float beta, mtfl_buf c,
                             size_t ldc, size_t stride_c, size_t batch);

/* ---- neural-network layers (opencl_nn.c) ---- */
mtfl_status mtfl_opencl_im2col(mtfl_device *dev, mtfl_buf cols, mtfl_buf x, size_t batch,
                               size_t channels, size_t height, size_t width,
                               const mtfl_window *g, size_t out_h, size_t out_w);
mtfl_status mtfl_opencl_avgpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf x, size_t planes,
                                        size_t height, size_t width, const mtfl_window *g,
                                        size_t out_h, size_t out_w);
mtfl_status mtfl_opencl_avgpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy, size_t planes,
                                         size_t height, size_t width, const mtfl_window *g,
                                         size_t out_h, size_t out_w);
/* opencl_batchnorm.c */
mtfl_status mtfl_opencl_batchnorm_stats(mtfl_device *dev, mtfl_buf mean, mtfl_buf var,
                                        mtfl_buf running_mean, mtfl_buf running_var,
                                        mtfl_buf x, const mtfl_norm_dims *d);
mtfl_status mtfl_opencl_batchnorm_apply(mtfl_device *dev, mtfl_buf y, mtfl_buf x, mtfl_buf mean,
                                        mtfl_buf var, mtfl_buf weight, mtfl_buf bias,
                                        const mtfl_norm_dims *d);
mtfl_status mtfl_opencl_batchnorm_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dweight,
                                           mtfl_buf dbias, mtfl_buf sums, mtfl_buf dy, mtfl_buf x,
                                           mtfl_buf mean, mtfl_buf var, mtfl_buf weight,
                                           const mtfl_norm_dims *d, bool training);
mtfl_status mtfl_opencl_col2im(mtfl_device *dev, mtfl_buf dx, mtfl_buf cols, size_t batch,
                               size_t channels, size_t height, size_t width,
                               const mtfl_window *g, size_t out_h, size_t out_w);
mtfl_status mtfl_opencl_maxpool_forward(mtfl_device *dev, mtfl_buf y, mtfl_buf indices,
                                        mtfl_buf x, size_t planes, size_t height, size_t width,
                                        const mtfl_window *g, size_t out_h, size_t out_w);
mtfl_status mtfl_opencl_maxpool_backward(mtfl_device *dev, mtfl_buf dx, mtfl_buf dy,
                                         mtfl_buf indices, size_t planes, size_t height,
                                         size_t width, const mtfl_window *g, size_t out_h,
                                         size_t out_w);
mtfl_status mtfl_opencl_prelu(mtfl_device *dev, mtfl_buf dst, mtfl_buf src, mtfl_buf x,
                              mtfl_buf slope, size_t outer, size_t channels, size_t inner);
mtfl_status mtfl_opencl_channel_bias(mtfl_device *dev, mtfl_buf x, mtfl_buf bias, size_t outer,
                                     size_t channels, size_t inner);
mtfl_status mtfl_opencl_softmax(mtfl_device *dev, mtfl_buf probs, mtfl_buf logits, size_t rows,
                                size_t classes);
mtfl_status mtfl_opencl_softmax_xent(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                     mtfl_buf logits, mtfl_buf labels, size_t rows,
                                     size_t classes, int first_class, float grad_scale);
mtfl_status mtfl_opencl_adam(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf m,
                             mtfl_buf v, size_t n, float lr_t, float beta1, float beta2,
                             float eps_t, float weight_decay, float decay);
mtfl_status mtfl_opencl_landmark_loss(mtfl_device *dev, mtfl_buf loss, mtfl_buf grad,
                                      mtfl_buf prediction, mtfl_buf target, mtfl_buf weight,
                                      size_t rows, size_t cols, mtfl_landmark_kind kind, float a,
                                      float b, float c, float grad_scale);
mtfl_status mtfl_opencl_sgd(mtfl_device *dev, mtfl_buf param, mtfl_buf grad, mtfl_buf velocity,
                            size_t n, float lr, float momentum, float weight_decay);

#endif
