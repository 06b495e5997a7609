/*
 * Data-parallel training of a small MLP (784-256-10, ReLU, softmax) on Fashion-MNIST, written plainly
 * in C, with its gradients averaged by gcomp's C API.
 *
 *   mpiexec.mpich -n 4 build/examples/train_mlp -e 5                      # codec from GCOMP_CODEC (q8)
 *   mpiexec.mpich -n 4 build/examples/train_mlp -e 5 -c topk -r 0.01      # top-k 1%, error feedback
 *   mpiexec.mpich -n 4 build/examples/train_mlp -e 5 -c topk -r 0.01 -E 0 # the same without it
 *   mpiexec.mpich -n 4 build/examples/train_mlp -e 5 -c mpi               # plain MPI_Allreduce
 *
 * Each layer's gradient (weights and bias, contiguous) is one buffer with its own error-feedback handle
 * (gcomp_residual_t): what compression drops from a layer's gradient at one step is added back to that
 * layer's gradient at the next. The handles live as long as the training does; a program that reloads
 * its parameters would call gcomp_residual_reset().
 *
 * Deterministic given -s SEED and the rank count: every rank draws the same initial weights and the
 * same shuffle from the seed, sums in a fixed order, and gcomp gives every rank bit-identical output.
 *
 * Rank 0 prints one line per epoch (or -v lines): train loss (mean over all ranks' batches since the last
 * line), test loss and accuracy, bytes all-reduced and bytes on the wire per rank since the last line,
 * wall time and the time spent in training steps (tests excluded); -j FILE writes the same as JSON
 * lines. Bytes on the wire are gcomp's count of the frame bytes each rank sent (gcomp_comm_stats); for
 * -c mpi, which gcomp does not see, what a bandwidth-optimal (ring) all-reduce sends, 2(P-1)/P of the
 * bytes all-reduced. The last line is "train_mlp: done ...".
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include <gcomp.h>

#define IN 784
#define OUT 10
#define MEAN 0.2860f /* of the Fashion-MNIST training images, scaled to [0, 1] */
#define STD 0.3530f

typedef struct {
    int n;
    float *x;  /* n x IN, normalized */
    uint8_t *y;
} dataset_t;

typedef struct {
    const char *data_dir;
    const char *codec;  /* NULL: GCOMP_CODEC; "mpi": plain MPI_Allreduce */
    const char *json;
    float ratio;        /* <= 0: GCOMP_TOPK_RATIO */
    int ef;             /* < 0: GCOMP_EF */
    int epochs, evals, batch, hidden, train_limit;
    float lr, momentum;
    uint64_t seed;
} options_t;

/* The model: W1 (hidden x IN), b1 (hidden) | W2 (OUT x hidden), b2 (OUT), in one array, so a
 * gradient of the same layout splits into one contiguous buffer per layer. */
typedef struct {
    int hidden;
    size_t n1, n2; /* elements of layer 1 (W1, b1) and layer 2 (W2, b2) */
    float *w, *grad, *velocity;
    float *w1, *b1, *w2, *b2;
} mlp_t;

static int rank, nranks;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *fmt, const char *what)
{
    fprintf(stderr, "train_mlp: rank %d: ", rank);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* splitmix64: a small generator whose stream depends only on the seed. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *state, float bound)
{
    return bound * (2.0f * (float)((double)(next_u64(state) >> 11) * 0x1.0p-53) - 1.0f);
}

/* An IDX file (the MNIST format), gzip-compressed: magic with the rank in its last byte, big-endian
 * dimensions, then unsigned bytes. */
static uint8_t *read_idx(const char *dir, const char *name, int want_dims, int *count_p)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    gzFile f = gzopen(path, "rb");
    if (f == NULL) die("cannot open %s (apt-get install dataset-fashion-mnist)", path);
    uint8_t head[16];
    int head_len = 4 + 4 * want_dims;
    if (gzread(f, head, (unsigned)head_len) != head_len || head[3] != want_dims) die("%s: not an IDX file", path);
    size_t total = 1;
    for (int d = 0; d < want_dims; d++) {
        uint32_t dim = (uint32_t)head[4 + 4 * d] << 24 | (uint32_t)head[5 + 4 * d] << 16 |
                       (uint32_t)head[6 + 4 * d] << 8 | head[7 + 4 * d];
        if (d == 0) *count_p = (int)dim;
        total *= dim;
    }
    uint8_t *data = malloc(total);
    if (data == NULL || gzread(f, data, (unsigned)total) != (int)total) die("%s: short file", path);
    gzclose(f);
    return data;
}

static void load(const char *dir, const char *prefix, int limit, dataset_t *ds)
{
    char name[64];
    int n_images, n_labels;
    snprintf(name, sizeof(name), "%s-images-idx3-ubyte.gz", prefix);
    uint8_t *pixels = read_idx(dir, name, 3, &n_images);
    snprintf(name, sizeof(name), "%s-labels-idx1-ubyte.gz", prefix);
    ds->y = read_idx(dir, name, 1, &n_labels);
    if (n_images != n_labels) die("%s: images and labels differ in number", prefix);
    ds->n = limit > 0 && limit < n_images ? limit : n_images;
    ds->x = malloc((size_t)ds->n * IN * sizeof(float));
    if (ds->x == NULL) die("%s", "out of memory");
    for (size_t i = 0; i < (size_t)ds->n * IN; i++) ds->x[i] = ((float)pixels[i] / 255.0f - MEAN) / STD;
    free(pixels);
}

static void mlp_init(mlp_t *m, int hidden, uint64_t seed)
{
    m->hidden = hidden;
    m->n1 = (size_t)hidden * IN + (size_t)hidden;
    m->n2 = (size_t)OUT * hidden + OUT;
    size_t n = m->n1 + m->n2;
    m->w = calloc(n, sizeof(float));
    m->grad = calloc(n, sizeof(float));
    m->velocity = calloc(n, sizeof(float));
    if (m->w == NULL || m->grad == NULL || m->velocity == NULL) die("%s", "out of memory");
    m->w1 = m->w;
    m->b1 = m->w1 + (size_t)hidden * IN;
    m->w2 = m->b1 + hidden;
    m->b2 = m->w2 + (size_t)OUT * hidden;
    /* He initialisation for the ReLU layer, Glorot-like for the output; biases start at zero. */
    uint64_t state = seed;
    for (size_t i = 0; i < (size_t)hidden * IN; i++) m->w1[i] = uniform(&state, sqrtf(6.0f / IN));
    for (size_t i = 0; i < (size_t)OUT * hidden; i++) m->w2[i] = uniform(&state, sqrtf(6.0f / (float)(hidden + OUT)));
}

/* Forward pass of one image: hidden activations into a1, class probabilities into p; returns the loss. */
static float forward(const mlp_t *m, const float *x, int label, float *a1, float *p)
{
    for (int h = 0; h < m->hidden; h++) {
        const float *row = m->w1 + (size_t)h * IN;
        float z = 0;
        for (int i = 0; i < IN; i++) z += row[i] * x[i];
        z += m->b1[h];
        a1[h] = z > 0 ? z : 0;
    }
    float zmax = -INFINITY;
    for (int k = 0; k < OUT; k++) {
        const float *row = m->w2 + (size_t)k * m->hidden;
        float z = m->b2[k];
        for (int h = 0; h < m->hidden; h++) z += row[h] * a1[h];
        p[k] = z;
        zmax = fmaxf(zmax, z);
    }
    float sum = 0;
    for (int k = 0; k < OUT; k++) sum += p[k] = expf(p[k] - zmax);
    for (int k = 0; k < OUT; k++) p[k] /= sum;
    return -logf(fmaxf(p[label], 1e-30f));
}

/* Adds the gradient of loss/scale at one image to m->grad. */
static void backward(mlp_t *m, const float *x, int label, const float *a1, const float *p, float scale,
                     float *d1)
{
    float *gw1 = m->grad, *gb1 = gw1 + (size_t)m->hidden * IN;
    float *gw2 = gb1 + m->hidden, *gb2 = gw2 + (size_t)OUT * m->hidden;
    float d2[OUT];
    for (int k = 0; k < OUT; k++) d2[k] = (p[k] - (k == label ? 1.0f : 0.0f)) * scale;
    for (int h = 0; h < m->hidden; h++) d1[h] = 0;
    for (int k = 0; k < OUT; k++) {
        float *grow = gw2 + (size_t)k * m->hidden;
        const float *wrow = m->w2 + (size_t)k * m->hidden;
        for (int h = 0; h < m->hidden; h++) {
            grow[h] += d2[k] * a1[h];
            d1[h] += d2[k] * wrow[h];
        }
        gb2[k] += d2[k];
    }
    for (int h = 0; h < m->hidden; h++) {
        if (a1[h] <= 0) continue; /* ReLU: no gradient flows through an inactive unit */
        float *grow = gw1 + (size_t)h * IN;
        for (int i = 0; i < IN; i++) grow[i] += d1[h] * x[i];
        gb1[h] += d1[h];
    }
}

/* Test loss and accuracy over the whole test set; each rank takes every nranks-th image. */
static void evaluate(const mlp_t *m, const dataset_t *test, double *loss_p, double *acc_p)
{
    float *a1 = malloc((size_t)m->hidden * sizeof(float)), p[OUT];
    double sums[3] = {0, 0, 0}; /* loss, correct, count */
    for (int i = rank; i < test->n; i += nranks) {
        sums[0] += forward(m, test->x + (size_t)i * IN, test->y[i], a1, p);
        int best = 0;
        for (int k = 1; k < OUT; k++)
            if (p[k] > p[best]) best = k;
        sums[1] += best == test->y[i];
        sums[2] += 1;
    }
    free(a1);
    MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    *loss_p = sums[0] / sums[2];
    *acc_p = 100.0 * sums[1] / sums[2];
}

static void usage(void)
{
    fprintf(stderr,
            "usage: train_mlp [-c mpi|none|q8|topk|topk-q8] [-r TOPK_RATIO] [-E 0|1] [-e EPOCHS] [-v TESTS_PER_EPOCH]\n"
            "                 [-b BATCH] [-l LR] [-m MOMENTUM] [-H HIDDEN] [-s SEED] [-n TRAIN_LIMIT] [-d DATA_DIR]\n"
            "                 [-j JSON]\n"
            "  -c, -r, -E override GCOMP_CODEC, GCOMP_TOPK_RATIO, GCOMP_EF; -c mpi is plain MPI_Allreduce\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
}

static void parse(int argc, char **argv, options_t *o)
{
    *o = (options_t){.data_dir = "/usr/share/datasets/fashion-mnist", .ratio = 0, .ef = -1, .epochs = 5, .evals = 1,
                     .batch = 32, .hidden = 256, .lr = 0.05f, .momentum = 0.9f, .seed = 1};
    int c;
    while ((c = getopt(argc, argv, "c:r:E:e:v:b:l:m:H:s:n:d:j:h")) != -1) {
        switch (c) {
        case 'c': o->codec = optarg; break;
        case 'r': o->ratio = strtof(optarg, NULL); break;
        case 'E': o->ef = atoi(optarg); break;
        case 'e': o->epochs = atoi(optarg); break;
        case 'v': o->evals = atoi(optarg); break;
        case 'b': o->batch = atoi(optarg); break;
        case 'l': o->lr = strtof(optarg, NULL); break;
        case 'm': o->momentum = strtof(optarg, NULL); break;
        case 'H': o->hidden = atoi(optarg); break;
        case 's': o->seed = strtoull(optarg, NULL, 10); break;
        case 'n': o->train_limit = atoi(optarg); break;
        case 'd': o->data_dir = optarg; break;
        case 'j': o->json = optarg; break;
        default: usage();
        }
    }
    if (optind != argc || o->epochs < 1 || o->evals < 1 || o->batch < 1 || o->hidden < 1) usage();
}

static void codec_params(const options_t *o, gcomp_codec_params_t *p)
{
    gcomp_codec_params_default(p); /* the GCOMP_* variables */
    if (o->codec != NULL && strcmp(o->codec, "mpi") != 0) {
        static const gcomp_codec_t codecs[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK,
                                               GCOMP_CODEC_TOPK_Q8};
        int found = 0;
        for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++) {
            if (strcmp(o->codec, gcomp_codec_name(codecs[i])) == 0) {
                p->codec = codecs[i];
                found = 1;
            }
        }
        if (!found) usage();
    }
    if (o->ratio > 0) p->topk_ratio = o->ratio;
    if (o->ef >= 0) p->error_feedback = o->ef != 0;
    if (gcomp_codec_params_check(p) != GCOMP_OK) die("%s", "invalid codec parameters (see the log line above)");
}

/* What one line of the report covers: the steps since the previous line. */
typedef struct {
    double loss_sum, images;   /* this rank's training loss */
    double t0;                 /* when its steps began */
    uint64_t mpi_bytes;        /* bytes given to plain MPI_Allreduce */
    gcomp_stats_t gcomp;       /* gcomp's counters when it began */
} period_t;

static void period_begin(period_t *pd, gcomp_comm_t *ctx)
{
    pd->loss_sum = pd->images = 0;
    pd->mpi_bytes = 0;
    gcomp_comm_stats(ctx, &pd->gcomp);
    pd->t0 = now_s();
}

/* Test the model and print (rank 0) one line of the report, and its JSON object. */
static void report(const options_t *o, const mlp_t *m, const dataset_t *test, gcomp_comm_t *ctx,
                   const gcomp_codec_params_t *params, int plain_mpi, const period_t *pd, double epoch,
                   long step, double train_s, double t_start, FILE *json, double *acc_p)
{
    double loss[2] = {pd->loss_sum, pd->images}, test_loss, test_acc;
    MPI_Allreduce(MPI_IN_PLACE, loss, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    evaluate(m, test, &test_loss, &test_acc);
    gcomp_stats_t now;
    gcomp_comm_stats(ctx, &now);
    double bytes_in, wire;
    if (plain_mpi) {
        bytes_in = (double)pd->mpi_bytes;
        wire = 2.0 * (nranks - 1) / nranks * bytes_in;
    } else {
        /* Frame bytes sent, averaged over the ranks (top-k ranks send different amounts). */
        double sent = (double)(now.bytes_sent - pd->gcomp.bytes_sent);
        MPI_Allreduce(MPI_IN_PLACE, &sent, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        bytes_in = (double)(now.bytes_in - pd->gcomp.bytes_in);
        wire = sent / nranks;
    }
    *acc_p = test_acc;
    if (rank != 0) return;
    double wall_s = now_s() - t_start;
    printf("%6.2f  %10.4f  %9.4f  %9.2f  %18.1f  %12.1f  %7.1f  %7.1f\n", epoch, loss[0] / loss[1], test_loss,
           test_acc, bytes_in / 1e6, wire / 1e6, wall_s, train_s);
    fflush(stdout);
    if (json == NULL) return;
    fprintf(json,
            "{\"epoch\": %.4f, \"step\": %ld, \"ranks\": %d, \"params\": %zu, \"method\": \"%s\", "
            "\"error_feedback\": %d, \"topk_ratio\": %g, \"train_loss\": %.6f, \"test_loss\": %.6f, "
            "\"test_acc\": %.4f, \"bytes_allreduced\": %.0f, \"bytes_wire\": %.0f, \"wire_source\": \"%s\", "
            "\"train_s\": %.3f, \"wall_s\": %.3f, \"seed\": %llu}\n",
            epoch, step, nranks, m->n1 + m->n2, plain_mpi ? "mpi" : gcomp_codec_name(params->codec),
            plain_mpi ? 0 : params->error_feedback, (double)params->topk_ratio, loss[0] / loss[1], test_loss,
            test_acc, bytes_in, wire, plain_mpi ? "ring model 2(P-1)/P" : "gcomp_comm_stats bytes_sent", train_s,
            wall_s, (unsigned long long)o->seed);
    fflush(json);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    options_t o;
    parse(argc, argv, &o);
    int plain_mpi = o.codec != NULL && strcmp(o.codec, "mpi") == 0;

    dataset_t train, test;
    load(o.data_dir, "train", o.train_limit, &train);
    load(o.data_dir, "t10k", 0, &test);
    mlp_t m;
    mlp_init(&m, o.hidden, o.seed);

    gcomp_codec_params_t params;
    codec_params(&o, &params);
    gcomp_comm_t *ctx = NULL;
    gcomp_residual_t *res1 = NULL, *res2 = NULL; /* one error-feedback state per gradient buffer */
    gcomp_status_t st = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    if (st == GCOMP_OK) st = gcomp_residual_create(&res1);
    if (st == GCOMP_OK) st = gcomp_residual_create(&res2);
    if (st != GCOMP_OK) die("gcomp setup failed: %s", gcomp_status_string(st));

    const int global_batch = o.batch * nranks, steps = train.n / global_batch;
    if (steps < 1) die("%s", "fewer training images than one global batch");
    int *order = malloc((size_t)train.n * sizeof(int));
    float *a1 = malloc((size_t)o.hidden * sizeof(float)), *d1 = malloc((size_t)o.hidden * sizeof(float));
    if (order == NULL || a1 == NULL || d1 == NULL) die("%s", "out of memory");
    FILE *json = NULL;
    if (rank == 0 && o.json != NULL && (json = fopen(o.json, "w")) == NULL) die("cannot write %s", o.json);
    if (rank == 0) {
        printf("train_mlp: %d ranks, %zu parameters, %d steps of %d images per epoch, lr %g, momentum %g, "
               "seed %llu, ", nranks, m.n1 + m.n2, steps, global_batch, (double)o.lr, (double)o.momentum,
               (unsigned long long)o.seed);
        if (plain_mpi)
            printf("plain MPI_Allreduce");
        else
            printf("gcomp_allreduce %s, error feedback %s", gcomp_codec_name(params.codec),
                   params.error_feedback ? "on" : "off");
        if (!plain_mpi && (params.codec == GCOMP_CODEC_TOPK || params.codec == GCOMP_CODEC_TOPK_Q8))
            printf(", top-k ratio %g", (double)params.topk_ratio);
        printf("\n epoch  train_loss  test_loss  test_acc%%  allreduced_MB/rank  wire_MB/rank   wall_s  train_s\n");
        fflush(stdout);
    }

    MPI_Barrier(MPI_COMM_WORLD);
    double t_start = now_s(), train_s = 0, test_acc = 0;
    int next_report = 0; /* reports so far in this epoch */
    period_t pd;
    period_begin(&pd, ctx);
    for (int epoch = 1; epoch <= o.epochs; epoch++) {
        /* The same shuffle on every rank, drawn from (seed, epoch); rank r takes the r-th slice of
         * each global batch. */
        uint64_t state = o.seed * 1000003u + (uint64_t)epoch;
        for (int i = 0; i < train.n; i++) order[i] = i;
        for (int i = train.n - 1; i > 0; i--) {
            int j = (int)(next_u64(&state) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        next_report = 0;
        for (int step = 0; step < steps; step++) {
            memset(m.grad, 0, (m.n1 + m.n2) * sizeof(float));
            const int *idx = order + (size_t)step * global_batch + (size_t)rank * o.batch;
            float p[OUT];
            for (int b = 0; b < o.batch; b++) {
                const float *x = train.x + (size_t)idx[b] * IN;
                pd.loss_sum += forward(&m, x, train.y[idx[b]], a1, p);
                backward(&m, x, train.y[idx[b]], a1, p, 1.0f / (float)global_batch, d1);
            }
            pd.images += o.batch;
            /* Sum of the ranks' gradients of loss/global_batch: the average gradient of the batch. */
            if (plain_mpi) {
                MPI_Allreduce(MPI_IN_PLACE, m.grad, (int)(m.n1 + m.n2), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
                pd.mpi_bytes += (m.n1 + m.n2) * sizeof(float);
            } else {
                st = gcomp_allreduce(ctx, MPI_IN_PLACE, m.grad, m.n1, MPI_FLOAT, MPI_SUM, res1, &params);
                if (st == GCOMP_OK)
                    st = gcomp_allreduce(ctx, MPI_IN_PLACE, m.grad + m.n1, m.n2, MPI_FLOAT, MPI_SUM, res2, &params);
                if (st != GCOMP_OK) die("gcomp_allreduce failed: %s", gcomp_status_string(st));
            }
            for (size_t i = 0; i < m.n1 + m.n2; i++) {
                m.velocity[i] = o.momentum * m.velocity[i] + m.grad[i];
                m.w[i] -= o.lr * m.velocity[i];
            }
            /* Reports at evenly spaced steps, the last at the end of the epoch. */
            if ((long)(step + 1) * o.evals < (long)(next_report + 1) * steps) continue;
            next_report++;
            train_s += now_s() - pd.t0;
            report(&o, &m, &test, ctx, &params, plain_mpi, &pd, epoch - 1 + (double)(step + 1) / steps,
                   (long)(epoch - 1) * steps + step + 1, train_s, t_start, json, &test_acc);
            period_begin(&pd, ctx);
        }
    }
    if (rank == 0) {
        printf("train_mlp: done, final test accuracy %.2f%%\n", test_acc);
        fflush(stdout);
    }
    if (json != NULL) fclose(json);
    gcomp_residual_destroy(res1);
    gcomp_residual_destroy(res2);
    gcomp_comm_destroy(ctx);
    free(order), free(a1), free(d1);
    free(m.w), free(m.grad), free(m.velocity);
    free(train.x), free(train.y), free(test.x), free(test.y);
    MPI_Finalize();
    return 0;
}
