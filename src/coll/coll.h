/*
 * The compressed collectives, one header per concept: context.h (what a context holds), call.h (what
 * one call carries through its phases), msg.h (messages, progress with a deadline), residual.h
 * (residual transactions), agree.h (the two agreements), space.h (the call's memory space), cost.h
 * (the cost model), fault.h (fault injection); pipeline.h and algo.h for the algorithms. This one
 * includes them all, for the interposer and the tests.
 *
 * One call (allreduce.c): plan and reserve memory locally, agree with every rank on what the call
 * is (agree.c), run the algorithm (an ops table of algo.h, picked by cost_model.c, running on the
 * pipeline engine of pipeline.c), agree on the outcome, then commit or roll back the residual.
 *
 * Errors come in two kinds. A soft error (a frame that fails to encode or decode, a frame larger
 * than its receive buffer) is recorded in the call and the protocol goes on, with an empty message
 * standing in for the frame that could not be made, so every rank finishes the same exchange and
 * returns the same status. A hard error (timeout, MPI failure) stops the call where it is and marks
 * the context failed.
 */
#ifndef GCOMP_COLL_COLL_H
#define GCOMP_COLL_COLL_H

#include "coll/agree.h"
#include "coll/call.h"
#include "coll/context.h"
#include "coll/cost.h"
#include "coll/fault.h"
#include "coll/msg.h"
#include "coll/residual.h"
#include "coll/space.h"

#endif
