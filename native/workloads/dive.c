/*
 * A recursion that proves a growing stack keeps every frame intact: each
 * frame fills itself with a pattern only it can predict, the recursion goes
 * down (growing the stack on fault, and yielding so other fibers run and
 * grow theirs in between), and each frame checks its pattern on the way back.
 */
#include "fbr_workloads.h"

struct walk {
    uint64_t seed;
    int64_t yield_every;
    int64_t corrupted;
    uint64_t committed_at_bottom;
    uint64_t workers_mask;
};

/* A value that differs for every (seed, depth, slot), so that a frame that
 * was swapped, shifted or zeroed does not pass as its neighbour. */
static uint64_t pattern(uint64_t seed, int64_t depth, unsigned slot)
{
    uint64_t x = seed ^ ((uint64_t)depth << 20) ^ slot;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static void note_worker(struct walk *w)
{
    int worker = fbr_worker_current();
    if (worker >= 0)
        w->workers_mask |= (uint64_t)1 << (worker & 63);
}

static void note_bottom(struct walk *w)
{
    fbr_fiber *self = fbr_fiber_self();
    fbr_stack_stats stats;
    if (self && fbr_fiber_stack_stats(self, &stats) == FBR_OK)
        w->committed_at_bottom = stats.committed;
}

/* Returns the frames verified below and including this one. Not static-inlined
 * away: the volatile frame forces a real stack frame per level. */
static int64_t descend(struct walk *w, int64_t depth)
{
    /* Every 64th byte: one write per cache line is enough to see a frame
     * clobbered, and keeps the walk fast enough for tens of thousands of fibers. */
    enum { SLOTS = FBRW_FRAME_BYTES / sizeof(uint64_t), STEP = 8 };
    volatile uint64_t frame[SLOTS];
    for (unsigned i = 0; i < SLOTS; i += STEP)
        frame[i] = pattern(w->seed, depth, i);

    int64_t below = 0;
    if (depth > 0) {
        if (w->yield_every > 0 && depth % w->yield_every == 0) {
            fbr_yield();
            note_worker(w);
        }
        below = descend(w, depth - 1);
    } else {
        note_bottom(w);
    }

    int intact = 1;
    for (unsigned i = 0; i < SLOTS; i += STEP)
        intact &= frame[i] == pattern(w->seed, depth, i);
    if (!intact)
        w->corrupted++;
    return below + intact;
}

void *fbrw__dive(void *arg)
{
    fbrw_dive *d = arg;
    struct walk w = {.seed = d->seed, .yield_every = d->yield_every};
    note_worker(&w);
    d->verified_frames = descend(&w, d->depth);
    d->corrupted_frames = w.corrupted;
    d->committed_bytes = w.committed_at_bottom;

    fbr_stack_stats stats;
    fbr_fiber *self = fbr_fiber_self();
    d->growth_faults = self && fbr_fiber_stack_stats(self, &stats) == FBR_OK ? stats.growth_faults : 0;
    d->last_worker = fbr_worker_current();
    d->workers_seen = __builtin_popcountll(w.workers_mask);
    if (d->done)
        fbr_waitgroup_done(d->done);
    return NULL;
}

FBRW_API int64_t fbrw_dive_on_thread(int64_t depth, uint64_t seed)
{
    struct walk w = {.seed = seed};
    int64_t verified = descend(&w, depth);
    return w.corrupted ? -w.corrupted : verified;
}
