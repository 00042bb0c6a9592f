/*
 * opencl_backend.h - the OpenCL backend as the core sees it: one backend table shared
 * by every OpenCL device (mtfl_opencl_probe, declared in backend.h, fills the devices).
 */
#ifndef MTFL_OPENCL_BACKEND_H
#define MTFL_OPENCL_BACKEND_H

#include "backend.h"

extern const mtfl_backend mtfl_opencl_backend;

#endif
