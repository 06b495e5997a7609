/*
 * The top-k steps as plain loops over host memory (emulate.c says what the emulation is for): the
 * CPU reference of topk_select.cu, topk.cu and topk_decode.cu.
 */
#include <string.h>

#include "kernels.h"
#include "elem.h"

#define KEY_NONE 0xffffffffu

static int runs(const gcomp_cu_ctl_t *ctl, uint32_t run_if)
{
    return (GCOMP_CU_IN(ctl->mode) & run_if) != 0;
}

int gcomp_cu_emu_topk_sample(void *impl, const gcomp_cu_topk_sample_t *a)
{
    (void)impl;
    for (uint64_t j = 0; j < a->s; j++) {
        uint64_t pos = gcomp_cu_sample_pos(j, a->stride);
        float x = gcomp_cu_load(a->src, a->dtype, pos);
        float g = a->res ? gcomp_cu_gprime(x, a->res[pos]) : x;
        uint32_t key = gcomp_cu_key(g);
        a->keys[j] = key >= GCOMP_CU_KEY_NONFINITE ? KEY_NONE : key;
    }
    return 0;
}

int gcomp_cu_emu_topk_prep(void *impl, const gcomp_cu_topk_prep_t *a)
{
    (void)impl;
    if (!runs(a->ctl, a->run_if)) return 0;
    for (uint64_t i = 0; i < a->n; i++) {
        float x = gcomp_cu_load(a->src, a->dtype, i);
        float g = a->res ? gcomp_cu_gprime(x, a->res[i]) : x;
        if (a->res) a->res[i] = g;
        uint32_t key = gcomp_cu_key(g);
        if (key >= GCOMP_CU_KEY_NONFINITE) a->ctl->exc_seen++;
        else a->hist[key >> gcomp_cu_level_shift(0)]++;
    }
    return 0;
}

/* Element j of a selection source: its chunk index and key (KEY_NONE when non-finite). @return 0
 * past the end. */
static int source_at(const gcomp_cu_source_t *s, const gcomp_cu_ctl_t *ctl, uint64_t j, uint64_t *index,
                     float *g, uint32_t *key)
{
    switch (s->kind) {
    case GCOMP_CU_SRC_FULL:
        if (j >= s->n) return 0;
        *index = j;
        *g = gcomp_cu_load(s->g, s->dtype, j);
        *key = gcomp_cu_key(*g);
        break;
    case GCOMP_CU_SRC_CAND: {
        uint64_t m = ctl->cand_count < s->n ? ctl->cand_count : s->n;
        if (j >= m) return 0;
        *index = s->idx[j];
        *g = s->val[j];
        *key = gcomp_cu_key(*g);
        break;
    }
    default:
        if (j >= s->n) return 0;
        *index = j;
        *g = 0.0f;
        *key = s->keys[j];
        return 1;
    }
    if (*key >= GCOMP_CU_KEY_NONFINITE) *key = KEY_NONE;
    return 1;
}

int gcomp_cu_emu_topk_hist(void *impl, const gcomp_cu_topk_hist_t *a)
{
    (void)impl;
    const gcomp_cu_sel_t *sel = &a->ctl->sel[a->sel];
    if (!runs(a->ctl, a->run_if) || (a->level > 0 && sel->all)) return 0;
    unsigned sh = gcomp_cu_level_shift(a->level), mask = gcomp_cu_level_bins(a->level) - 1;
    unsigned psh = a->level > 0 ? gcomp_cu_level_shift(a->level - 1) : 31;
    uint64_t index;
    float g;
    uint32_t key;
    for (uint64_t j = 0; source_at(&a->src, a->ctl, j, &index, &g, &key); j++) {
        if (key == KEY_NONE) continue;
        if (a->level > 0 && (key >> psh) != sel->prefix) continue;
        a->hist[(key >> sh) & mask]++;
    }
    return 0;
}

int gcomp_cu_emu_topk_pick(void *impl, const gcomp_cu_topk_pick_t *a)
{
    (void)impl;
    gcomp_cu_ctl_t *ctl = a->ctl;
    gcomp_cu_sel_t *sel = &ctl->sel[a->sel];
    if (!runs(ctl, a->run_if) || (a->level > 0 && sel->all)) return 0;
    unsigned bins = gcomp_cu_level_bins(a->level);
    if (a->level == 0) {
        uint64_t total = 0;
        for (unsigned d = 0; d < bins; d++) total += a->hist[d];
        sel->total = total;
        if (a->flavour == GCOMP_CU_PICK_SAMPLE) {
            if (total == 0) {
                ctl->mode = GCOMP_CU_MODE_PREP;
                return 0;
            }
            sel->r = gcomp_cu_sample_rank(a->s, total, a->k, a->n);
        }
        if (total < sel->r) {
            sel->all = 1;
            sel->thr = 0;
            sel->cutoff = UINT64_MAX;
            if (a->flavour == GCOMP_CU_PICK_MAIN) ctl->mode = GCOMP_CU_MODE_EX_ALL;
            return 0;
        }
    }
    uint64_t above = 0;
    unsigned d = bins - 1;
    while (above + a->hist[d] < sel->r) above += a->hist[d--];
    sel->r -= above;
    if (a->level == 0) {
        sel->prefix = d;
        if (a->flavour == GCOMP_CU_PICK_MAIN)
            ctl->mode = above + a->hist[d] <= a->cand_cap ? GCOMP_CU_MODE_EX_CAND : GCOMP_CU_MODE_EX_FULL;
    } else if (a->level == 1) {
        sel->prefix = sel->prefix << 10 | d;
    } else {
        sel->thr = sel->prefix << 9 | d;
        sel->ties = sel->r;
        sel->ties_total = a->hist[d];
        sel->cutoff = UINT64_MAX;
    }
    return 0;
}

int gcomp_cu_emu_topk_compact(void *impl, const gcomp_cu_topk_compact_t *a)
{
    (void)impl;
    gcomp_cu_ctl_t *ctl = a->ctl;
    gcomp_cu_sel_t *sel = &ctl->sel[1];
    if (!runs(ctl, a->run_if)) return 0;
    if (a->op == GCOMP_CU_COMPACT_TIES && (sel->all || sel->ties_total <= sel->ties)) return 0;
    uint64_t c = 0;
    if (a->op == GCOMP_CU_COMPACT_PASS) {
        const gcomp_cu_source_t *s = &a->src;
        uint32_t thr = ctl->sel[0].thr;
        for (uint64_t i = 0; i < s->n; i++) {
            float x = gcomp_cu_load(s->g, s->dtype, i);
            float g = a->res ? gcomp_cu_gprime(x, a->res[i]) : x;
            if (a->res) a->res[i] = g;
            uint32_t key = gcomp_cu_key(g);
            if (key >= GCOMP_CU_KEY_NONFINITE) {
                ctl->exc_seen++;
            } else if (key >= thr) {
                if (c < a->cap) {
                    a->out_idx[c] = (uint32_t)i;
                    a->out_val[c] = g;
                }
                c++;
            }
        }
        *a->count = c;
        return 0;
    }
    uint64_t index;
    float g;
    uint32_t key;
    for (uint64_t j = 0; source_at(&a->src, ctl, j, &index, &g, &key); j++) {
        if (key == KEY_NONE) continue;
        int take;
        switch (a->op) {
        case GCOMP_CU_COMPACT_COLLECT: take = (key >> gcomp_cu_level_shift(0)) >= sel->prefix; break;
        case GCOMP_CU_COMPACT_TIES: take = key == sel->thr; break;
        default: take = key > sel->thr || (key == sel->thr && index <= sel->cutoff); break;
        }
        if (!take) continue;
        if (a->op == GCOMP_CU_COMPACT_TIES) {
            if (c == sel->ties - 1) sel->cutoff = index;
        } else if (c < a->cap) {
            a->out_idx[c] = (uint32_t)index;
            a->out_val[c] = g;
        }
        c++;
    }
    *a->count = c;
    return 0;
}

int gcomp_cu_emu_topk_decide(void *impl, const gcomp_cu_topk_decide_t *a)
{
    (void)impl;
    gcomp_cu_topk_decide(a);
    return 0;
}

int gcomp_cu_emu_topk_payload(void *impl, const gcomp_cu_topk_payload_t *a)
{
    (void)impl;
    gcomp_cu_ctl_t *ctl = a->ctl;
    const uint32_t *idx = ctl->kept_in_cand ? a->cand_idx : a->kept_idx;
    const float *val = ctl->kept_in_cand ? a->cand_val : a->kept_val;
    uint64_t m = ctl->kept;
    uint32_t all = 0;
    for (uint64_t j = 0; j < m; j++) all |= gcomp_cu_delta(idx, j);
    ctl->or_deltas = all;
    unsigned width = gcomp_cu_bit_width(all);
    uint8_t *out = a->payload;
    out[0] = (uint8_t)width;
    out[1] = out[2] = out[3] = 0;
    uint64_t words = (m * width + 31) / 32;
    for (uint64_t w = 0; w < words; w++) gcomp_cu_store_le32(out + 4 + 4 * w, gcomp_cu_pack_word(idx, m, width, w));
    uint8_t *vals = out + 4 + 4 * words;
    if (a->kind == GCOMP_CU_VALUES_F32) {
        for (uint64_t j = 0; j < m; j++) {
            gcomp_cu_store_le32(vals + 4 * j, gcomp_cu_bits(val[j]));
            if (a->res) a->res[idx[j]] = 0.0f;
        }
    } else if (a->kind == GCOMP_CU_VALUES_F16) {
        for (uint64_t j = 0; j < m; j++) {
            uint16_t h = gcomp_cu_topk_f16(val[j]);
            vals[2 * j] = (uint8_t)h;
            vals[2 * j + 1] = (uint8_t)(h >> 8);
            if (a->res) a->res[idx[j]] = GCOMP_CU_SUB(val[j], gcomp_cu_f16_to_f32(h));
        }
    } else {
        uint64_t nb = (m + a->bucket - 1) / a->bucket;
        uint8_t *q = vals + 4 * nb;
        for (uint64_t b = 0; b < nb; b++) {
            uint64_t j0 = b * a->bucket, j1 = j0 + a->bucket < m ? j0 + a->bucket : m;
            uint32_t maxkey = 0;
            for (uint64_t j = j0; j < j1; j++)
                if (gcomp_cu_key(val[j]) > maxkey) maxkey = gcomp_cu_key(val[j]);
            gcomp_cu_q8_bucket_t bk = gcomp_cu_q8_bucket(maxkey, 1);
            gcomp_cu_store_le32(vals + 4 * b, gcomp_cu_bits(bk.scale));
            for (uint64_t j = j0; j < j1; j++) {
                uint32_t bits = a->nearest ? 0 : gcomp_cu_rng_bits(a->k0, a->k1, a->base + idx[j]);
                int qv = gcomp_cu_q8_quantize(val[j], bk, a->nearest, bits);
                q[j] = (uint8_t)(int8_t)qv;
                if (a->res) a->res[idx[j]] = GCOMP_CU_SUB(val[j], gcomp_cu_q8_dequantize(qv, bk.scale));
            }
        }
    }
    return 0;
}

static float decode_value(const gcomp_cu_topk_decode_t *a, uint64_t j, int *bad)
{
    const uint8_t *v = a->payload + a->values_off;
    if (a->kind == GCOMP_CU_VALUES_F16) {
        uint16_t h = (uint16_t)(v[2 * j] | v[2 * j + 1] << 8);
        if ((h & 0x7c00u) == 0x7c00u) *bad = 1;
        return gcomp_cu_f16_to_f32(h);
    }
    if (a->kind == GCOMP_CU_VALUES_Q8) {
        int8_t q = (int8_t)a->payload[a->q_off + j];
        if (q == INT8_MIN) *bad = 1;
        return gcomp_cu_q8_dequantize(q, gcomp_cu_float(gcomp_cu_load_le32(v + 4 * (j / a->bucket))));
    }
    float x = gcomp_cu_float(gcomp_cu_load_le32(v + 4 * j));
    if (gcomp_cu_key(x) >= GCOMP_CU_KEY_NONFINITE) *bad = 1;
    return x;
}

int gcomp_cu_emu_topk_decode(void *impl, const gcomp_cu_topk_decode_t *a)
{
    (void)impl;
    uint64_t next = 0;
    for (uint64_t j = 0; j < a->k; j++) {
        uint64_t i = next + gcomp_cu_unpack(a->payload + 4, a->packed_len, j, a->width);
        if (i >= a->n) {
            a->ctl->bad |= GCOMP_CU_BAD_INDEX;
            return 0;
        }
        a->idx[j] = (uint32_t)i;
        next = i + 1;
        int bad = 0;
        (void)decode_value(a, j, &bad);
        if (bad) {
            a->ctl->bad |= GCOMP_CU_BAD_VALUE;
            return 0;
        }
    }
    if (!a->accumulate) memset(a->dst, 0, a->n * sizeof(float));
    for (uint64_t j = 0; j < a->k; j++) {
        int bad = 0;
        float v = decode_value(a, j, &bad);
        float *d = a->dst + a->idx[j];
        *d = a->accumulate ? GCOMP_CU_ADD(*d, v) : v;
    }
    return 0;
}
