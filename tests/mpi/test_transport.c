/*
 * The MPI transport through its ops table alone (transports/transport.h), the way the collectives
 * use it, without any codec or algorithm in between: a round trip between ranks 0 and 1 with the
 * received lengths checked, an empty message, a message exactly as long as the receive capacity, a
 * longer one that must complete with GCOMP_ERR_NOSPACE without a byte written past the capacity
 * (guard bytes), a posted receive that is cancelled (its buffer is free again at once, and a late
 * send does not land in it), and test/cancel on idle requests. Ranks beyond 1 only take part in the
 * barriers.
 */
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "transport.h"

#define GUARD 64
#define GUARD_BYTE 0xa5

static int rank, size;

/* Test until done or 20 s pass; @return the status test returned last. */
static gcomp_status_t wait_req(gcomp_transport_t *tp, gcomp_treq_t *req, size_t *len_p)
{
    double deadline = gcomp_now_s() + 20;
    unsigned idle = 0;
    for (;;) {
        int done = 0;
        gcomp_status_t st = tp->ops->test(tp, req, &done, len_p);
        if (st != GCOMP_OK || done) return st;
        if (gcomp_now_s() > deadline) REQUIRE(0, "request of rank %d did not complete in 20 s", rank);
        gcomp_transport_idle(&idle);
    }
}

static void fill(uint8_t *buf, size_t len, unsigned salt)
{
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(i * 31 + salt);
}

static int guard_intact(const uint8_t *guard)
{
    for (size_t i = 0; i < GUARD; i++)
        if (guard[i] != GUARD_BYTE) return 0;
    return 1;
}

static void send_ok(gcomp_transport_t *tp, const void *buf, size_t len, int peer, int tag)
{
    gcomp_treq_t req = {0};
    gcomp_status_t st = tp->ops->isend(tp, buf, len, peer, tag, &req);
    REQUIRE(st == GCOMP_OK, "isend of %zu bytes: %s", len, gcomp_status_string(st));
    CHECK(req.active && !req.is_recv, "a posted send is active and not a receive");
    size_t len_out = 0;
    st = wait_req(tp, &req, &len_out);
    CHECK(st == GCOMP_OK, "send of %zu bytes to rank %d: %s", len, peer, gcomp_status_string(st));
    CHECK(!req.active, "a completed send is idle");
}

/* Receive into a buffer of cap bytes followed by guard bytes; @return test's status, *len_p the
 * length received. */
static gcomp_status_t recv_guarded(gcomp_transport_t *tp, uint8_t *buf, size_t cap, int peer, int tag,
                                   size_t *len_p)
{
    memset(buf, 0, cap);
    memset(buf + cap, GUARD_BYTE, GUARD);
    gcomp_treq_t req = {0};
    gcomp_status_t st = tp->ops->irecv(tp, buf, cap, peer, tag, &req);
    REQUIRE(st == GCOMP_OK, "irecv of up to %zu bytes: %s", cap, gcomp_status_string(st));
    CHECK(req.active && req.is_recv, "a posted receive is active and a receive");
    st = wait_req(tp, &req, len_p);
    CHECK(!req.active, "a completed receive is idle (status %s)", gcomp_status_string(st));
    CHECK(guard_intact(buf + cap), "bytes past the receive capacity of %zu were written", cap);
    return st;
}

static void test_round_trip(gcomp_transport_t *tp)
{
    enum { LEN = 100000, CAP = LEN + 4096 };
    uint8_t *out = malloc(LEN), *in = malloc(CAP + GUARD), *want = malloc(LEN);
    fill(want, LEN, 7);
    if (rank == 0) {
        send_ok(tp, want, LEN, 1, 1);
        size_t len = 0;
        gcomp_status_t st = recv_guarded(tp, in, CAP, 1, 2, &len);
        CHECK(st == GCOMP_OK && len == LEN, "echo: %s, %zu bytes, expected %d", gcomp_status_string(st), len, LEN);
        for (size_t i = 0; i < LEN; i++) want[i] ^= 0xff;
        CHECK(memcmp(in, want, LEN) == 0, "the echo differs from what was sent, inverted");
    } else if (rank == 1) {
        size_t len = 0;
        gcomp_status_t st = recv_guarded(tp, in, CAP, 0, 1, &len);
        CHECK(st == GCOMP_OK && len == LEN, "receive: %s, %zu bytes, expected %d", gcomp_status_string(st), len,
              LEN);
        CHECK(memcmp(in, want, LEN) == 0, "received bytes differ from the sent ones");
        for (size_t i = 0; i < LEN; i++) out[i] = in[i] ^ 0xff;
        send_ok(tp, out, LEN, 0, 2);
    }
    free(out), free(in), free(want);
}

/* An empty message, then one exactly as long as the capacity: both complete with their length. */
static void test_edges(gcomp_transport_t *tp)
{
    enum { CAP = 333 };
    uint8_t msg[CAP], in[CAP + GUARD];
    fill(msg, CAP, 3);
    if (rank == 0) {
        send_ok(tp, msg, 0, 1, 3);
        send_ok(tp, msg, CAP, 1, 4);
    } else if (rank == 1) {
        size_t len = 99;
        gcomp_status_t st = recv_guarded(tp, in, CAP, 0, 3, &len);
        CHECK(st == GCOMP_OK && len == 0, "empty message: %s, %zu bytes", gcomp_status_string(st), len);
        st = recv_guarded(tp, in, CAP, 0, 4, &len);
        CHECK(st == GCOMP_OK && len == CAP && memcmp(in, msg, CAP) == 0,
              "message of exactly the capacity: %s, %zu bytes", gcomp_status_string(st), len);
    }
}

/* A message longer than the receive capacity fails the receive with NOSPACE, never an overrun; the
 * send itself completes, and the transport keeps working afterwards. */
static void test_truncation(gcomp_transport_t *tp)
{
    enum { CAP = 100, LEN = 1000 };
    uint8_t msg[LEN], in[CAP + GUARD];
    fill(msg, LEN, 11);
    if (rank == 0) {
        send_ok(tp, msg, LEN, 1, 5);
        send_ok(tp, msg, CAP, 1, 6);
    } else if (rank == 1) {
        size_t len = 0;
        gcomp_status_t st = recv_guarded(tp, in, CAP, 0, 5, &len);
        CHECK(st == GCOMP_ERR_NOSPACE, "%d bytes into a capacity of %d: %s, expected %s", LEN, CAP,
              gcomp_status_string(st), gcomp_status_string(GCOMP_ERR_NOSPACE));
        st = recv_guarded(tp, in, CAP, 0, 6, &len);
        CHECK(st == GCOMP_OK && len == CAP && memcmp(in, msg, CAP) == 0,
              "the receive after a truncated one: %s, %zu bytes", gcomp_status_string(st), len);
    }
}

/* A receive nobody has sent to yet is cancelled: its buffer is free at once (cancel returns 1), the
 * request is idle, and a message sent later with that tag is not written into it. */
static void test_cancel(gcomp_transport_t *tp)
{
    enum { CAP = 256 };
    uint8_t msg[CAP], in[CAP + GUARD], late[CAP + GUARD];
    fill(msg, CAP, 13);
    if (rank == 1) {
        memset(in, 0, sizeof(in));
        gcomp_treq_t req = {0};
        REQUIRE(tp->ops->irecv(tp, in, CAP, 0, 7, &req) == GCOMP_OK, "irecv to cancel");
        int free_now = tp->ops->cancel(tp, &req);
        CHECK(free_now == 1, "cancelling an unmatched receive left its buffer busy (cancel returned %d)", free_now);
        CHECK(!req.active, "a cancelled request is idle");
    }
    PMPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        send_ok(tp, msg, CAP, 1, 7);
    } else if (rank == 1) {
        /* The late message goes to a new receive, not to the cancelled one's buffer. */
        size_t len = 0;
        gcomp_status_t st = recv_guarded(tp, late, CAP, 0, 7, &len);
        CHECK(st == GCOMP_OK && len == CAP && memcmp(late, msg, CAP) == 0, "the late message: %s, %zu bytes",
              gcomp_status_string(st), len);
        int untouched = 1;
        for (size_t i = 0; i < sizeof(in); i++) untouched &= in[i] == 0;
        CHECK(untouched, "the late message was written into the cancelled receive's buffer");
    }
}

/* Zero-initialised requests are idle: test says done with length 0, cancel says the buffer is free. */
static void test_idle(gcomp_transport_t *tp)
{
    gcomp_treq_t req = {0};
    int done = 0;
    size_t len = 123;
    gcomp_status_t st = tp->ops->test(tp, &req, &done, &len);
    CHECK(st == GCOMP_OK && done == 1 && len == 0, "test on an idle request: %s, done %d, len %zu",
          gcomp_status_string(st), done, len);
    CHECK(tp->ops->cancel(tp, &req) == 1 && !req.active, "cancel on an idle request");
    CHECK(tp->ops->test(tp, &req, &done, &len) == GCOMP_OK && done == 1, "test after cancel on an idle request");
}

static void test_select(void)
{
    CHECK(gcomp_transport_mpi_ops.probe() == 1, "the MPI transport probes false after MPI_Init");
    CHECK(gcomp_transport_select(GCOMP_TRANSPORT_MPI) == &gcomp_transport_mpi_ops, "GCOMP_TRANSPORT=mpi");
    CHECK(gcomp_transport_select(GCOMP_TRANSPORT_AUTO) == &gcomp_transport_mpi_ops,
          "auto picks mpi while it is the only transport built");
    /* No verbs transport is built yet: asking for it falls back to MPI point-to-point. */
    CHECK(gcomp_transport_select(GCOMP_TRANSPORT_VERBS) == &gcomp_transport_mpi_ops, "GCOMP_TRANSPORT=verbs");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    REQUIRE(size >= 2, "needs at least 2 ranks, got %d", size);
    /* As gcomp's own duplicate: errors are returned (truncation must reach test as a status). MPICH
     * raises an error found by MPI_Test on MPI_COMM_WORLD's handler, not on the request's
     * communicator, so world must return errors too (as in test_faults) or the truncation aborts. */
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    test_select();
    gcomp_transport_t *tp = NULL;
    gcomp_status_t st = gcomp_transport_mpi_ops.connect(comm, &tp);
    REQUIRE(st == GCOMP_OK && tp != NULL && tp->ops == &gcomp_transport_mpi_ops, "connect: %s",
            gcomp_status_string(st));
    test_idle(tp);
    test_round_trip(tp);
    test_edges(tp);
    test_truncation(tp);
    test_cancel(tp);
    tp->ops->close(tp);

    int failed = check_failures, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Comm_free(&comm);
    char name[64];
    snprintf(name, sizeof(name), "test_transport rank %d", rank);
    int rc = check_finish(name);
    MPI_Finalize();
    return rc || any ? 1 : 0;
}
