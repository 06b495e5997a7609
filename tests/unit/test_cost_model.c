/*
 * The cost model's algorithm choice (src/coll/cost_model.c, docs/cost-model.md), without running
 * any algorithm:
 *   - over a grid of codecs, sizes, rank counts and top-k ratios, gcomp_algo_choose returns an
 *     algorithm that applies to the codec and whose gcomp_cost_estimate is the least of those that
 *     apply (the model's own ordering, whatever its constants);
 *   - a forced algorithm that applies is kept, one that does not falls back to the model's pick;
 *   - a few pinned decisions that document where today's constants put the crossovers (change
 *     them here, with the reason, when the model changes on purpose).
 */
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "coll/algo.h"
#include "coll/coll.h"

static const gcomp_algo_t all_algos[] = {GCOMP_ALGO_SRA, GCOMP_ALGO_ALLGATHER, GCOMP_ALGO_SPARSE_RS};

static gcomp_codec_params_t params(gcomp_codec_t codec, float ratio)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.topk_ratio = ratio;
    p.topk_values = GCOMP_VALUES_FP32;
    return p;
}

static gcomp_algo_t choose(const gcomp_codec_params_t *p, size_t n, int size, gcomp_algo_t forced)
{
    return gcomp_algo_choose(p, n, size, gcomp_coll_stage_elems(gcomp_coll_config()->pipeline_bytes, n), forced);
}

/* The cheapest applicable algorithm by the model's estimates, first in all_algos on a tie. */
static gcomp_algo_t cheapest(const gcomp_codec_params_t *p, size_t n, int size, double *seconds_p)
{
    gcomp_algo_t best = GCOMP_ALGO_AUTO;
    double best_s = 0;
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(all_algos); i++) {
        if (!gcomp_algo_applies(all_algos[i], p->codec)) continue;
        gcomp_cost_t c;
        gcomp_cost_estimate(all_algos[i], p, n, size, gcomp_coll_stage_elems(gcomp_coll_config()->pipeline_bytes, n), &c);
        CHECK(isfinite(c.seconds) && c.seconds > 0 && c.bytes > 0 && c.msgs > 0,
              "%s estimate for %s n=%zu P=%d: %g s, %g bytes, %g messages", gcomp_algo_name(all_algos[i]),
              gcomp_codec_name(p->codec), n, size, c.seconds, c.bytes, c.msgs);
        if (best == GCOMP_ALGO_AUTO || c.seconds < best_s) {
            best = all_algos[i];
            best_s = c.seconds;
        }
    }
    *seconds_p = best_s;
    return best;
}

static void test_applies(void)
{
    const gcomp_codec_t dense[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8};
    const gcomp_codec_t sparse[] = {GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8};
    for (int i = 0; i < 2; i++) {
        CHECK(gcomp_algo_applies(GCOMP_ALGO_SRA, dense[i]) && !gcomp_algo_applies(GCOMP_ALGO_ALLGATHER, dense[i]) &&
                  !gcomp_algo_applies(GCOMP_ALGO_SPARSE_RS, dense[i]),
              "%s: only scatter-reduce-allgather applies", gcomp_codec_name(dense[i]));
        CHECK(!gcomp_algo_applies(GCOMP_ALGO_SRA, sparse[i]) && gcomp_algo_applies(GCOMP_ALGO_ALLGATHER, sparse[i]) &&
                  gcomp_algo_applies(GCOMP_ALGO_SPARSE_RS, sparse[i]),
              "%s: the sparse all-gather and reduce-scatter apply", gcomp_codec_name(sparse[i]));
        CHECK(!gcomp_algo_applies(GCOMP_ALGO_AUTO, dense[i]) && !gcomp_algo_applies(GCOMP_ALGO_AUTO, sparse[i]),
              "auto is not an algorithm");
    }
}

/* choose == the model's argmin over the grid. */
static void test_choice_is_cheapest(void)
{
    const gcomp_codec_t codecs[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8};
    const size_t sizes[] = {1, 1000, 65536, 1000000, 25000000, 300000000};
    const int ranks[] = {2, 3, 4, 8, 16, 64, 256, 1024};
    const float ratios[] = {0.0005f, 0.001f, 0.01f, 0.05f, 0.1f, 0.3f};
    long cases = 0, picked[3] = {0, 0, 0};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++)
        for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++)
            for (size_t r = 0; r < GCOMP_ARRAY_SIZE(ranks); r++)
                for (size_t q = 0; q < GCOMP_ARRAY_SIZE(ratios); q++) {
                    gcomp_codec_params_t p = params(codecs[c], ratios[q]);
                    double best_s;
                    gcomp_algo_t want = cheapest(&p, sizes[s], ranks[r], &best_s);
                    gcomp_algo_t got = choose(&p, sizes[s], ranks[r], GCOMP_ALGO_AUTO);
                    CHECK(got == want && gcomp_algo_applies(got, p.codec),
                          "%s n=%zu P=%d ratio=%g: chose %s, the model's cheapest is %s (%g s)",
                          gcomp_codec_name(p.codec), sizes[s], ranks[r], (double)ratios[q], gcomp_algo_name(got),
                          gcomp_algo_name(want), best_s);
                    picked[got - GCOMP_ALGO_SRA]++;
                    cases++;
                }
    printf("%ld cases: sra %ld, allgather %ld, sparse-rs %ld\n", cases, picked[0], picked[1], picked[2]);
    /* The grid spans the crossover: both sparse algorithms win somewhere. */
    CHECK(picked[1] > 0 && picked[2] > 0, "the grid never picks one of the sparse algorithms");
}

static void test_forced(void)
{
    gcomp_codec_params_t topk = params(GCOMP_CODEC_TOPK, 0.01f), q8 = params(GCOMP_CODEC_Q8, 0.01f);
    gcomp_codec_params_t topk_q8 = params(GCOMP_CODEC_TOPK_Q8, 0.01f);
    const size_t n = 1000000;
    CHECK(choose(&topk, n, 8, GCOMP_ALGO_ALLGATHER) == GCOMP_ALGO_ALLGATHER, "forced allgather with topk");
    CHECK(choose(&topk, n, 8, GCOMP_ALGO_SPARSE_RS) == GCOMP_ALGO_SPARSE_RS, "forced sparse-rs with topk");
    CHECK(choose(&topk_q8, n, 2, GCOMP_ALGO_SPARSE_RS) == GCOMP_ALGO_SPARSE_RS, "forced sparse-rs with topk-q8");
    CHECK(choose(&q8, n, 8, GCOMP_ALGO_SRA) == GCOMP_ALGO_SRA, "forced sra with q8");
    /* Forced where it does not apply: the model picks, as with auto (one info line, silenced here). */
    CHECK(choose(&q8, n, 8, GCOMP_ALGO_ALLGATHER) == GCOMP_ALGO_SRA, "forced allgather with q8");
    CHECK(choose(&q8, n, 8, GCOMP_ALGO_SPARSE_RS) == GCOMP_ALGO_SRA, "forced sparse-rs with q8");
    for (int size = 2; size <= 256; size *= 4)
        CHECK(choose(&topk, n, size, GCOMP_ALGO_SRA) == choose(&topk, n, size, GCOMP_ALGO_AUTO),
              "forced sra with topk at P=%d: not the model's pick", size);
}

/* Today's decisions at a few points either side of the crossovers. */
static void test_pinned(void)
{
    static const struct {
        gcomp_codec_t codec;
        float ratio;
        size_t n;
        int size;
        gcomp_algo_t want;
        const char *why;
    } pins[] = {
        {GCOMP_CODEC_Q8, 0.01f, 1000000, 8, GCOMP_ALGO_SRA, "q8 has one algorithm"},
        {GCOMP_CODEC_NONE, 0.01f, 1000, 2, GCOMP_ALGO_SRA, "none has one algorithm"},
        {GCOMP_CODEC_TOPK, 0.001f, 1000000, 2, GCOMP_ALGO_ALLGATHER,
         "small k, two ranks: one sparse frame each way beats two rounds"},
        {GCOMP_CODEC_TOPK, 0.01f, 25000000, 4, GCOMP_ALGO_ALLGATHER,
         "1% of a large vector over a few ranks: gathering P frames is cheaper"},
        {GCOMP_CODEC_TOPK, 0.1f, 25000000, 64, GCOMP_ALGO_SPARSE_RS,
         "large k, many ranks: each rank receives P-1 full frames with allgather"},
        {GCOMP_CODEC_TOPK, 0.01f, 25000000, 256, GCOMP_ALGO_SPARSE_RS,
         "many ranks: allgather's bytes grow with P, the reduce-scatter's do not"},
        {GCOMP_CODEC_TOPK_Q8, 0.1f, 25000000, 64, GCOMP_ALGO_SPARSE_RS, "topk-q8 like topk at large k and P"},
    };
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(pins); i++) {
        gcomp_codec_params_t p = params(pins[i].codec, pins[i].ratio);
        gcomp_algo_t got = choose(&p, pins[i].n, pins[i].size, GCOMP_ALGO_AUTO);
        CHECK(got == pins[i].want, "%s ratio=%g n=%zu P=%d: %s, expected %s (%s)", gcomp_codec_name(pins[i].codec),
              (double)pins[i].ratio, pins[i].n, pins[i].size, gcomp_algo_name(got), gcomp_algo_name(pins[i].want),
              pins[i].why);
    }
}

/* The ops table the cost model walks: every algorithm once, found by its id, named as GCOMP_ALGO
 * spells it. */
static void test_ops_table(void)
{
    CHECK(gcomp_algos_count == 3, "%zu algorithms", gcomp_algos_count);
    for (size_t i = 0; i < gcomp_algos_count; i++) {
        const gcomp_algo_ops_t *ops = gcomp_algos[i];
        CHECK(gcomp_algo_ops_get(ops->id) == ops, "%s: found by its id", ops->name);
        CHECK(strcmp(ops->name, gcomp_algo_names[ops->id]) == 0 && strcmp(gcomp_algo_name(ops->id), ops->name) == 0,
              "%s: named %s in GCOMP_ALGO", ops->name, gcomp_algo_names[ops->id]);
    }
    CHECK(gcomp_algo_ops_get(GCOMP_ALGO_AUTO) == NULL && strcmp(gcomp_algo_name(GCOMP_ALGO_AUTO), "auto") == 0,
          "auto has no ops");
}

int main(void)
{
    setenv("GCOMP_DEBUG", "warn", 1);
    test_ops_table();
    test_applies();
    test_choice_is_cheapest();
    test_forced();
    test_pinned();
    return check_finish("test_cost_model");
}
