/*
 * device.c - the device list and the default device.
 *
 * The CPU is always device 0. OpenCL is probed once, on first need: loading the ICD
 * and its drivers takes time, and since the default device depends on what it finds,
 * the first tensor created is usually what pays for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <omp.h>
#include <cblas.h>

#include "backend.h"

static mtfl_device devices[MTFL_MAX_DEVICES];
static int device_count;
static const char *opencl_notice;
static mtfl_device *chosen_default;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void read_cpu_name(char *name, size_t size)
{
    snprintf(name, size, "host CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            if (colon) {
                snprintf(name, size, "%s", colon + 2);
                name[strcspn(name, "\n")] = '\0';
            }
            break;
        }
    }
    fclose(f);
}

static void probe_devices(void)
{
    mtfl_device *cpu = &devices[0];
    cpu->backend = &mtfl_cpu_backend;
    snprintf(cpu->id, sizeof cpu->id, "cpu");
    read_cpu_name(cpu->name, sizeof cpu->name);
    /* the kernels OpenBLAS picked for this CPU: "Prescott" means it did not recognise it */
    snprintf(cpu->platform, sizeof cpu->platform, "host (OpenBLAS %s, OpenMP)", openblas_get_corename());
    cpu->compute_units = omp_get_max_threads();
    cpu->memory = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    cpu->max_alloc = cpu->memory;
    cpu->platform_index = cpu->platform_device = -1;
    device_count = 1;
    device_count += mtfl_opencl_probe(devices + 1, MTFL_MAX_DEVICES - 1, &opencl_notice);
}

static void ensure_probed(void) { pthread_once(&probe_once, probe_devices); }

int mtfl_device_slot(const mtfl_device *dev) { return (int)(dev - devices); }

int mtfl_device_count(void)
{
    ensure_probed();
    return device_count;
}

mtfl_device *mtfl_device_at(int index)
{
    ensure_probed();
    return index >= 0 && index < device_count ? &devices[index] : NULL;
}

mtfl_device *mtfl_device_cpu(void) { return mtfl_device_at(0); }

const char *mtfl_device_backend(const mtfl_device *dev) { return dev->backend->name; }

const char *mtfl_blas_notice(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(openblas_get_corename(), "Prescott") == 0 && __builtin_cpu_supports("avx2"))
        return "OpenBLAS did not recognise this CPU and runs its slowest (Prescott) kernels: "
               "start the program with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2), "
               "as mtfl-lua does";
#endif
    return NULL;
}

const char *mtfl_blas_version(void) { return openblas_get_config(); }

const char *mtfl_blas_core(void) { return openblas_get_corename(); }

const char *mtfl_clblast_version(void)
{
#ifdef MTFL_CLBLAST_VERSION
    return MTFL_CLBLAST_VERSION;
#else
    return "unknown";
#endif
}

const char *mtfl_opencl_notice(void)
{
    ensure_probed();
    return opencl_notice;
}

static mtfl_device *first_gpu(void)
{
    for (int i = 1; i < device_count; i++)
        if (devices[i].is_gpu) return &devices[i];
    return NULL;
}

static mtfl_device *first_opencl(void) { return device_count > 1 ? &devices[1] : NULL; }

static void list_ids(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < device_count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", devices[i].id);
}

mtfl_device *mtfl_device_find(const char *spec)
{
    ensure_probed();
    mtfl_device *found = NULL;
    if (strcmp(spec, "gpu") == 0) found = first_gpu();
    else if (strcmp(spec, "opencl") == 0) found = first_opencl();
    else
        for (int i = 0; i < device_count; i++)
            if (strcmp(devices[i].id, spec) == 0) found = &devices[i];
    if (!found) {
        char ids[512];
        list_ids(ids, sizeof ids);
        mtfl_fail(MTFL_ERR_DEVICE, "device '%s' not found (devices: %s)%s%s", spec, ids,
                  opencl_notice ? "; " : "", opencl_notice ? opencl_notice : "");
    }
    return found;
}

mtfl_device *mtfl_device_default(void)
{
    ensure_probed();
    if (chosen_default) return chosen_default;
    const char *env = getenv("MTFL_DEVICE");
    if (env && *env) {
        mtfl_device *dev = mtfl_device_find(env);
        if (!dev) {
            char why[1024];
            snprintf(why, sizeof why, "%s", mtfl_last_error());
            mtfl_fail(MTFL_ERR_DEVICE, "MTFL_DEVICE: %s", why);
        }
        return dev;
    }
    mtfl_device *gpu = first_gpu();
    return gpu ? gpu : &devices[0];
}

void mtfl_device_set_default(mtfl_device *dev) { chosen_default = dev; }

mtfl_status mtfl_synchronize(mtfl_device *dev)
{
    mtfl_count(&dev->stats.synchronizations, 1);
    return dev->backend->synchronize(dev);
}

mtfl_status mtfl_device_tune(mtfl_device *dev, const char *kernel, size_t count,
                             const char *const *names, const size_t *values)
{
    if (!dev->backend->tune)
        return mtfl_fail(MTFL_ERR_DEVICE, "tune: the %s backend of %s has no GEMM kernels to tune",
                         dev->backend->name, dev->id);
    if (!kernel || !*kernel || count == 0)
        return mtfl_fail(MTFL_ERR_ARG, "tune: a kernel name and at least one parameter are needed");
    mtfl_status st = dev->backend->tune(dev, kernel, count, names, values);
    if (st != MTFL_OK) return st;
    /* the kernels tuned so far, for listings: "XgemmDirect, Xgemm" */
    bool listed = false;
    size_t len = strlen(kernel);
    for (const char *at = dev->tuned; !listed && (at = strstr(at, kernel)); at += len)
        listed = (at == dev->tuned || at[-1] == ' ') && (at[len] == ',' || at[len] == '\0');
    if (!listed) {
        size_t used = strlen(dev->tuned);
        snprintf(dev->tuned + used, sizeof dev->tuned - used, "%s%s", used ? ", " : "", kernel);
    }
    return MTFL_OK;
}

mtfl_device_stats mtfl_device_stats_of(const mtfl_device *dev)
{
    const mtfl_device_stats *s = &dev->stats;
    return (mtfl_device_stats){
        .launches = __atomic_load_n(&s->launches, __ATOMIC_RELAXED),
        .blocking_reads = __atomic_load_n(&s->blocking_reads, __ATOMIC_RELAXED),
        .synchronizations = __atomic_load_n(&s->synchronizations, __ATOMIC_RELAXED),
        .bytes_to_device = __atomic_load_n(&s->bytes_to_device, __ATOMIC_RELAXED),
        .bytes_to_host = __atomic_load_n(&s->bytes_to_host, __ATOMIC_RELAXED),
        .allocations = __atomic_load_n(&s->allocations, __ATOMIC_RELAXED),
        .cached_allocations = __atomic_load_n(&s->cached_allocations, __ATOMIC_RELAXED),
    };
}
