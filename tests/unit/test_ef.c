/* Error feedback over many calls, for every codec through the frame API: nothing is lost — the sum of
 * decoded outputs plus the final residual equals the sum of inputs to float rounding — and the
 * residual stays finite and bounded, also when inputs hold NaN and Inf. */
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "codec/codec.h"

enum { N = 4099, CALLS = 200 };

static void run(gcomp_codec_t codec, gcomp_rounding_t rounding, gcomp_topk_select_t select, int nonfinite)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.rounding = rounding;
    p.topk_select = select;
    p.topk_ratio = 0.02f;
    p.error_feedback = 1;
    size_t cap = gcomp_frame_bound(&p, N);
    uint8_t *frame = malloc(cap);
    float *g = malloc(N * 4), *res = calloc(N, 4), *dst = malloc(N * 4);
    double *sum_in = calloc(N, 8), *sum_out = calloc(N, 8), *slack = calloc(N, 8);
    char *tainted = calloc(N, 1); /* elements that once held a non-finite input */
    test_rng_t r = {1234 + (uint64_t)codec};
    double max_res = 0;
    int finite = 1;

    for (int t = 0; t < CALLS; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)(test_rng_heavy(&r) * (1 + (i % 5)));
        if (nonfinite) {
            g[(t * 37) % N] = NAN;
            g[(t * 91 + 5) % N] = t % 2 ? INFINITY : -INFINITY;
        }
        for (int i = 0; i < N; i++) {
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
