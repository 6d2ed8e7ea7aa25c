/*
 * Unbuffered channel ping-pong between two fibers: each round trip is two
 * hand-offs, each of which parks one fiber and wakes the other.
 */
#include "fbr_workloads.h"

struct pair {
    fbr_chan *ping;
    fbr_chan *pong;
};

/* Sends back every value plus one until ping is closed. */
static void *partner(void *arg)
{
    struct pair *p = arg;
    int64_t v;
    while (fbr_chan_recv(p->ping, &v) == FBR_OK) {
        v += 1;
        if (fbr_chan_send(p->pong, &v) != FBR_OK)
            return (void *)(intptr_t)1;
    }
    return NULL;
}

void *fbrw__ping_pong(void *arg)
{
    fbrw_ping_pong *pp = arg;
    struct pair p;
    fbr_fiber *other;
    pp->errors = 0;
    if (fbr_chan_create(&p.ping, sizeof(int64_t), 0) < 0) {
        pp->errors = 1;
        return NULL;
    }
    if (fbr_chan_create(&p.pong, sizeof(int64_t), 0) < 0) {
        fbr_chan_destroy(p.ping);
        pp->errors = 1;
        return NULL;
    }
    if (fbr_spawn(fbr_sched_current(), &other, partner, &p, NULL) < 0) {
        pp->errors = 1;
    } else {
        int64_t start = fbr_now();
        for (int64_t i = 0; i < pp->rounds; i++) {
            int64_t v = i, back = -1;
            if (fbr_chan_send(p.ping, &v) != FBR_OK || fbr_chan_recv(p.pong, &back) != FBR_OK || back != i + 1)
                pp->errors++;
        }
        pp->elapsed_ns = fbr_now() - start;
        fbr_chan_close(p.ping);
        void *partner_failed = NULL;
        fbr_join(other, &partner_failed);
        pp->errors += partner_failed != NULL;
    }
    fbr_chan_destroy(p.ping);
    fbr_chan_destroy(p.pong);
    return NULL;
}
