/*
 * opencl_transfer.c - data between the host and an OpenCL device.
 *
 * A blocking write on an in-order queue returns only when every kernel queued before it
 * has run: one upload per batch would make the host wait for the device at every step.
 * So a write copies the data to host memory of its own and is queued without waiting;
 * that copy is freed once the write has finished (checked at each later write and read,
 * never waited for), and only when MTFL_CL_STAGED_WRITES writes or MTFL_CL_STAGED_BYTES
 * bytes are in flight does a write wait for the queue. A read waits: its caller wants
 * the values.
 */
#include <stdlib.h>
#include <string.h>

#include "opencl_internal.h"

void mtfl_opencl_reap_staged(mtfl_opencl_device *cl)
{
    int kept = 0;
    for (int i = 0; i < cl->staged_count; i++) {
        cl_int state = CL_QUEUED;
        cl_int err = clGetEventInfo(cl->staged[i].done, CL_EVENT_COMMAND_EXECUTION_STATUS,
                                    sizeof state, &state, NULL);
        /* an error state also means the copy is no longer used; the next read reports it */
        if (err != CL_SUCCESS || state == CL_COMPLETE || state < 0) {
            clReleaseEvent(cl->staged[i].done);
            free(cl->staged[i].host);
            cl->staged_bytes -= cl->staged[i].bytes;
        } else {
            cl->staged[kept++] = cl->staged[i];
        }
    }
    cl->staged_count = kept;
}

/* Waits for the queue when the staged copies are at their limit; cl->lock is held. */
static mtfl_status make_room(mtfl_device *dev, mtfl_opencl_device *cl, size_t bytes)
{
    mtfl_opencl_reap_staged(cl);
    if (cl->staged_count < MTFL_CL_STAGED_WRITES && cl->staged_bytes + bytes <= MTFL_CL_STAGED_BYTES)
        return MTFL_OK;
    mtfl_count(&dev->stats.synchronizations, 1);
    cl_int err = clFinish(cl->queue);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clFinish", dev->name);
    mtfl_opencl_reap_staged(cl);
    return MTFL_OK;
}

static mtfl_status write_waiting(mtfl_device *dev, mtfl_opencl_device *cl, mtfl_buf dst,
                                 const float *src, size_t bytes)
{
    cl_int err = clEnqueueWriteBuffer(cl->queue, (cl_mem)dst.handle, CL_TRUE,
                                      dst.offset * sizeof(float), bytes, src, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clEnqueueWriteBuffer", dev->name);
    return MTFL_OK;
}

mtfl_status mtfl_opencl_write(mtfl_device *dev, mtfl_buf dst, const float *src, size_t n)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_ready(dev, &cl);
    if (status != MTFL_OK)
        return status;
    size_t bytes = n * sizeof(float);
    void *host = bytes <= MTFL_CL_STAGED_BYTES ? malloc(bytes) : NULL;
    if (!host) /* too large to stage, or no host memory for a copy: wait instead */
        return write_waiting(dev, cl, dst, src, bytes);
    memcpy(host, src, bytes);
    pthread_mutex_lock(&cl->lock);
    status = make_room(dev, cl, bytes);
    cl_event done = NULL;
    cl_int err = CL_SUCCESS;
    if (status == MTFL_OK)
        err = clEnqueueWriteBuffer(cl->queue, (cl_mem)dst.handle, CL_FALSE,
                                   dst.offset * sizeof(float), bytes, host, 0, NULL, &done);
    if (status == MTFL_OK && err == CL_SUCCESS) {
        cl->staged[cl->staged_count].done = done;
        cl->staged[cl->staged_count].host = host;
        cl->staged[cl->staged_count].bytes = bytes;
        cl->staged_count++;
        cl->staged_bytes += bytes;
        host = NULL;
    }
    pthread_mutex_unlock(&cl->lock);
    free(host);
    if (status == MTFL_OK && err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clEnqueueWriteBuffer", dev->name);
    return status;
}

/* The queue is in order, so a blocking read waits for every earlier kernel; a kernel
 * that failed while running makes the read fail, which is where the error shows. */
mtfl_status mtfl_opencl_read(mtfl_device *dev, float *dst, mtfl_buf src, size_t n)
{
    mtfl_opencl_device *cl;
    mtfl_status status = mtfl_opencl_ready(dev, &cl);
    if (status != MTFL_OK)
        return status;
    cl_int err = clEnqueueReadBuffer(cl->queue, (cl_mem)src.handle, CL_TRUE,
                                     src.offset * sizeof(float), n * sizeof(float), dst, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clEnqueueReadBuffer", dev->name);
    pthread_mutex_lock(&cl->lock);
    mtfl_opencl_reap_staged(cl);
    pthread_mutex_unlock(&cl->lock);
    return MTFL_OK;
}

mtfl_status mtfl_opencl_synchronize(mtfl_device *dev)
{
    mtfl_opencl_device *cl = dev->impl;
    pthread_mutex_lock(&cl->lock);
    bool ready = cl->ready;
    pthread_mutex_unlock(&cl->lock);
    if (!ready)
        return MTFL_OK; /* nothing was ever queued */
    cl_int err = clFinish(cl->queue);
    if (err != CL_SUCCESS)
        return MTFL_CL_FAIL(err, "clFinish", dev->name);
    pthread_mutex_lock(&cl->lock);
    mtfl_opencl_reap_staged(cl);
    pthread_mutex_unlock(&cl->lock);
    return MTFL_OK;
}
