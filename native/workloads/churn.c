/*
 * A fiber that keeps giving its worker away: a crowd of these is what makes
 * the M:N scheduler visible (runs per worker, steals between workers).
 */
#include "fbr_workloads.h"

void *fbrw__churn(void *arg)
{
    fbrw_churn *c = arg;
    uint64_t x = (uint64_t)(uintptr_t)arg | 1;
    for (int64_t i = 0; i < c->yields; i++) {
        /* A few hundred nanoseconds of arithmetic, so that queues fill and
         * idle workers have something to steal. */
        for (int k = 0; k < 64; k++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        fbr_yield();
    }
    c->checksum = x;
    if (c->done)
        fbr_waitgroup_done(c->done);
    return NULL;
}
