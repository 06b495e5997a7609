/*
 * AVX2 variant of the top-k data pass (compiled with -mavx2 -mf16c, called only when the CPU has
 * them). It computes g' = src + residual and the key test 16 elements at a time; histogram counts
 * of candidate-free blocks come from the same vectors, and every other element goes through the
 * gcomp_topk_pass_one() that the plain C pass uses, so both variants give identical candidate
 * lists, histograms, residuals and exceptions (one IEEE add per element, no contraction).
 */
#include <immintrin.h>
#include <string.h>

#include "codec/topk_select.h"

static inline __attribute__((always_inline)) void pass_avx2_impl(gcomp_topk_pass_t *p, int has_res, int has_hist)
{
    const float *src = p->src;
    float *res = p->residual;
    uint32_t *hist = p->hist;
    const uint32_t thr = p->thr;
    size_t n = p->n, i = 0;
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff);
    /* Keys are below 2^31, so a signed compare with thr - 1 is key >= thr (thr = 0 takes all). */
    const __m256i thr_m1 = _mm256_set1_epi32((int32_t)thr - 1);
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_loadu_ps(src + i);
        __m256 b = _mm256_loadu_ps(src + i + 8);
        if (has_res) {
            a = _mm256_add_ps(a, _mm256_loadu_ps(res + i));
            b = _mm256_add_ps(b, _mm256_loadu_ps(res + i + 8));
            _mm256_storeu_ps(res + i, a);
            _mm256_storeu_ps(res + i + 8, b);
        }
        __m256i ka = _mm256_and_si256(_mm256_castps_si256(a), absmask);
        __m256i kb = _mm256_and_si256(_mm256_castps_si256(b), absmask);
        __m256i any = _mm256_or_si256(_mm256_cmpgt_epi32(ka, thr_m1), _mm256_cmpgt_epi32(kb, thr_m1));
        if (GCOMP_LIKELY(_mm256_testz_si256(any, any))) {
            if (has_hist) {
                /* No key reached thr <= NONFINITE: all 16 are finite. */
                uint32_t bin[16];
                _mm256_storeu_si256((__m256i *)(void *)bin, _mm256_srli_epi32(ka, GCOMP_TOPK_HIST_SHIFT));
                _mm256_storeu_si256((__m256i *)(void *)(bin + 8), _mm256_srli_epi32(kb, GCOMP_TOPK_HIST_SHIFT));
                for (int j = 0; j < 16; j++) hist[bin[j]]++;
            }
            continue;
        }
        float g[16];
        _mm256_storeu_ps(g, a);
        _mm256_storeu_ps(g + 8, b);
        for (int j = 0; j < 16; j++) gcomp_topk_pass_one(p, i + (size_t)j, g[j], has_hist);
    }
    for (; i < n; i++) {
        float v = has_res ? src[i] + res[i] : src[i];
        if (has_res) res[i] = v;
        gcomp_topk_pass_one(p, i, v, has_hist);
    }
}

void gcomp_topk_pass_avx2(gcomp_topk_pass_t *p)
{
    p->count = 0;
    p->overflow = 0;
    if (p->hist != NULL) memset(p->hist, 0, GCOMP_TOPK_HIST_BINS * sizeof(*p->hist));
    if (p->residual != NULL) {
        if (p->hist != NULL) pass_avx2_impl(p, 1, 1);
        else pass_avx2_impl(p, 1, 0);
    } else {
        if (p->hist != NULL) pass_avx2_impl(p, 0, 1);
        else pass_avx2_impl(p, 0, 0);
    }
}
