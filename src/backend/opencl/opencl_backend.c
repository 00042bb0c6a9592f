/*
 * opencl_backend.c - OpenCL devices: probing, lazy set-up, buffers and host transfers.
 *
 * Probing only asks questions (names, sizes): creating contexts and compiling kernels
 * costs seconds on some drivers and memory on every GPU, so a device pays for that on
 * its first use, not because it was listed. Each device then gets one context and one
 * in-order queue: ops need no events because each one sees the results of the last,
 * and a blocking read is the one point where the host waits (and where errors of
 * earlier kernels surface). A per-device mutex guards the lazy set-up and the kernel
 * arguments, which OpenCL does not make thread-safe, since the data loader thread may
 * use a device too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "opencl_internal.h"

extern const char mtfl_opencl_source[];
extern const size_t mtfl_opencl_source_size;

/* Long enough to show the first compiler errors; the core's message buffer is 2 KB. */
#define BUILD_LOG_LIMIT 1400

/* ---- probing ------------------------------------------------------------------- */

static void device_string(cl_device_id device, cl_device_info what, char *out, size_t size)
{
    if (clGetDeviceInfo(device, what, size, out, NULL) != CL_SUCCESS)
        snprintf(out, size, "unknown");
    out[size - 1] = '\0';
}

static void describe_device(mtfl_device *dev, int index, cl_platform_id platform,
                            cl_device_id device, int platform_index, int platform_device)
{
    memset(dev, 0, sizeof *dev);
    dev->platform_index = platform_index;
    dev->platform_device = platform_device;
    dev->backend = &mtfl_opencl_backend;
    snprintf(dev->id, sizeof dev->id, "opencl:%d", index);
    device_string(device, CL_DEVICE_NAME, dev->name, sizeof dev->name);
    device_string(device, CL_DRIVER_VERSION, dev->driver, sizeof dev->driver);
    if (clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof dev->platform, dev->platform,
                          NULL) != CL_SUCCESS)
        snprintf(dev->platform, sizeof dev->platform, "unknown");
    dev->platform[sizeof dev->platform - 1] = '\0';

    cl_device_type type = 0;
    cl_uint units = 0;
    cl_ulong memory = 0, max_alloc = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof memory, &memory, NULL);
    clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
    dev->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
    dev->compute_units = (int)units;
    dev->memory = (size_t)memory;
    dev->max_alloc = (size_t)max_alloc;
}

static mtfl_opencl_device *new_device_state(cl_platform_id platform, cl_device_id device)
{
    mtfl_opencl_device *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->platform = platform;
    cl->device = device;
    pthread_mutex_init(&cl->lock, NULL);
    return cl;
}

/* Appends the devices of one platform; returns how many. */
static int probe_platform(cl_platform_id platform, int platform_index, mtfl_device *list,
                          int first, int max)
{
    cl_uint count = 0;
    if (clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &count) != CL_SUCCESS || !count)
        return 0;
    cl_device_id *devices = malloc(count * sizeof *devices);
    if (!devices || clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, devices, NULL)) {
        free(devices);
        return 0;
    }
    int added = 0;
    for (cl_uint i = 0; i < count && first + added < max; i++) {
        mtfl_opencl_device *state = new_device_state(platform, devices[i]);
        if (!state)
            break;
        describe_device(&list[first + added], first + added, platform, devices[i],
                        platform_index, (int)i);
        list[first + added].impl = state;
        state->owner = &list[first + added];
        added++;
    }
    free(devices);
    return added;
}

int mtfl_opencl_probe(mtfl_device *list, int max, const char **notice)
{
    static char reason[160];
    cl_uint platform_count = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &platform_count);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && platform_count == 0)) {
        *notice = "no OpenCL platform found (the OpenCL ICD loader reports none); "
                  "using the CPU backend";
        return 0;
    }
    if (err != CL_SUCCESS) {
        snprintf(reason, sizeof reason,
                 "OpenCL is unusable: clGetPlatformIDs failed with %s (%d); using the CPU "
                 "backend", mtfl_opencl_error_name(err), (int)err);
        *notice = reason;
        return 0;
    }
    cl_platform_id *platforms = malloc(platform_count * sizeof *platforms);
    if (!platforms || clGetPlatformIDs(platform_count, platforms, NULL) != CL_SUCCESS) {
        free(platforms);
        *notice = "OpenCL platforms could not be listed; using the CPU backend";
        return 0;
    }
    int added = 0;
    for (cl_uint p = 0; p < platform_count && added < max; p++)
        added += probe_platform(platforms[p], (int)p, list, added, max);
    free(platforms);
    if (!added)
        *notice = "OpenCL platforms were found but they offer no device; using the CPU "
                  "backend";
    return added;
}

/* ---- lazy set-up: context, queue, program, kernels -------------------------------- */

static void tear_down(mtfl_opencl_device *cl)
{
    for (int k = 0; k < MTFL_CL_KERNEL_COUNT; k++) {
        if (cl->kernels[k])
            clReleaseKernel(cl->kernels[k]);
        cl->kernels[k] = NULL;
    }
    if (cl->program)
        clReleaseProgram(cl->program);
    if (cl->queue)
        clReleaseCommandQueue(cl->queue);
    if (cl->context)
        clReleaseContext(cl->context);
    cl->program = NULL;
    cl->queue = NULL;
    cl->context = NULL;
}

/* Remembers a failed compilation: it would fail the same way on every later call. */
static mtfl_status build_failure(mtfl_device *dev, mtfl_opencl_device *cl, cl_int err)
{
    char log[BUILD_LOG_LIMIT + 1] = "";
    size_t log_size = 0;
    clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
    if (log_size > 1) {
        char *full = malloc(log_size);
        if (full && clGetProgramBuildInfo(cl->program, cl->device, CL_PROGRAM_BUILD_LOG,
                                          log_size, full, NULL) == CL_SUCCESS) {
            snprintf(log, sizeof log, "%s", full);
            if (log_size - 1 > BUILD_LOG_LIMIT)
                snprintf(log + BUILD_LOG_LIMIT - 20, 21, "\n[log truncated]");
        }
        free(full);
    }
    mtfl_status status = MTFL_FAIL_HERE(
        MTFL_ERR_BACKEND, "opencl: building the kernels for %s failed: %s (%d)\n%s",
        dev->name, mtfl_opencl_error_name(err), (int)err, log);
    cl->build_failed = true;
    cl->build_status = status;
    cl->build_message = strdup(mtfl_last_error());
    return status;
}

static mtfl_status choose_group_sizes(mtfl_device *dev, mtfl_opencl_device *cl)
{
    size_t device_max = 0;
    clGetDeviceInfo(cl->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof device_max,
                    &device_max, NULL);
    for (int k = 0; k < MTFL_CL_KERNEL_COUNT; k++) {
        size_t kernel_max = 0;
        cl_int err = clGetKernelWorkGroupInfo(cl->kernels[k], cl->device,
                                              CL_KERNEL_WORK_GROUP_SIZE, sizeof kernel_max,
                                              &kernel_max, NULL);
        if (err != CL_SUCCESS)
            return MTFL_CL_FAIL(err, "clGetKernelWorkGroupInfo", mtfl_opencl_kernel_name(k));
        size_t limit = MTFL_CL_MAX_GROUP;
        if (device_max && device_max < limit)
            limit = device_max;
        if (kernel_max && kernel_max < limit)
            limit = kernel_max;
        size_t size = 1;
        while (size * 2 <= limit)
            size *= 2;
        cl->group_size[k] = size;
    }
    int units = dev->compute_units > 0 ? dev->compute_units : 1;
    cl->max_groups = (size_t)units * 64;
    return MTFL_OK;
}

static mtfl_status create_kernels(mtfl_device *dev, mtfl_opencl_device *cl)
{
    for (int k = 0; k < MTFL_CL_KERNEL_COUNT; k++) {
        cl_int err;
        cl->kernels[k] = clCreateKernel(cl->program, mtfl_opencl_kernel_name(k), &err);
        if (err != CL_SUCCESS)
            return MTFL_CL_FAIL(err, "clCreateKernel", mtfl_opencl_kernel_name(k));
    }
    return choose_group_sizes(dev, cl);
}

static mtfl_status build_program(mtfl_device *dev, mtfl_opencl_device *cl)
{
    const char *source = mtfl_opencl_source;
    size_t size = mtfl_opencl_source_size;
    cl_int err;
    cl->program = clCreateProgramWithSource(cl->context, 1, &source, &size, &err);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clCreateProgramWithSource", dev->name);
    /* No -cl-fast-relaxed-math: results must match the CPU backend to 1e-5. */
    err = clBuildProgram(cl->program, 1, &cl->device, "-cl-std=CL1.2", NULL, NULL);
    if (err != CL_SUCCESS)
        return build_failure(dev, cl, err);
    return create_kernels(dev, cl);
}

static mtfl_status set_up(mtfl_device *dev, mtfl_opencl_device *cl)
{
    cl_context_properties properties[] = {CL_CONTEXT_PLATFORM,
                                          (cl_context_properties)cl->platform, 0};
    cl_int err;
    cl->context = clCreateContext(properties, 1, &cl->device, NULL, NULL, &err);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clCreateContext", dev->name);
    cl->queue = clCreateCommandQueue(cl->context, cl->device, 0, &err);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clCreateCommandQueue", dev->name);
    return build_program(dev, cl);
}

/* ---- draining at exit ----------------------------------------------------------- */

/* A program may end with kernels still queued. PoCL compiles a kernel when it first
 * runs, and doing that while exit() tears down its compiler aborts the process, so
 * every started queue is drained before the drivers' own exit handlers run (atexit
 * handlers run in reverse order, and ours is registered after the driver loaded). */
#define MAX_STARTED 64
static mtfl_opencl_device *started[MAX_STARTED];
static int started_count;
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;

static void drain_started_queues(void)
{
    pthread_mutex_lock(&started_lock);
    for (int i = 0; i < started_count; i++) {
        clFinish(started[i]->queue);
        mtfl_opencl_reap_staged(started[i]);
    }
    pthread_mutex_unlock(&started_lock);
}

static void remember_started(mtfl_opencl_device *cl)
{
    pthread_mutex_lock(&started_lock);
    if (started_count == 0)
        atexit(drain_started_queues);
    if (started_count < MAX_STARTED)
        started[started_count++] = cl;
    pthread_mutex_unlock(&started_lock);
}

mtfl_status mtfl_opencl_lock(mtfl_device *dev, mtfl_opencl_device **out)
{
    mtfl_opencl_device *cl = dev->impl;
    pthread_mutex_lock(&cl->lock);
    if (!cl->ready && cl->build_failed) {
        mtfl_status status = mtfl_fail(cl->build_status, "%s",
                                       cl->build_message ? cl->build_message : "opencl: "
                                       "the kernels failed to build earlier");
        pthread_mutex_unlock(&cl->lock);
        return status;
    }
    if (!cl->ready) {
        mtfl_status status = set_up(dev, cl);
        if (status != MTFL_OK) {
            tear_down(cl);
            pthread_mutex_unlock(&cl->lock);
            return status;
        }
        cl->ready = true;
        remember_started(cl);
    }
    *out = cl;
    return MTFL_OK;
}

void mtfl_opencl_unlock(mtfl_opencl_device *cl) { pthread_mutex_unlock(&cl->lock); }

/* For calls that need the context or queue but no kernel arguments: they run unlocked
 * so that a long blocking transfer does not hold up other threads. */
mtfl_status mtfl_opencl_ready(mtfl_device *dev, mtfl_opencl_device **out)
{
    mtfl_status status = mtfl_opencl_lock(dev, out);
    if (status == MTFL_OK)
        mtfl_opencl_unlock(*out);
    return status;
}

/* ---- buffers and transfers ------------------------------------------------------- */

/* Fresh buffers; the core keeps released ones for reuse (src/core/memory.c). */
static mtfl_status opencl_alloc(mtfl_device *dev, size_t bytes, void **handle)
{
    if (bytes > dev->max_alloc)
        return MTFL_FAIL_HERE(MTFL_ERR_OOM,
                              "opencl: a buffer of %zu bytes is larger than the largest single "
                              "allocation of %s (%zu bytes)", bytes, dev->name, dev->max_alloc);
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_ready(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_int err = CL_SUCCESS;
    cl_mem mem = clCreateBuffer(cl->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS)
        return MTFL_FAIL_HERE(mtfl_opencl_status_of(err),
                              "opencl: clCreateBuffer(%zu bytes) on %s failed: %s (%d)", bytes,
                              dev->name, mtfl_opencl_error_name(err), (int)err);
    *handle = mem;
    return MTFL_OK;
}

static void opencl_release(mtfl_device *dev, void *handle, size_t bytes)
{
    if (handle)
        clReleaseMemObject((cl_mem)handle);
}

const mtfl_backend mtfl_opencl_backend = {
    .name = "opencl",
    .alloc = opencl_alloc,
    .release = opencl_release,
    .write = mtfl_opencl_write,
    .read = mtfl_opencl_read,
    .synchronize = mtfl_opencl_synchronize,
    .copy_strided = mtfl_opencl_copy_strided,
    .fill = mtfl_opencl_fill,
    .arange = mtfl_opencl_arange,
    .random = mtfl_opencl_random,
    .unary = mtfl_opencl_unary,
    .binary = mtfl_opencl_binary,
    .axpy = mtfl_opencl_axpy,
    .reduce = mtfl_opencl_reduce,
    .gemm = mtfl_opencl_gemm,
    .im2col = mtfl_opencl_im2col,
    .col2im = mtfl_opencl_col2im,
    .maxpool_forward = mtfl_opencl_maxpool_forward,
    .maxpool_backward = mtfl_opencl_maxpool_backward,
    .avgpool_forward = mtfl_opencl_avgpool_forward,
    .avgpool_backward = mtfl_opencl_avgpool_backward,
    .batchnorm_stats = mtfl_opencl_batchnorm_stats,
    .batchnorm_apply = mtfl_opencl_batchnorm_apply,
    .batchnorm_backward = mtfl_opencl_batchnorm_backward,
    .channel_bias = mtfl_opencl_channel_bias,
    .prelu = mtfl_opencl_prelu,
    .softmax = mtfl_opencl_softmax,
    .softmax_xent = mtfl_opencl_softmax_xent,
    .landmark_loss = mtfl_opencl_landmark_loss,
    .adam = mtfl_opencl_adam,
    .sgd = mtfl_opencl_sgd,
    .tune = mtfl_opencl_tune,
};
