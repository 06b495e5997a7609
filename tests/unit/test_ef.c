/* Error feedback over many calls, for every codec through the frame API: nothing is lost — the sum of
 * decoded outputs plus the final residual equals the sum of inputs to float rounding — and after
 * every call the residual is what each codec promises (README's codec table, q8_ref.h, codec_topk.c),
 * also when inputs hold NaN and Inf:
 *   none     residual 0;
 *   q8       |residual| <= scale/2 + 2^-20 absmax per bucket (nearest), <= scale + 2^-20 absmax
 *            (stochastic), scale = absmax/127 of g' = input + residual over the bucket's finite values;
 *   topk     a kept element leaves 0 (fp32 values are exact), a dropped one leaves exactly its g',
 *            and no dropped |g'| exceeds a kept one;
 *   topk-q8  dropped as topk; a kept element leaves at most the q8 bound of its bucket, buckets
 *            taken over the kept list in index order.
 * A non-finite input leaves residual 0. */
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "codec/bitpack.h"
#include "codec/codec.h"
#include "codec/q8_ref.h"
#include "codec/topk_payload.h"

enum { N = 4099, CALLS = 200 };

/* The q8 bound of one encoding for a bucket whose finite |g'| reach absmax. */
static double q8_bound(gcomp_rounding_t rounding, float absmax)
{
    double scale = gcomp_q8_scale(absmax);
    return (rounding == GCOMP_ROUND_NEAREST ? scale / 2 : scale) + 0x1p-20 * absmax;
}

/* Elements of the q8 bucket list [j0, j1) (indices idx[j], or j itself when idx is NULL) whose
 * residual exceeds the bound of the bucket. */
static size_t q8_bucket_over(const gcomp_codec_params_t *p, const uint32_t *idx, size_t j0, size_t j1,
                             const float *gp, const float *res)
{
    float absmax = 0;
    for (size_t j = j0; j < j1; j++) {
        float v = gp[idx ? idx[j] : j];
        if (isfinite(v)) absmax = fmaxf(absmax, fabsf(v));
    }
    double bound = q8_bound(p->rounding, absmax);
    size_t over = 0;
    for (size_t j = j0; j < j1; j++) over += fabs((double)res[idx ? idx[j] : j]) > bound;
    return over;
}

/* The kept indices of a topk or topk-q8 frame (no zstd stage): bit-packed gaps after the header. */
static size_t kept_indices(const uint8_t *frame, const gcomp_frame_info_t *info, uint32_t *idx)
{
    const uint8_t *payload = frame + GCOMP_WIRE_HEADER_LEN;
    size_t kept = (size_t)info->kept;
    REQUIRE(gcomp_bitunpack(idx, payload + GCOMP_TOPK_INDEX_HEADER_LEN,
                            (size_t)info->payload_bytes - GCOMP_TOPK_INDEX_HEADER_LEN, 0, kept, payload[0]) == 0,
            "kept indices of %zu elements do not unpack", kept);
    for (size_t j = 1; j < kept; j++) idx[j] += idx[j - 1] + 1;
    return kept;
}

/* Elements whose residual after one encoding is not what the codec promises (see the top). */
static size_t residual_off(const gcomp_codec_params_t *p, const uint8_t *frame, const gcomp_frame_info_t *info,
                           const float *gp, const float *res, const float *dst, uint32_t *idx)
{
    size_t off = 0;
    switch (p->codec) {
    case GCOMP_CODEC_NONE:
        for (size_t i = 0; i < N; i++) off += res[i] != 0;
        break;
    case GCOMP_CODEC_Q8:
        for (size_t s = 0; s < N; s += p->q8_bucket)
            off += q8_bucket_over(p, NULL, s, s + p->q8_bucket < N ? s + p->q8_bucket : N, gp, res);
        break;
    case GCOMP_CODEC_TOPK:
    case GCOMP_CODEC_TOPK_Q8: {
        /* A kept element can decode to 0 only when it leaves g' (q8 rounds it to 0, or g' is 0). */
        float min_kept = INFINITY, max_dropped = 0;
        for (size_t i = 0; i < N; i++) {
            if (!isfinite(gp[i])) continue;
            if (dst[i] == 0) {
                off += res[i] != gp[i];
                max_dropped = fmaxf(max_dropped, fabsf(gp[i]));
            } else {
                off += p->codec == GCOMP_CODEC_TOPK && res[i] != 0;
                min_kept = fminf(min_kept, fabsf(gp[i]));
            }
        }
        off += max_dropped > min_kept;
        if (p->codec == GCOMP_CODEC_TOPK_Q8) {
            size_t kept = kept_indices(frame, info, idx);
            for (size_t j = 0; j < kept; j += p->q8_bucket)
                off += q8_bucket_over(p, idx, j, j + p->q8_bucket < kept ? j + p->q8_bucket : kept, gp, res);
        }
        break;
    }
    }
    return off;
}

static void run(gcomp_codec_t codec, gcomp_rounding_t rounding, gcomp_topk_select_t select, int nonfinite)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.rounding = rounding;
    p.topk_select = select;
    p.topk_ratio = 0.02f;
    p.error_feedback = 1;
    p.topk_values = GCOMP_VALUES_FP32;
    p.zstd_level = 0; /* kept_indices reads the payload as the codec wrote it */
    size_t cap = gcomp_frame_bound(&p, N);
    uint8_t *frame = malloc(cap);
    float *g = malloc(N * 4), *res = calloc(N, 4), *dst = malloc(N * 4), *gp = malloc(N * 4);
    uint32_t *idx = malloc(N * 4);
    double *sum_in = calloc(N, 8), *sum_out = calloc(N, 8), *slack = calloc(N, 8);
    char *tainted = calloc(N, 1); /* elements that once held a non-finite input */
    test_rng_t r = {1234 + (uint64_t)codec};
    double max_res = 0;
    int finite = 1;
    size_t off = 0;

    for (int t = 0; t < CALLS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)(test_rng_heavy(&r) * (1 + (i % 5)));
        if (nonfinite) {
            g[(t * 37) % N] = NAN;
            g[(t * 91 + 5) % N] = t % 2 ? INFINITY : -INFINITY;
        }
        for (int i = 0; i < N; i++) {
            gp[i] = g[i] + res[i]; /* g' as the encoder forms it */
            if (!isfinite(g[i])) continue;
            /* fl(g + e) and fl(g' - decoded) each round by at most half an ulp of |g'|. */
            slack[i] += (fabs((double)g[i]) + fabs((double)res[i])) * 0x1p-23;
        }
        gcomp_frame_info_t where = {.dtype = GCOMP_DTYPE_FP32, .total_count = N, .chunk_count = N, .seq = (uint64_t)t};
        gcomp_frame_info_t info;
        gcomp_status_t st = gcomp_frame_encode(&p, &where, g, res, frame, cap, &info);
        REQUIRE(st == GCOMP_OK, "encode: %s", gcomp_status_string(st));
        st = gcomp_frame_decode(frame, info.frame_bytes, NULL, dst, 0, NULL);
        REQUIRE(st == GCOMP_OK, "decode: %s", gcomp_status_string(st));
        off += residual_off(&p, frame, &info, gp, res, dst, idx);
        for (int i = 0; i < N; i++) {
            if (!isfinite(g[i])) {
                /* A non-finite input travels exactly and leaves no residual behind. */
                CHECK(isnan(g[i]) ? isnan(dst[i]) : dst[i] == g[i], "non-finite %g decoded as %g", (double)g[i],
                      (double)dst[i]);
                CHECK(res[i] == 0, "residual %g at a non-finite input", (double)res[i]);
                tainted[i] = 1; /* its earlier residual was dropped with it, by design */
                continue;
            }
            sum_in[i] += g[i];
            sum_out[i] += dst[i];
            finite &= isfinite(res[i]) != 0;
            max_res = fmax(max_res, fabs((double)res[i]));
        }
    }
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double gap = fabs(sum_out[i] + (double)res[i] - sum_in[i]);
        if (tainted[i]) continue;
        if (gap > slack[i] + 1e-30) worst = fmax(worst, gap / (slack[i] + 1e-30));
    }
    CHECK(finite, "%s: residual not finite", gcomp_codec_name(codec));
    CHECK(off == 0, "%s rounding %d select %d: %zu residuals over %d calls outside the codec's promise",
          gcomp_codec_name(codec), rounding, select, off, CALLS);
    CHECK(worst == 0, "%s rounding %d select %d: sum(decoded) + residual misses sum(inputs) by %.3g x the bound",
          gcomp_codec_name(codec), rounding, select, worst);
    printf("  %-8s rounding=%-10s select=%-7s nonfinite=%d: max |residual| %.3g\n", gcomp_codec_name(codec),
           rounding == GCOMP_ROUND_NEAREST ? "nearest" : "stochastic", select == GCOMP_TOPK_EXACT ? "exact" : "sampled",
           nonfinite, max_res);
    free(frame);
    free(g);
    free(res);
    free(dst);
    free(sum_in);
    free(sum_out);
    free(slack);
    free(tainted);
    free(gp);
    free(idx);
}

int main(void)
{
    setenv("GCOMP_DEBUG", "error", 1);
    for (int nf = 0; nf < 2; nf++) {
        run(GCOMP_CODEC_NONE, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT, nf);
        for (int rnd = 0; rnd < 2; rnd++) run(GCOMP_CODEC_Q8, (gcomp_rounding_t)rnd, GCOMP_TOPK_EXACT, nf);
        for (int sel = 0; sel < 2; sel++) {
            run(GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, (gcomp_topk_select_t)sel, nf);
            run(GCOMP_CODEC_TOPK_Q8, GCOMP_ROUND_STOCHASTIC, (gcomp_topk_select_t)sel, nf);
        }
    }
    return check_finish("test_ef");
}
