/*
 * Where memory is, for the collectives: whether a CUDA device is there at all (probed once, at first
 * use, never at load time), whose memory a pointer is (host, pinned, device, managed), the pinned
 * host blocks frames are staged in, and the emulated devices of the tests, whose "device memory" is
 * host memory that this file keeps a list of. Contexts and the GPU backend are runtime.c's.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/log.h"
#include "core/mem.h"
#include "ctx.h"

/* ---- availability ----------------------------------------------------------------------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_ok;
static char probe_why[160];

static void probe(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(probe_why, sizeof(probe_why), "no usable CUDA driver or device: %s", cudaGetErrorString(e));
        (void)cudaGetLastError();
    } else if (n <= 0) {
        snprintf(probe_why, sizeof(probe_why), "the CUDA driver reports no device");
    } else {
        probe_ok = 1;
        gcomp_info("cuda: %d device%s", n, n > 1 ? "s" : "");
        return;
    }
    gcomp_info("cuda: %s; device buffers are not supported in this process", probe_why);
}

/* ---- emulated devices (tests) -------------------------------------------------------------------- */

/* With gcomp_cuda_emulate_devices(), device 0 is host memory run by an emulated backend, and memory
 * from gcomp_cuda_malloc on an emulated context is classified as that device's: the collectives then
 * take their device path on a machine without a GPU. Allocations are kept in a small list. */
static struct {
    const gcomp_cu_backend_t *be;
    pthread_mutex_t lock;
    struct range {
        uintptr_t lo, hi;
    } *r;
    size_t n, cap;
} emu_dev = {.lock = PTHREAD_MUTEX_INITIALIZER};

void gcomp_cuda_emulate_devices(const gcomp_cu_backend_t *be)
{
    emu_dev.be = be;
}

const gcomp_cu_backend_t *gcomp_cuda_emulated_backend(void)
{
    return emu_dev.be;
}

void gcomp_cuda_emu_track(void *p, size_t bytes)
{
    pthread_mutex_lock(&emu_dev.lock);
    if (emu_dev.n == emu_dev.cap) {
        size_t cap = emu_dev.cap ? 2 * emu_dev.cap : 64;
        struct range *r = realloc(emu_dev.r, cap * sizeof(*r));
        if (r == NULL) {
            pthread_mutex_unlock(&emu_dev.lock);
            return; /* untracked: it is then host memory, which it is */
        }
        emu_dev.r = r;
        emu_dev.cap = cap;
    }
    emu_dev.r[emu_dev.n++] = (struct range){(uintptr_t)p, (uintptr_t)p + (bytes ? bytes : 1)};
    pthread_mutex_unlock(&emu_dev.lock);
}

void gcomp_cuda_emu_untrack(void *p)
{
    pthread_mutex_lock(&emu_dev.lock);
    for (size_t i = 0; i < emu_dev.n; i++)
        if (emu_dev.r[i].lo == (uintptr_t)p) {
            emu_dev.r[i] = emu_dev.r[--emu_dev.n];
            break;
        }
    pthread_mutex_unlock(&emu_dev.lock);
}

static int emu_owns(const void *p)
{
    int found = 0;
    pthread_mutex_lock(&emu_dev.lock);
    for (size_t i = 0; i < emu_dev.n && !found; i++)
        found = (uintptr_t)p >= emu_dev.r[i].lo && (uintptr_t)p < emu_dev.r[i].hi;
    pthread_mutex_unlock(&emu_dev.lock);
    return found;
}

int gcomp_cuda_available(const char **why_p)
{
    if (emu_dev.be != NULL) return 1;
    pthread_once(&probe_once, probe);
    if (!probe_ok && why_p != NULL) *why_p = probe_why;
    return probe_ok;
}

gcomp_mem_kind_t gcomp_cuda_classify(const void *ptr, int *device_p)
{
    if (emu_dev.be != NULL) {
        if (ptr == NULL || !emu_owns(ptr)) return GCOMP_MEM_HOST;
        if (device_p != NULL) *device_p = 0;
        return GCOMP_MEM_DEVICE;
    }
    if (ptr == NULL || !gcomp_cuda_available(NULL)) return GCOMP_MEM_HOST;
    struct cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        (void)cudaGetLastError(); /* memory CUDA does not know: plain host memory */
        return GCOMP_MEM_HOST;
    }
    if (device_p != NULL) *device_p = attr.device;
    switch (attr.type) {
    case cudaMemoryTypeDevice: return GCOMP_MEM_DEVICE;
    case cudaMemoryTypeManaged: return GCOMP_MEM_MANAGED;
    case cudaMemoryTypeHost: return GCOMP_MEM_PINNED;
    default: return GCOMP_MEM_HOST;
    }
}

/* Pinned blocks carry a tag in front, so that free knows how they were made. */
#define HOST_TAG_PINNED 0x50494e4eu
#define HOST_TAG_PLAIN 0x504c4149u
#define HOST_HEAD 64

void *gcomp_cuda_host_alloc(size_t bytes)
{
    uint8_t *p = NULL;
    uint32_t tag = HOST_TAG_PLAIN;
    if (emu_dev.be == NULL && gcomp_cuda_available(NULL)) {
        if (cudaMallocHost((void **)&p, bytes + HOST_HEAD) == cudaSuccess) tag = HOST_TAG_PINNED;
        else (void)cudaGetLastError(), p = NULL;
    }
    if (p == NULL) p = gcomp_aligned_alloc(bytes + HOST_HEAD);
    if (p == NULL) return NULL;
    memcpy(p, &tag, sizeof(tag));
    return p + HOST_HEAD;
}

void gcomp_cuda_host_free(void *ptr)
{
    if (ptr == NULL) return;
    uint8_t *p = (uint8_t *)ptr - HOST_HEAD;
    uint32_t tag;
    memcpy(&tag, p, sizeof(tag));
    if (tag == HOST_TAG_PINNED) cudaFreeHost(p);
    else gcomp_aligned_free(p);
}
