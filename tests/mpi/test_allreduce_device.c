/*
 * gcomp_allreduce on device buffers, on machines without a GPU: "device 0" is emulated
 * (gcomp_cuda_emulate_devices: host memory run by the kernels' host emulation, classified as device
 * memory), so the whole device path runs -- classification, the CUDA frame encode and decode from and
 * into device memory, device accumulators, the residual and its snapshots in device memory, frames
 * staged through host memory for the transport.
 *
 * It must give exactly what the host path gives: the same sequence of calls on two contexts, one
 * with host buffers and one with device buffers on every rank (or on every other rank: GPU and CPU
 * ranks in one job), must give the same output bits and the same residuals on every rank, for every
 * codec, both roundings, both top-k selections, in place or not, over several calls (so error
 * feedback carries). Also: what the device path does not take fails on every rank with
 * GCOMP_ERR_UNSUPPORTED, a call that fails (a mismatch, a damaged frame) leaves a device residual
 * exactly as it was.
 *
 * Built twice: over the kernels' host emulation (emulate.c), and with GCOMP_TEST_SIMT over the real
 * kernels on the SIMT emulator (cuda/simt), under ASan and UBSan where the compiler has them.
 */
#include "coll_util.h"
#include "gcomp_cuda.h"
#include "kernels.h"
#ifdef GCOMP_TEST_SIMT
#include "simt.h"
#endif

static gcomp_cuda_ctx_t *dev;

static void case_line(const char *name, int failures_before)
{
    int failed = check_failures > failures_before, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (world_rank == 0) printf("%-72s %s\n", name, any ? "FAIL" : "ok");
}

static float *dev_alloc(size_t n)
{
    void *p = NULL;
    gcomp_status_t st = gcomp_cuda_malloc(dev, &p, (n + 1) * sizeof(float));
    REQUIRE(st == GCOMP_OK, "device allocation of %zu floats", n);
    REQUIRE(gcomp_cuda_classify(p, NULL) == GCOMP_MEM_DEVICE, "emulated device memory is classified as such");
    return p;
}

static void to_dev(float *d, const float *h, size_t n)
{
    REQUIRE(gcomp_cuda_memcpy(dev, d, h, n * sizeof(float)) == GCOMP_OK, "copy to the device");
}

static void from_dev(float *h, const float *d, size_t n)
{
    REQUIRE(gcomp_cuda_memcpy(dev, h, d, n * sizeof(float)) == GCOMP_OK, "copy from the device");
}

/* A residual level's bytes, on the host, whatever memory it lives in. */
static float *residual_copy(const gcomp_residual_t *r, int level, size_t *len_p)
{
    const float *v = gcomp_residual_view(r, level, len_p);
    float *h = malloc((*len_p + 1) * sizeof(float));
    if (*len_p > 0) {
        if (gcomp_cuda_classify(v, NULL) == GCOMP_MEM_DEVICE) from_dev(h, v, *len_p);
        else memcpy(h, v, *len_p * sizeof(float));
    }
    return h;
}

static int same_residuals(const gcomp_residual_t *a, const gcomp_residual_t *b)
{
    int same = 1;
    for (int level = 1; level <= 2; level++) {
        size_t la, lb;
        float *x = residual_copy(a, level, &la), *y = residual_copy(b, level, &lb);
        same &= la == lb && (la == 0 || memcmp(x, y, la * sizeof(float)) == 0);
        free(x);
        free(y);
    }
    return same;
}

typedef struct dcase {
    const char *name;
    gcomp_codec_t codec;
    int rounding;
    int select;
    gcomp_algo_t algo;
    int half;   /* 0 fp32, 1 fp16, 2 bf16 */
} dcase_t;

static MPI_Datatype mpi_type(int half)
{
#ifdef MPIX_C_FLOAT16
    if (half == 1) return MPIX_C_FLOAT16;
#endif
#ifdef MPIX_BFLOAT16
    if (half == 2) return MPIX_BFLOAT16;
#endif
    return half ? MPI_DATATYPE_NULL : MPI_FLOAT;
}

/* The inputs in the case's element type (in place in x's memory). */
static void narrow(float *x, size_t n, int half)
{
    uint16_t *h = (uint16_t *)x;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (half == 1) h[i] = gcomp_f32_to_f16(fabsf(v) > 60000.0f ? 1.0f : v);
        else if (half == 2) h[i] = (uint16_t)(gcomp_f32_bits(v) >> 16);
    }
}

/* The same calls on a host context and a device context (device on the ranks device_on says). */
static void run_pair(const dcase_t *c, size_t n, int in_place, int every_other)
{
    int f0 = check_failures;
    const int on_device = every_other ? world_rank % 2 == 0 : 1;
    gcomp_comm_t *hctx, *dctx;
    REQUIRE(gcomp_comm_create(MPI_COMM_WORLD, &hctx) == GCOMP_OK, "host context");
    REQUIRE(gcomp_comm_create(MPI_COMM_WORLD, &dctx) == GCOMP_OK, "device context");
    gcomp_residual_t *hres, *dres;
    gcomp_residual_create(&hres);
    gcomp_residual_create(&dres);
    gcomp_codec_params_t p = params_for(c->codec);
    p.rounding = c->rounding;
    p.topk_select = c->select;
    p.topk_ratio = 0.05f;
    const MPI_Datatype type = mpi_type(c->half);
    const size_t bytes = n * (c->half ? 2 : 4);
    float *x = malloc((n + 1) * sizeof(float)), *yh = malloc((n + 1) * sizeof(float)),
          *yd = malloc((n + 1) * sizeof(float));
    float *xd = on_device ? dev_alloc(n) : malloc((n + 1) * sizeof(float));
    float *od = on_device ? dev_alloc(n) : malloc((n + 1) * sizeof(float));
    for (int call = 0; call < 4; call++) {
        fill_heavy(x, n, (uint64_t)(1000 * call + world_rank + 1));
        if (call == 2 && n > 10) x[n / 3] = NAN; /* non-finite values travel exactly on both paths */
        narrow(x, n, c->half);
        memcpy(yh, x, bytes);
        gcomp_status_t sh = gcomp_allreduce_algo(hctx, in_place ? MPI_IN_PLACE : x, yh, n, type, MPI_SUM, hres, &p,
                                                 c->algo);
        if (on_device) {
            REQUIRE(gcomp_cuda_memcpy(dev, in_place ? od : xd, x, bytes) == GCOMP_OK, "copy to the device");
        } else {
            memcpy(in_place ? od : xd, x, bytes);
        }
        gcomp_status_t sd = gcomp_allreduce_algo(dctx, in_place ? MPI_IN_PLACE : xd, od, n, type, MPI_SUM, dres, &p,
                                                 c->algo);
        CHECK(sh == GCOMP_OK && sd == GCOMP_OK, "%s n=%zu call %d: host %s, device %s", c->name, n, call,
              gcomp_status_string(sh), gcomp_status_string(sd));
        if (on_device) REQUIRE(gcomp_cuda_memcpy(dev, yd, od, bytes) == GCOMP_OK, "copy from the device");
        else memcpy(yd, od, bytes);
        CHECK(memcmp(yh, yd, bytes) == 0, "%s n=%zu call %d: device output differs from the host's", c->name, n,
              call);
        CHECK(identical_across(MPI_COMM_WORLD, yd, bytes), "%s n=%zu call %d: ranks differ", c->name, n, call);
        CHECK(same_residuals(hres, dres), "%s n=%zu call %d: device residual differs from the host's", c->name, n,
              call);
        CHECK(hctx->last_algo == dctx->last_algo, "%s: algorithms differ (%d, %d)", c->name, hctx->last_algo,
              dctx->last_algo);
    }
    if (on_device) {
        gcomp_cuda_free(dev, xd);
        gcomp_cuda_free(dev, od);
    } else {
        free(xd);
        free(od);
    }
    free(x);
    free(yh);
    free(yd);
    gcomp_residual_destroy(hres);
    gcomp_residual_destroy(dres);
    gcomp_comm_destroy(hctx);
    gcomp_comm_destroy(dctx);
    char name[128];
    snprintf(name, sizeof(name), "%s, n=%zu%s%s", c->name, n, in_place ? ", in place" : "",
             every_other ? ", device on even ranks" : "");
    case_line(name, f0);
}

/* What the device path does not take fails on every rank; the device residual is left as it was. */
static void test_refusals(void)
{
    int f0 = check_failures;
    const size_t n = 5000;
    gcomp_comm_t *ctx;
    REQUIRE(gcomp_comm_create(MPI_COMM_WORLD, &ctx) == GCOMP_OK, "context");
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    float *x = malloc(n * sizeof(float)), *xd = dev_alloc(n), *od = dev_alloc(n);
    fill_heavy(x, n, 7);
    to_dev(xd, x, n);
    gcomp_status_t st = gcomp_allreduce(ctx, xd, od, n, MPI_FLOAT, MPI_SUM, res, &p);
    CHECK(st == GCOMP_OK, "a first device call: %s", gcomp_status_string(st));
    size_t l1;
    float *before = residual_copy(res, 1, &l1);
    /* Rank 0 mixes a device input with a host output: every rank fails, nothing changes. */
    float *host_out = malloc(n * sizeof(float));
    st = gcomp_allreduce(ctx, xd, world_rank == 0 ? host_out : od, n, MPI_FLOAT, MPI_SUM, res, &p);
    CHECK(st == GCOMP_ERR_UNSUPPORTED, "device input, host output on rank 0: %s", gcomp_status_string(st));
    size_t l1b;
    float *after = residual_copy(res, 1, &l1b);
    CHECK(l1 == l1b && memcmp(before, after, l1 * sizeof(float)) == 0, "a refused call changed the residual");
    /* A mismatch found by the agreement (rank 0 asks for another ratio) rolls the device residual back. */
    gcomp_codec_params_t q = p;
    if (world_rank == 0) q.q8_bucket = 256;
    st = gcomp_allreduce(ctx, xd, od, n, MPI_FLOAT, MPI_SUM, res, &q);
    CHECK(st != GCOMP_OK, "a mismatched call succeeded");
    free(after);
    after = residual_copy(res, 1, &l1b);
    CHECK(l1 == l1b && memcmp(before, after, l1 * sizeof(float)) == 0, "a mismatched call changed the residual");
    /* Doubles in device memory are not compressed by gcomp_allreduce. */
    st = gcomp_allreduce(ctx, xd, od, n / 2, MPI_DOUBLE, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_ERR_UNSUPPORTED, "double device buffers: %s", gcomp_status_string(st));
    CHECK(ctx->failed == GCOMP_OK, "a refused call failed the context");
    /* The interposer's test: host buffers and fp32 device buffers are taken, the rest passes to MPI. */
    CHECK(gcomp_coll_device_ok(x, host_out, 1) && gcomp_coll_device_ok(xd, od, 1) &&
              gcomp_coll_device_ok(MPI_IN_PLACE, od, 1) && !gcomp_coll_device_ok(xd, od, 0) &&
              !gcomp_coll_device_ok(xd, host_out, 1),
          "gcomp_coll_device_ok");
    free(before);
    free(after);
    free(host_out);
    free(x);
    gcomp_cuda_free(dev, xd);
    gcomp_cuda_free(dev, od);
    gcomp_residual_destroy(res);
    gcomp_comm_destroy(ctx);
    case_line("refusals fail on every rank and leave the device residual alone", f0);
}

/* A damaged frame from rank 1 (fault injection builds): every rank fails the call, the device
 * residual is left as it was, the context goes on, and the next call is right again. */
static void test_fault(const char *kind, gcomp_codec_t codec)
{
#if GCOMP_HAVE_FAULT_INJECTION
    int f0 = check_failures;
    const size_t n = 30000;
    char spec[64];
    snprintf(spec, sizeof(spec), "%s,rank=1,call=2", kind);
    set_env("GCOMP_FAULT", spec);
    gcomp_comm_t *ctx;
    REQUIRE(gcomp_comm_create(MPI_COMM_WORLD, &ctx) == GCOMP_OK, "context");
    set_env("GCOMP_FAULT", NULL);
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(codec);
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *xd = dev_alloc(n), *od = dev_alloc(n);
    gcomp_status_t st = GCOMP_OK;
    for (int call = 0; call < 2; call++) {
        fill_heavy(x, n, (uint64_t)(world_rank * 10 + call));
        to_dev(xd, x, n);
        st = gcomp_allreduce(ctx, xd, od, n, MPI_FLOAT, MPI_SUM, res, &p);
        CHECK(st == GCOMP_OK, "%s: good call %d: %s", kind, call, gcomp_status_string(st));
    }
    size_t l1, l2, l1b, l2b;
    float *b1 = residual_copy(res, 1, &l1), *b2 = residual_copy(res, 2, &l2);
    st = gcomp_allreduce(ctx, xd, od, n, MPI_FLOAT, MPI_SUM, res, &p);
    CHECK(st != GCOMP_OK, "%s from rank 1: the damaged call succeeded on rank %d", kind, world_rank);
    float *a1 = residual_copy(res, 1, &l1b), *a2 = residual_copy(res, 2, &l2b);
    CHECK(l1 == l1b && l2 == l2b && memcmp(a1, b1, l1 * sizeof(float)) == 0 &&
              memcmp(a2, b2, l2 * sizeof(float)) == 0,
          "%s: the failed call changed the device residual", kind);
    CHECK(ctx->failed == GCOMP_OK, "%s: a damaged frame failed the context", kind);
    st = gcomp_allreduce(ctx, xd, od, n, MPI_FLOAT, MPI_SUM, res, &p);
    from_dev(y, od, n);
    CHECK(st == GCOMP_OK && identical_across(MPI_COMM_WORLD, y, n * sizeof(float)), "%s: the next call: %s", kind,
          gcomp_status_string(st));
    free(a1), free(a2), free(b1), free(b2), free(x), free(y);
    gcomp_cuda_free(dev, xd);
    gcomp_cuda_free(dev, od);
    gcomp_residual_destroy(res);
    gcomp_comm_destroy(ctx);
    char name[96];
    snprintf(name, sizeof(name), "%s frame from rank 1 (%s): an error on every rank", kind, gcomp_codec_name(codec));
    case_line(name, f0);
#else
    (void)kind, (void)codec;
#endif
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    setenv("GCOMP_DEBUG", "error", 0); /* the refusals warn by design */
#ifdef GCOMP_TEST_SIMT
    gcomp_cuda_emulate_devices(gcomp_cu_backend_simt()); /* the kernels themselves, on the SIMT emulator */
#else
    gcomp_cuda_emulate_devices(&gcomp_cu_backend_emu);
#endif
    REQUIRE(gcomp_cuda_ctx_of_device(0, &dev) == GCOMP_OK, "emulated device 0");
    set_env("GCOMP_PIPELINE_BYTES", "65536"); /* several pipeline stages per call */

    static const dcase_t cases[] = {
        {"none", GCOMP_CODEC_NONE, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT, GCOMP_ALGO_AUTO, 0},
        {"q8 nearest (sra)", GCOMP_CODEC_Q8, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT, GCOMP_ALGO_AUTO, 0},
        {"q8 stochastic (sra)", GCOMP_CODEC_Q8, GCOMP_ROUND_STOCHASTIC, GCOMP_TOPK_EXACT, GCOMP_ALGO_AUTO, 0},
        {"topk exact (all-gather)", GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT,
         GCOMP_ALGO_ALLGATHER, 0},
        {"topk sampled (all-gather)", GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, GCOMP_TOPK_SAMPLED,
         GCOMP_ALGO_ALLGATHER, 0},
        {"topk-q8 stochastic (all-gather)", GCOMP_CODEC_TOPK_Q8, GCOMP_ROUND_STOCHASTIC, GCOMP_TOPK_SAMPLED,
         GCOMP_ALGO_ALLGATHER, 0},
    };
    static const dcase_t halves[] = {
        {"fp16, q8 stochastic (sra)", GCOMP_CODEC_Q8, GCOMP_ROUND_STOCHASTIC, GCOMP_TOPK_EXACT, GCOMP_ALGO_AUTO, 1},
        {"fp16, topk sampled (all-gather)", GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, GCOMP_TOPK_SAMPLED,
         GCOMP_ALGO_ALLGATHER, 1},
        {"bf16, q8 nearest (sra)", GCOMP_CODEC_Q8, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT, GCOMP_ALGO_AUTO, 2},
        {"bf16, topk exact (all-gather)", GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT,
         GCOMP_ALGO_ALLGATHER, 2},
    };
    static const size_t sizes[] = {1, 1000, 70001};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(cases); c++)
        for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++) run_pair(&cases[c], sizes[s], 0, 0);
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(halves); c++) {
        if (mpi_type(halves[c].half) == MPI_DATATYPE_NULL) {
            if (world_rank == 0) printf("%-72s skipped (this MPI has no such type)\n", halves[c].name);
            continue;
        }
        run_pair(&halves[c], 70001, 0, 0);
        run_pair(&halves[c], 70001, 1, 1);
    }
    run_pair(&cases[1], 70001, 1, 0);
    run_pair(&cases[5], 70001, 1, 0);
    if (world_size > 1) {
        run_pair(&cases[2], 70001, 0, 1);
        run_pair(&cases[4], 70001, 0, 1);
    }
    /* The sparse reduce-scatter: owners size their frames from the sums read back to the host. */
    static const dcase_t rs[] = {
        {"topk exact (sparse-rs)", GCOMP_CODEC_TOPK, GCOMP_ROUND_NEAREST, GCOMP_TOPK_EXACT, GCOMP_ALGO_SPARSE_RS, 0},
        {"topk-q8 stochastic (sparse-rs, level-2 residual)", GCOMP_CODEC_TOPK_Q8, GCOMP_ROUND_STOCHASTIC,
         GCOMP_TOPK_SAMPLED, GCOMP_ALGO_SPARSE_RS, 0},
    };
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(rs); c++) {
        run_pair(&rs[c], 1000, 0, 0);
        run_pair(&rs[c], 70001, 0, 0);
        if (world_size > 1) run_pair(&rs[c], 70001, 1, 1);
    }
    test_refusals();
    if (world_size > 1) {
        test_fault("flip", GCOMP_CODEC_Q8);
        test_fault("truncate", GCOMP_CODEC_TOPK);
    }
    int rc = check_finish("test_allreduce_device");
    MPI_Finalize();
    return rc;
}
