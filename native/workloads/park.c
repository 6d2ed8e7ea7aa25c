/*
 * A fiber that does nothing but exist: it says it is running, then parks on
 * a channel until that channel is closed. Thousands of these show what a
 * parked fiber costs (time to start, resident memory) and how many fit.
 */
#include "fbr_workloads.h"

void *fbrw__park(void *arg)
{
    fbrw_park_group *g = arg;
    fbr_waitgroup_done(g->started);
    /* The channel only ever closes: recv returns FBR_ECLOSED then. */
    while (fbr_chan_recv(g->release, NULL) == FBR_OK) {
    }
    return NULL;
}
