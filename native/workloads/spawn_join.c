/*
 * Start-up cost: fibers spawned from inside the scheduler that end at once,
 * counted down by a wait group, the way Go code would use goroutines.
 */
#include "fbr_workloads.h"

static void *end_at_once(void *arg)
{
    fbr_waitgroup_done(arg);
    return NULL;
}

void *fbrw__spawn_join(void *arg)
{
    fbrw_spawn_join *sj = arg;
    fbr_waitgroup *wg;
    sj->errors = 0;
    if (fbr_waitgroup_create(&wg) < 0) {
        sj->errors = 1;
        return NULL;
    }
    fbr_sched *s = fbr_sched_current();
    int64_t start = fbr_now();
    for (int64_t i = 0; i < sj->count; i++) {
        fbr_waitgroup_add(wg, 1);
        if (fbr_spawn(s, NULL, end_at_once, wg, NULL) < 0) {
            fbr_waitgroup_add(wg, -1);
            sj->errors++;
        }
    }
    fbr_waitgroup_wait(wg);
    sj->elapsed_ns = fbr_now() - start;
    fbr_waitgroup_destroy(wg);
    return NULL;
}
