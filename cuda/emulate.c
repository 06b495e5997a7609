/*
 * The CUDA steps as plain loops over host memory (kernels.h): the CPU reference each kernel is
 * tested against, and the backend that lets the unit suite run frame_cuda.c's whole encode and decode
 * path on a machine without a GPU. Each function is the sequential meaning of its kernel: the same
 * element functions (elem.h), the same order of outputs, the same conditions read from the control
 * block. The kernels differ only in how the work is split across threads.
 *
 * Here the memory steps, the dense steps and the exception list; the top-k steps are in
 * emulate_topk.c. The table below takes every step of GCOMP_CU_STEPS by its name gcomp_cu_emu_<step>.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "elem.h"

static int emu_alloc(void *impl, void **p, size_t bytes)
{
    (void)impl;
    *p = malloc(bytes ? bytes : 1);
    return *p == NULL;
}

static void emu_free(void *impl, void *p)
{
    (void)impl;
    free(p);
}

static int emu_memset(void *impl, void *p, int value, size_t bytes)
{
    (void)impl;
    if (bytes) memset(p, value, bytes);
    return 0;
}

static int emu_copy(void *impl, void *dst, const void *src, size_t bytes)
{
    (void)impl;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int emu_sync(void *impl)
{
    (void)impl;
    return 0;
}

int gcomp_cu_emu_none_encode(void *impl, const gcomp_cu_none_t *a)
{
    (void)impl;
    for (uint64_t i = 0; i < a->n; i++) {
        float x = gcomp_cu_load(a->src, a->dtype, i);
        float g = a->res ? gcomp_cu_gprime(x, a->res[i]) : x;
        gcomp_cu_store_le32(a->out + 4 * i, gcomp_cu_bits(g));
        if (a->res) a->res[i] = 0.0f;
    }
    return 0;
}

int gcomp_cu_emu_none_decode(void *impl, const gcomp_cu_none_t *a)
{
    (void)impl;
    const uint8_t *in = a->src;
    for (uint64_t i = 0; i < a->n; i++) {
        float v = gcomp_cu_float(gcomp_cu_load_le32(in + 4 * i));
        a->dst[i] = a->accumulate ? GCOMP_CU_ADD(a->dst[i], v) : v;
    }
    return 0;
}

int gcomp_cu_emu_q8_encode(void *impl, const gcomp_cu_q8_encode_t *a)
{
    (void)impl;
    for (uint64_t s = 0; s < a->n; s += a->bucket) {
        uint64_t len = a->n - s < a->bucket ? a->n - s : a->bucket;
        uint32_t maxkey = 0;
        for (uint64_t i = s; i < s + len; i++) {
            float x = gcomp_cu_load(a->src, a->dtype, i);
            float g = a->res ? gcomp_cu_gprime(x, a->res[i]) : x;
            if (a->res) a->res[i] = g;
            uint32_t key = gcomp_cu_key(g);
            if (key < GCOMP_CU_KEY_NONFINITE && key > maxkey) maxkey = key;
        }
        gcomp_cu_q8_bucket_t b = gcomp_cu_q8_bucket(maxkey, 1);
        for (uint64_t i = s; i < s + len; i++) {
            float g = a->res ? a->res[i] : gcomp_cu_load(a->src, a->dtype, i);
            if (gcomp_cu_key(g) >= GCOMP_CU_KEY_NONFINITE) {
                a->q[i] = 0;
                a->ctl->exc_seen++; /* g' stays in res for the exception step */
                continue;
            }
            gcomp_cu_q8_encode_one(a, b, i, g);
        }
        gcomp_cu_store_le32(a->scales + 4 * (s / a->bucket), gcomp_cu_bits(b.scale));
    }
    return 0;
}

int gcomp_cu_emu_q8_decode(void *impl, const gcomp_cu_q8_decode_t *a)
{
    (void)impl;
    for (uint64_t i = 0; i < a->n; i++) {
        float acc = a->accumulate ? a->dst[i] : 0.0f;
        for (int f = 0; f < a->nframes; f++) {
            int8_t q = a->q[f][i];
            if (q == INT8_MIN) a->ctl->bad |= GCOMP_CU_BAD_Q8;
            float scale = gcomp_cu_float(gcomp_cu_load_le32(a->scales[f] + 4 * (i / a->bucket[f])));
            float v = gcomp_cu_q8_dequantize(q, scale);
            acc = f == 0 && !a->accumulate ? v : GCOMP_CU_ADD(acc, v);
        }
        a->dst[i] = acc;
    }
    return 0;
}

int gcomp_cu_emu_exc_collect(void *impl, const gcomp_cu_exc_collect_t *a)
{
    (void)impl;
    if (a->ctl->exc_seen == 0) return 0;
    uint64_t c = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        float g = gcomp_cu_load(a->g, a->dtype, i);
        if (gcomp_cu_key(g) < GCOMP_CU_KEY_NONFINITE) continue;
        if (c < a->cap) {
            gcomp_cu_store_le32(a->list + 8 * c, (uint32_t)i);
            gcomp_cu_store_le32(a->list + 8 * c + 4, gcomp_cu_bits(g));
        }
        c++;
        if (a->res) a->res[i] = 0.0f;
    }
    a->ctl->exc_seen = c;
    return 0;
}

int gcomp_cu_emu_exc_apply(void *impl, const gcomp_cu_exc_apply_t *a)
{
    (void)impl;
    if (a->ctl->bad) return 0;
    if (a->overflow) {
        float nan = gcomp_cu_float(0x7fc00000u);
        for (uint64_t i = 0; i < a->n; i++) a->dst[i] = a->accumulate ? GCOMP_CU_ADD(a->dst[i], nan) : nan;
        return 0;
    }
    for (uint64_t e = 0; e < a->count; e++) {
        uint32_t off = gcomp_cu_load_le32(a->list + 8 * e);
        float v = gcomp_cu_float(gcomp_cu_load_le32(a->list + 8 * e + 4));
        a->dst[off] = a->accumulate ? GCOMP_CU_ADD(a->dst[off], v) : v;
    }
    return 0;
}

int gcomp_cu_emu_convert(void *impl, const gcomp_cu_convert_t *a)
{
    (void)impl;
    for (uint64_t i = 0; i < a->n; i++) {
        if (a->dtype == GCOMP_CU_F16) ((uint16_t *)a->dst)[i] = gcomp_cu_f32_to_f16(a->src[i]);
        else if (a->dtype == GCOMP_CU_BF16) ((uint16_t *)a->dst)[i] = gcomp_cu_f32_to_bf16(a->src[i]);
        else ((float *)a->dst)[i] = a->src[i];
    }
    return 0;
}

int gcomp_cu_emu_count(void *impl, const gcomp_cu_count_t *a)
{
    (void)impl;
    for (uint32_t b = 0; b < a->nparts; b++) {
        uint64_t lo = (uint64_t)b * a->per_part, hi = lo + a->per_part < a->n ? lo + a->per_part : a->n;
        a->parts[b] = gcomp_cu_count_range(a->src, lo, hi); /* one part at a time, in one run */
    }
    return 0;
}

const gcomp_cu_backend_t gcomp_cu_backend_emu = {
    .name = "emulation",
    .alloc = emu_alloc, .free = emu_free, .memset = emu_memset, .copy = emu_copy, .sync = emu_sync,
    GCOMP_CU_STEPS(GCOMP_CU_STEP_INIT_EMU)
};
