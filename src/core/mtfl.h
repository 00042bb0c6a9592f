/*
 * mtfl.h - the C core of mtfl-lua: float32 tensors on a CPU or an OpenCL device.
 *
 * A short tour.
 *
 *   mtfl_device *dev = mtfl_device_default();      // first OpenCL GPU, else the CPU
 *   int64_t shape[2] = {2, 3};
 *   mtfl_tensor *a = mtfl_tensor_new(dev, 2, shape);
 *   if (!a) fprintf(stderr, "%s\n", mtfl_last_error());
 *   mtfl_fill(a, 1.0f);
 *   mtfl_tensor *at = mtfl_tensor_transpose(a, 0, 1);   // a view: shares storage
 *   mtfl_tensor_release(at);
 *   mtfl_tensor_release(a);
 *
 * Conventions
 *   - Every function that can fail returns an mtfl_status (MTFL_OK is 0) or NULL, and
 *     leaves a message in mtfl_last_error(). The message starts with the name of the
 *     op and carries the shapes involved. That is the only error mechanism: nothing in
 *     the library prints, exits or aborts. The Lua bindings turn it into a Lua error.
 *   - Dimensions and indices are 0-based here; the Lua bindings are 1-based.
 *   - Tensors are views (shape, strides, offset) on a refcounted storage that lives on
 *     one device. Ops accept any strides; they gather non-contiguous inputs first.
 *     Outputs written in place must be contiguous.
 *   - Ops on tensors of different devices fail: copy explicitly with mtfl_copy.
 *   - OpenCL work is queued; mtfl_tensor_read and mtfl_synchronize wait for it.
 */
#ifndef MTFL_H
#define MTFL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MTFL_VERSION "0.1.0"
#define MTFL_MAX_DIMS 8

/* ---- errors ------------------------------------------------------------------- */

typedef enum {
    MTFL_OK = 0,
    MTFL_ERR_ARG,      /* bad argument: wrong shape, dim out of range, ... */
    MTFL_ERR_DEVICE,   /* mixed devices, unknown device, no OpenCL */
    MTFL_ERR_OOM,      /* the device (or host) is out of memory: worth a GC and a retry */
    MTFL_ERR_BACKEND,  /* a backend call failed (OpenCL error, kernel build failure) */
    MTFL_ERR_IO        /* file could not be read or written */
} mtfl_status;

const char *mtfl_last_error(void);
mtfl_status mtfl_last_status(void);
mtfl_status mtfl_fail(mtfl_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Failures inside a backend also record where in the C sources they happened. */
mtfl_status mtfl_fail_at(mtfl_status code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define MTFL_FAIL_HERE(code, ...) mtfl_fail_at(code, __FILE__, __LINE__, __VA_ARGS__)
void mtfl_clear_error(void);

/* ---- devices ------------------------------------------------------------------ */

typedef struct mtfl_backend mtfl_backend;

/* What a device has been asked to do since start-up (mtfl_device_stats_of). A step that
 * waits for the device more than once, or takes fresh memory in the steady state,
 * shows here. */
typedef struct {
    size_t launches;           /* kernels and GEMM routines enqueued (OpenCL; 0 on the CPU) */
    size_t blocking_reads;     /* tensor data read to the host, each waiting for the queue */
    size_t synchronizations;   /* waits for the whole queue (mtfl_synchronize) */
    size_t bytes_to_device;    /* written into tensors from host memory */
    size_t bytes_to_host;      /* read from tensors into host memory */
    size_t allocations;        /* buffers taken fresh from the driver or the system */
    size_t cached_allocations; /* buffers handed out again from the backend's cache */
} mtfl_device_stats;

typedef struct mtfl_device {
    const mtfl_backend *backend;
    char id[32];              /* "cpu", "opencl:0", ... the name users select with */
    char name[128];           /* what the hardware calls itself */
    char platform[128];       /* OpenCL platform name, or "host" */
    char driver[64];          /* the driver's version (OpenCL), or "" */
    char tuned[64];           /* the GEMM kernels given tuned parameters, or "" */
    int platform_index;       /* OpenCL's numbering of platform and device within it, */
    int platform_device;      /* as CLBlast's tuners take them; -1 on the CPU */
    bool is_gpu;
    int compute_units;
    size_t memory;            /* bytes of global memory */
    size_t max_alloc;         /* largest single buffer, bytes */
    size_t memory_limit;      /* budget for mtfl's tensors on this device; 0 = memory
                                 (set with mtfl_device_set_memory_limit) */
    size_t bytes_in_use;      /* bytes of live storages (the convolution workspace too) */
    size_t bytes_cached;      /* released blocks kept for reuse; they count against the budget */
    size_t peak_bytes;        /* the most in use and cached at once (mtfl_device_reset_peak) */
    size_t oom_retries;       /* allocations the out-of-memory handler made room for */
    mtfl_device_stats stats;  /* counted atomically; read with mtfl_device_stats_of */
    void *impl;               /* backend-private state */
} mtfl_device;

/* The devices, CPU first. OpenCL is probed on the first call; with no OpenCL platform
 * the list is just the CPU and mtfl_opencl_notice() says why. */
int mtfl_device_count(void);
mtfl_device *mtfl_device_at(int index);
/* "cpu", "opencl", "opencl:N", "gpu" (first OpenCL GPU). NULL + error when not found. */
mtfl_device *mtfl_device_find(const char *spec);
/* The device new tensors go to: set by mtfl_device_set_default, else $MTFL_DEVICE,
 * else the first OpenCL GPU, else the CPU. */
mtfl_device *mtfl_device_default(void);
void mtfl_device_set_default(mtfl_device *dev);
mtfl_device *mtfl_device_cpu(void);
const char *mtfl_device_backend(const mtfl_device *dev); /* "cpu" or "opencl" */
/* Why no OpenCL device is listed, or NULL if OpenCL was found. */
const char *mtfl_opencl_notice(void);
/* Why the CPU backend runs slower than it could (OpenBLAS fell back to its generic
 * kernels on a CPU it does not know), or NULL. */
const char *mtfl_blas_notice(void);
/* What the CPU's GEMM is: OpenBLAS's build line ("OpenBLAS 0.3.21 DYNAMIC_ARCH ...") and
 * the kernels it chose for this CPU; CLBlast's version as it was built against. For the
 * record a run keeps of what made it. */
const char *mtfl_blas_version(void);
const char *mtfl_blas_core(void);
const char *mtfl_clblast_version(void);
mtfl_status mtfl_synchronize(mtfl_device *dev);
void mtfl_device_reset_peak(mtfl_device *dev);
/* A budget for tensors on dev (0: all of its memory), e.g. to run as on a 2 GiB GPU;
 * cached blocks beyond it go back to the driver. */
void mtfl_device_set_memory_limit(mtfl_device *dev, size_t bytes);
/* Hands the device's cached blocks back to its driver (or the system). An allocation
 * that would not fit the budget does this by itself first. */
void mtfl_device_release_cache(mtfl_device *dev);
/* Tuned parameters for one GEMM kernel of an OpenCL device ("Xgemm", "XgemmDirect":
 * CLBlast's names), as scripts/tune.lua measures them; later GEMMs on the device use
 * them. The CPU has nothing to tune (MTFL_ERR_DEVICE). */
mtfl_status mtfl_device_tune(mtfl_device *dev, const char *kernel, size_t count,
                             const char *const *names, const size_t *values);
/* The counters, each read atomically (they may move while being read). */
mtfl_device_stats mtfl_device_stats_of(const mtfl_device *dev);

/* What the calling thread does when an allocation does not fit its device's budget or
 * the device itself: the handler may free memory (the Lua binding runs a full garbage
 * collection, since garbage tensors hold device memory Lua's collector cannot see)
 * and returns true to have that one allocation tried again. Only the allocation is
 * retried, never an op, so an op that has already written part of its results
 * finishes with the same results as without the shortage. Per thread: the data
 * loader's threads have none. NULL removes it. */
typedef bool (*mtfl_oom_handler)(void *ctx, mtfl_device *dev, size_t bytes);
void mtfl_set_oom_handler(mtfl_oom_handler handler, void *ctx);
void *mtfl_oom_handler_context(void);

/* ---- tensors ------------------------------------------------------------------ */

typedef struct mtfl_storage {
    mtfl_device *device;
    void *handle;             /* float* on the CPU, cl_mem on OpenCL */
    size_t numel;
    int refcount;
} mtfl_storage;

typedef struct mtfl_tensor {
    mtfl_storage *storage;    /* NULL once released */
    size_t offset;            /* in elements */
    int ndim;
    int64_t shape[MTFL_MAX_DIMS];
    int64_t stride[MTFL_MAX_DIMS];
} mtfl_tensor;

/* A new contiguous tensor; contents undefined. ndim may be 0 (a scalar). */
mtfl_tensor *mtfl_tensor_new(mtfl_device *dev, int ndim, const int64_t *shape);
/* Drops this view; the storage goes when its last view does. NULL is fine. */
void mtfl_tensor_release(mtfl_tensor *t);

size_t mtfl_numel(const mtfl_tensor *t);
bool mtfl_is_contiguous(const mtfl_tensor *t);
mtfl_device *mtfl_tensor_device(const mtfl_tensor *t);
/* "[2x3x4]" into buf; returns buf. */
const char *mtfl_shape_str(const mtfl_tensor *t, char *buf, size_t size);
const char *mtfl_dims_str(int ndim, const int64_t *shape, char *buf, size_t size);
bool mtfl_same_shape(const mtfl_tensor *a, const mtfl_tensor *b);

/* Views share storage with t. reshape needs a contiguous t; a -1 entry is inferred. */
mtfl_tensor *mtfl_tensor_reshape(const mtfl_tensor *t, int ndim, const int64_t *shape);
mtfl_tensor *mtfl_tensor_narrow(const mtfl_tensor *t, int dim, int64_t start, int64_t length);
mtfl_tensor *mtfl_tensor_select(const mtfl_tensor *t, int dim, int64_t index);
mtfl_tensor *mtfl_tensor_transpose(const mtfl_tensor *t, int dim0, int dim1);
mtfl_tensor *mtfl_tensor_view(const mtfl_tensor *t);
/* t itself (a new reference) when contiguous, else a contiguous copy. */
mtfl_tensor *mtfl_tensor_contiguous(const mtfl_tensor *t);
mtfl_tensor *mtfl_tensor_clone(const mtfl_tensor *t);
/* A copy of t on dev (t itself, a new reference, when already there). */
mtfl_tensor *mtfl_tensor_to(const mtfl_tensor *t, mtfl_device *dev);

/* Host <-> tensor. n must equal numel; host data is row-major. */
mtfl_status mtfl_tensor_write(mtfl_tensor *t, const float *src, size_t n);
mtfl_status mtfl_tensor_read(const mtfl_tensor *t, float *dst, size_t n);

/* ---- ops ---------------------------------------------------------------------- */

/* dst <- src, any strides, any devices; shapes must match (numel equal when
 * shapes differ but both are contiguous). */
mtfl_status mtfl_copy(mtfl_tensor *dst, const mtfl_tensor *src);
mtfl_status mtfl_fill(mtfl_tensor *t, float value);
mtfl_status mtfl_arange(mtfl_tensor *t, float start, float step);

/* Counter-based RNG: element i of a draw is a pure function of (seed, counter + i), so
 * every backend produces the same numbers for the same seed. */
void mtfl_manual_seed(uint64_t seed);
uint64_t mtfl_rng_seed(void);
uint64_t mtfl_rng_counter(void);
void mtfl_rng_set_state(uint64_t seed, uint64_t counter);
mtfl_status mtfl_uniform(mtfl_tensor *t, float low, float high);
mtfl_status mtfl_normal(mtfl_tensor *t, float mean, float stddev);

typedef enum {
    MTFL_UNARY_NEG, MTFL_UNARY_ABS, MTFL_UNARY_EXP, MTFL_UNARY_LOG, MTFL_UNARY_SQRT,
    MTFL_UNARY_RELU, MTFL_UNARY_TANH, MTFL_UNARY_SIGMOID,
    MTFL_UNARY_ADD_SCALAR,   /* x + a */
    MTFL_UNARY_MUL_SCALAR,   /* x * a */
    MTFL_UNARY_RSUB_SCALAR,  /* a - x */
    MTFL_UNARY_RDIV_SCALAR,  /* a / x */
    MTFL_UNARY_POW_SCALAR,   /* x ^ a */
    MTFL_UNARY_RPOW_SCALAR,  /* a ^ x */
    MTFL_UNARY_CLAMP,        /* min(max(x, a), b) */
    MTFL_UNARY_STEP,         /* x >= a ? b : 0 (dropout masks) */
    MTFL_UNARY_LEAKY_RELU,   /* x > 0 ? x : a * x */
    MTFL_UNARY_ABS_TANH,     /* |tanh(x)| (TCDCN's activation) */
    MTFL_UNARY_COUNT
} mtfl_unary_op;

typedef enum {
    MTFL_BINARY_ADD, MTFL_BINARY_SUB, MTFL_BINARY_MUL, MTFL_BINARY_DIV,
    MTFL_BINARY_POW, MTFL_BINARY_MAX, MTFL_BINARY_MIN,
    /* activation gradients from the output: x = dL/dy, y = the activation's output */
    MTFL_BINARY_RELU_GRAD,    /* y > 0 ? x : 0 */
    MTFL_BINARY_TANH_GRAD,    /* x * (1 - y^2) */
    MTFL_BINARY_SIGMOID_GRAD, /* x * y * (1 - y) */
    /* gradients that need the activation's input: x = dL/dy, y = the input */
    MTFL_BINARY_LEAKY_RELU_GRAD, /* y > 0 ? x : a * x (mtfl_binary_param's a) */
    MTFL_BINARY_ABS_TANH_GRAD,   /* x * sign(y) * (1 - tanh(y)^2) */
    MTFL_BINARY_PRELU_SLOPE_GRAD, /* y > 0 ? 0 : x * y (summed per channel afterwards) */
    MTFL_BINARY_COUNT
} mtfl_binary_op;

typedef enum {
    MTFL_REDUCE_SUM, MTFL_REDUCE_MEAN, MTFL_REDUCE_MAX, MTFL_REDUCE_MIN,
    MTFL_REDUCE_ARGMAX, MTFL_REDUCE_ARGMIN,
    MTFL_REDUCE_COUNT
} mtfl_reduce_op;

const char *mtfl_unary_name(mtfl_unary_op op);
const char *mtfl_binary_name(mtfl_binary_op op);
const char *mtfl_reduce_name(mtfl_reduce_op op);

/* dst may alias x (in place). dst and x have the same shape. */
mtfl_status mtfl_unary(mtfl_unary_op op, mtfl_tensor *dst, const mtfl_tensor *x, float a, float b);
/* x and y broadcast as in NumPy (sizes equal or 1, aligned from the last dimension);
 * dst has the broadcast shape. */
mtfl_status mtfl_binary(mtfl_binary_op op, mtfl_tensor *dst, const mtfl_tensor *x, const mtfl_tensor *y);
/* mtfl_binary for the ops that take a number as well (the leaky slope); mtfl_binary
 * passes 0. */
mtfl_status mtfl_binary_param(mtfl_binary_op op, mtfl_tensor *dst, const mtfl_tensor *x,
                              const mtfl_tensor *y, float a);
/* The broadcast shape of a and b. Returns ndim, or -1 with an error naming op. */
int mtfl_broadcast_shape(const char *op, const mtfl_tensor *a, const mtfl_tensor *b, int64_t *shape);
/* A view of t with size-1 dimensions repeated (stride 0) to shape. */
mtfl_tensor *mtfl_tensor_expand(const mtfl_tensor *t, int ndim, const int64_t *shape);
/* y <- y + alpha * x */
mtfl_status mtfl_axpy(mtfl_tensor *y, float alpha, const mtfl_tensor *x);

/* Reduce over dim (dst has that dim removed, or kept with size 1: only numel
 * matters), or over all elements with dim = -1 (dst has one element). Arg-reductions
 * write the index as a float (exact below 2^24), the first one on ties. */
mtfl_status mtfl_reduce(mtfl_reduce_op op, mtfl_tensor *dst, const mtfl_tensor *x, int dim);
/* The output shape of a reduction over dim (or all, dim = -1). Returns ndim. */
int mtfl_reduce_shape(const mtfl_tensor *x, int dim, bool keepdim, int64_t *shape);

/* Joins tensors of one device along dim (0-based): cat keeps the number of
 * dimensions (all shapes equal except along dim), stack inserts a new dimension dim of
 * size count (all shapes equal). One copy per input, into a view of dst. The shape
 * functions check the inputs (errors name op, the position of the tensor, 1-based,
 * and the shapes) and return ndim, or -1 with an error. */
int mtfl_cat_shape(const mtfl_tensor *const *inputs, int count, int dim, int64_t *shape);
int mtfl_stack_shape(const mtfl_tensor *const *inputs, int count, int dim, int64_t *shape);
mtfl_status mtfl_cat(mtfl_tensor *dst, const mtfl_tensor *const *inputs, int count, int dim);
mtfl_status mtfl_stack(mtfl_tensor *dst, const mtfl_tensor *const *inputs, int count, int dim);

/* C <- alpha * op(A) op(B) + beta * C, 2-D ([M,K] x [K,N]) or batched 3-D
 * ([B,M,K] x [B,K,N]; a 2-D operand is shared by the whole batch). op transposes
 * the last two dims when the flag is set. C must be contiguous. */
mtfl_status mtfl_matmul(mtfl_tensor *c, const mtfl_tensor *a, const mtfl_tensor *b,
                        bool trans_a, bool trans_b, float alpha, float beta);
/* The shape of matmul's result; returns ndim, or -1 with an error. */
int mtfl_matmul_shape(const mtfl_tensor *a, const mtfl_tensor *b, bool trans_a,
                      bool trans_b, int64_t *shape);

/* uint8 images <-> float tensors. Pixels are height x width x channels (HWC, as
 * decoders give them); the tensor is [C,H,W] (chw) or [H,W,C]; value = pixel * scale.
 * to_bytes clamps value / scale to [0, 255] and rounds. */
mtfl_status mtfl_from_bytes(mtfl_tensor *t, const uint8_t *pixels, int height, int width,
                            int channels, bool chw, float scale);
mtfl_status mtfl_to_bytes(const mtfl_tensor *t, uint8_t *pixels, int height, int width,
                          int channels, bool chw, float scale);

/* ---- neural-network ops (nn.c) -------------------------------------------------- */

/* A sliding window over the last two dimensions of [N, C, H, W]. */
typedef struct {
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;      /* zeros for convolution, -inf for pooling */
    bool ceil_mode;        /* pooling: round the output size up (the seed's 75 -> 38) */
} mtfl_window;

/* Output size along one dimension; -1 when the window does not fit. In ceil mode the
 * last window must still start inside the input or its left padding. */
int64_t mtfl_window_output(int64_t in, int kernel, int stride, int pad, bool ceil_mode);

/* The output shape of each layer op, from its input shapes: [N, F, OH, OW] for a
 * convolution of x [N, C, H, W] with weights [F, C, KH, KW]; [N, C, OH, OW] for
 * pooling. MTFL_OK, or an error saying what does not fit. The ops check their
 * arguments with the same rules, and the Lua modules infer shapes with them. */
mtfl_status mtfl_conv2d_shape(int x_ndim, const int64_t *x_shape, int w_ndim,
                              const int64_t *w_shape, const mtfl_window *g, int64_t *out);
mtfl_status mtfl_maxpool2d_shape(int ndim, const int64_t *x_shape, const mtfl_window *g,
                                 int64_t *out);
mtfl_status mtfl_avgpool2d_shape(int ndim, const int64_t *x_shape, const mtfl_window *g,
                                 int64_t *out);

/* Convolution of x [N, C, H, W] with w [F, C, KH, KW] plus bias [F] (may be NULL) into
 * y [N, F, OH, OW]: im2col over as many samples at once as the workspace limit allows,
 * then one GEMM per group of samples. */
mtfl_status mtfl_conv2d_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_tensor *w,
                                const mtfl_tensor *bias, const mtfl_window *g);
/* Gradients from dy: dx is overwritten; dw and dbias are accumulated into (+=), as
 * Torch's accGradParameters does. Any of the three may be NULL to skip it. */
mtfl_status mtfl_conv2d_backward(mtfl_tensor *dx, mtfl_tensor *dw, mtfl_tensor *dbias,
                                 const mtfl_tensor *dy, const mtfl_tensor *x,
                                 const mtfl_tensor *w, const mtfl_window *g);
/* Bytes of device memory a convolution may use for its im2col buffers: set for every
 * device (0, the default: each device's own, an eighth of its budget between 32 MiB
 * and 1 GiB, which is 256 MiB on a 2 GiB GPU), and the limit in force on dev. */
void mtfl_set_workspace_limit(size_t bytes);
size_t mtfl_workspace_limit(const mtfl_device *dev);
/* Frees the convolution workspaces of every device (the next convolution allocates
 * its own again), returning their memory to the devices' budgets. */
void mtfl_release_workspaces(void);

/* Max pooling of x [N, C, H, W] into y [N, C, OH, OW]; indices (same shape as y) get the
 * position of each maximum within its H x W plane, for the backward pass. */
mtfl_status mtfl_maxpool2d_forward(mtfl_tensor *y, mtfl_tensor *indices, const mtfl_tensor *x,
                                   const mtfl_window *g);
/* dx [N, C, H, W] is overwritten with dy routed back through indices. */
mtfl_status mtfl_maxpool2d_backward(mtfl_tensor *dx, const mtfl_tensor *dy,
                                    const mtfl_tensor *indices, const mtfl_window *g);

/* Average pooling of x [N, C, H, W] into y [N, C, OH, OW]. Each output is the mean of
 * the window's elements that lie inside the plane: zero padding and the part of a
 * ceil-mode window beyond the edge are not counted (PyTorch's count_include_pad =
 * False). */
mtfl_status mtfl_avgpool2d_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_window *g);
/* dx [N, C, H, W] is overwritten: each position gets dy / count of every window over it. */
mtfl_status mtfl_avgpool2d_backward(mtfl_tensor *dx, const mtfl_tensor *dy, const mtfl_window *g);

/* Batch normalisation of x [N, C, ...] per channel (batchnorm.c), over the N samples
 * and every position after C. training: mean and var [C] get the batch's mean and
 * biased variance (two passes, accumulated in double), running_mean and running_var
 * (both or neither) move toward them by momentum, the variance unbiased as PyTorch
 * does, and fewer than 2 values per channel is an error. Otherwise mean and var are
 * read (the running statistics). y = (x - mean) / sqrt(var + eps) * weight + bias;
 * weight and bias [C] may be NULL (1 and 0). */
mtfl_status mtfl_batchnorm_forward(mtfl_tensor *y, mtfl_tensor *mean, mtfl_tensor *var,
                                   mtfl_tensor *running_mean, mtfl_tensor *running_var,
                                   const mtfl_tensor *x, const mtfl_tensor *weight,
                                   const mtfl_tensor *bias, bool training, float momentum,
                                   float eps);
/* Gradients from dy with the mean and var forward used: dx is overwritten, dweight and
 * dbias are accumulated into (+=); any of the three may be NULL. training: the full
 * gradient through the batch statistics; otherwise that of the affine map with the
 * statistics fixed. */
mtfl_status mtfl_batchnorm_backward(mtfl_tensor *dx, mtfl_tensor *dweight, mtfl_tensor *dbias,
                                    const mtfl_tensor *dy, const mtfl_tensor *x,
                                    const mtfl_tensor *mean, const mtfl_tensor *var,
                                    const mtfl_tensor *weight, bool training, float eps);

/* x += bias broadcast along dimension dim of x (x viewed as [outer, C, inner]). */
mtfl_status mtfl_add_channel_bias(mtfl_tensor *x, const mtfl_tensor *bias, int dim);

/* Parametric ReLU with one slope per channel (dimension 1 of x, 0-based) or one shared
 * slope (slope has one element): y = x > 0 ? x : slope[c] * x. The backward overwrites
 * dx (may be NULL) and accumulates the slope's gradient into dslope (may be NULL, +=
 * as for the other layers' parameters). */
mtfl_status mtfl_prelu_forward(mtfl_tensor *y, const mtfl_tensor *x, const mtfl_tensor *slope);
mtfl_status mtfl_prelu_backward(mtfl_tensor *dx, mtfl_tensor *dslope, const mtfl_tensor *dy,
                                const mtfl_tensor *x, const mtfl_tensor *slope);

/* Row-wise softmax of [N, K]. */
mtfl_status mtfl_softmax(mtfl_tensor *probs, const mtfl_tensor *logits);
/* Softmax cross-entropy of logits [N, K] against labels [N] (class numbers
 * first_class..first_class+K-1 as floats: 0 in C, 1 from Lua): loss [N] gets -log
 * p(label) per sample, computed stably, and grad [N, K] (may be NULL) gets
 * grad_scale * (softmax - onehot). The labels are not read back to the host (that
 * would wait for the device): a label that is not a class number makes its sample's
 * loss and gradient row NaN, and mtfl_check_labels names it. */
mtfl_status mtfl_softmax_cross_entropy(mtfl_tensor *loss, mtfl_tensor *grad,
                                       const mtfl_tensor *logits, const mtfl_tensor *labels,
                                       int first_class, float grad_scale);
/* Reads labels [N] and fails, naming the first sample (numbered from first_class too),
 * when one is not a class number first_class..first_class+classes-1. */
mtfl_status mtfl_check_labels(const mtfl_tensor *labels, int64_t classes, int first_class);

/* The per-coordinate penalties of mtfl_landmark_loss, of d = prediction - target. */
typedef enum {
    MTFL_LANDMARK_L2,         /* d^2 / 2 */
    MTFL_LANDMARK_L1,         /* |d| (gradient 0 at d = 0) */
    MTFL_LANDMARK_SMOOTH_L1,  /* |d| < beta ? d^2 / (2 beta) : |d| - beta / 2 */
    MTFL_LANDMARK_WING        /* |d| < w ? w ln(1 + |d| / epsilon) : |d| - C (Feng et al. 2018) */
} mtfl_landmark_kind;

typedef struct {
    mtfl_landmark_kind kind;
    float w, epsilon;   /* wing: in the targets' units; C = w - w ln(1 + w / epsilon) */
    float beta;         /* smooth L1 */
} mtfl_landmark_loss_config;

/* Landmark regression of prediction [N, D] against target [N, D]: loss [N] gets
 * weight[n] * sum_k f(d_nk) and grad [N, D] (may be NULL) gets
 * grad_scale * weight[n] * f'(d_nk). weight [N] may be NULL (every face weighs 1): a
 * face's weight is how its loss is normalised (1 / its inter-ocular distance). */
mtfl_status mtfl_landmark_loss(mtfl_tensor *loss, mtfl_tensor *grad, const mtfl_tensor *prediction,
                               const mtfl_tensor *target, const mtfl_tensor *weight,
                               const mtfl_landmark_loss_config *c, float grad_scale);

typedef struct {
    float lr, beta1, beta2, eps;
    float weight_decay;    /* L2: adds weight_decay * param to the gradient */
    /* AdamW (Loshchilov & Hutter): param -= lr * decoupled_weight_decay * param, beside
     * the moment update rather than through it */
    float decoupled_weight_decay;
} mtfl_adam_config;

/* One Adam step (Kingma & Ba, with bias correction for step >= 1) over all elements
 * at once: param, grad, m and v have the same shape and device (typically one flat
 * buffer holding every parameter of a network). */
mtfl_status mtfl_adam_step(mtfl_tensor *param, const mtfl_tensor *grad, mtfl_tensor *m,
                           mtfl_tensor *v, const mtfl_adam_config *c, int64_t step);
/* SGD with momentum (velocity may be NULL when momentum is 0) and L2 weight decay:
 * v <- momentum v + (grad + wd param); param <- param - lr v. */
mtfl_status mtfl_sgd_step(mtfl_tensor *param, const mtfl_tensor *grad, mtfl_tensor *velocity,
                          float lr, float momentum, float weight_decay);

#endif
