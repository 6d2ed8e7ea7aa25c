#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error_internal.h"
#include "futex.h"
#include "io_internal.h"
#include "runq.h"
#include "runtime_internal.h"
#include "record_pool.h"
#include "sched_internal.h"
#include "switch.h"
#include "thread.h"
#include "vmem.h"
#include "wait.h"

/* One round in this many looks at the global queue first, so that fibers
 * there are not starved by busy local queues (Go uses the same number). */
#define GLOBAL_QUEUE_FAIRNESS_TICK 61

/* How long an idle worker looks for work before it sleeps: rounds of
 * (steal, global queue, pinned queue, then SPIN_PAUSES pause instructions).
 * About 50 us on current x86-64 CPUs. Short slices between looks: work
 * readied from outside (a C# thread, an async completion) is picked up
 * within about a microsecond instead of ten. */
#define SPIN_ROUNDS 512
#define SPIN_PAUSES 5

/* A busy worker looks at the poller (without blocking) every this many
 * rounds, if nobody has looked for POLL_INTERVAL_NS: descriptors become
 * ready while every worker is busy, and nobody is blocked in epoll then. */
#define POLL_TICK 31
#define POLL_INTERVAL_NS (20 * FBR_MICROSECOND)
#define POLL_BACKLOG_LIMIT 32

/* ---- small helpers --------------------------------------------------------- */

struct fbr__worker *fbr__worker_self(void)
{
    struct fbr__thread *t = fbr__thread_peek();
    return t ? t->worker : NULL;
}

static uint64_t next_random(uint64_t *state)
{
    /* xorshift64*: plenty for victim choice and select fairness. */
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static void registry_add(struct fbr__registry *r, struct fbr_fiber *f)
{
    fbr__lock_acquire(&r->lock);
    f->registry = r;
    f->registry_prev = NULL;
    f->registry_next = r->head;
    if (r->head)
        r->head->registry_prev = f;
    r->head = f;
    fbr__lock_release(&r->lock);
}

static void registry_remove(struct fbr_fiber *f)
{
    struct fbr__registry *r = f->registry;
    fbr__lock_acquire(&r->lock);
    if (f->registry_prev)
        f->registry_prev->registry_next = f->registry_next;
    else
        r->head = f->registry_next;
    if (f->registry_next)
        f->registry_next->registry_prev = f->registry_prev;
    fbr__lock_release(&r->lock);
}

/* ---- waking idle workers --------------------------------------------------- */

/* With idle_lock held. idle_count is also read without the lock. */
static void idle_list_remove(struct fbr_sched *s, struct fbr__worker *w)
{
    unsigned n = s->idle_count;
    for (unsigned i = 0; i < n; i++)
        if (s->idle[i] == w->index) {
            s->idle[i] = s->idle[n - 1];
            __atomic_store_n(&s->idle_count, n - 1, __ATOMIC_SEQ_CST);
            break;
        }
    __atomic_store_n(&w->idle, false, __ATOMIC_RELAXED);
}

static void wake_token(struct fbr__worker *w)
{
    __atomic_store_n(&w->wake_word, 1, __ATOMIC_SEQ_CST);
    /* A worker sets in_poll before it joins the idle list, so whoever
     * found it there sees how it sleeps. */
    if (__atomic_load_n(&w->in_poll, __ATOMIC_SEQ_CST))
        fbr__poller_wake(&w->sched->poller);
    else
        fbr__futex_wake(&w->wake_word, 1);
}

/* Wakes one idle worker, unless one is already out looking for work. */
static void wake_idle_worker(struct fbr_sched *s)
{
    /* Work is published with sequentially consistent stores and idle
     * workers announce themselves the same way before their last look:
     * either we see the worker in the idle list, or it sees the work. */
    if (__atomic_load_n(&s->idle_count, __ATOMIC_SEQ_CST) == 0 || __atomic_load_n(&s->spinning, __ATOMIC_SEQ_CST))
        return;
    fbr__lock_acquire(&s->idle_lock);
    struct fbr__worker *w = NULL;
    if (s->idle_count) {
        w = &s->workers[s->idle[s->idle_count - 1]];
        idle_list_remove(s, w);
    }
    fbr__lock_release(&s->idle_lock);
    if (w)
        wake_token(w);
}

/* Wakes this particular worker if it sleeps (its pinned fibers need it). */
static void wake_worker(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    fbr__lock_acquire(&s->idle_lock);
    bool was_idle = __atomic_load_n(&w->idle, __ATOMIC_RELAXED);
    if (was_idle)
        idle_list_remove(s, w);
    fbr__lock_release(&s->idle_lock);
    if (was_idle)
        wake_token(w);
}

/* ---- making fibers runnable ------------------------------------------------ */

static void global_push(struct fbr_sched *s, struct fbr_fiber *f)
{
    fbr__lock_acquire(&s->global_lock);
    fbr__fiber_queue_push(&s->global, f);
    __atomic_add_fetch(&s->global_count, 1, __ATOMIC_SEQ_CST);
    fbr__lock_release(&s->global_lock);
}

/* The fiber handed to this worker from outside (see hand_in), if any. */
static struct fbr_fiber *take_handed_in(struct fbr__worker *w)
{
    if (__atomic_load_n(&w->handed_in, __ATOMIC_RELAXED) == NULL)
        return NULL;
    return __atomic_exchange_n(&w->handed_in, NULL, __ATOMIC_ACQUIRE);
}

/* From a thread that is not a worker: hands `f` straight to the worker that
 * spins for work, if one does and its slot is free. The spinner polls that
 * one line, where a push to the injection queue writes three that it polls
 * or takes (lock and queue, ring slot, count), each a transfer between CPUs
 * (a line's round trip: 416-580 ns on these VMs when measured). A spinner
 * that gave up meanwhile announced itself idle before its last look
 * (any_work_visible): either it sees the fiber, or we see it idle and
 * wake it. */
static bool hand_in(struct fbr_sched *s, struct fbr_fiber *f)
{
    int32_t spinner = __atomic_load_n(&s->spinner, __ATOMIC_RELAXED);
    if (spinner < 0)
        return false;
    struct fbr__worker *w = &s->workers[spinner];
    struct fbr_fiber *empty = NULL;
    if (!__atomic_compare_exchange_n(&w->handed_in, &empty, f, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
        return false;
    if (__atomic_load_n(&w->idle, __ATOMIC_SEQ_CST))
        wake_worker(w);
    return true;
}

/* Owner: local ring, spilling half of it to the global queue when full. */
static void local_push(struct fbr__worker *w, struct fbr_fiber *f)
{
    if (fbr__runq_push(&w->runq, f))
        return;
    struct fbr_fiber *spill[FBR__RUNQ_SIZE / 2];
    uint32_t n = fbr__runq_take_half(&w->runq, spill);
    struct fbr_sched *s = w->sched;
    fbr__lock_acquire(&s->global_lock);
    for (uint32_t i = 0; i < n; i++)
        fbr__fiber_queue_push(&s->global, spill[i]);
    fbr__fiber_queue_push(&s->global, f);
    __atomic_add_fetch(&s->global_count, n + 1, __ATOMIC_SEQ_CST);
    fbr__lock_release(&s->global_lock);
}

static void pinned_push(struct fbr__worker *w, struct fbr_fiber *f)
{
    fbr__lock_acquire(&w->pinned_lock);
    fbr__fiber_list_push(&w->pinned, f);
    __atomic_add_fetch(&w->pinned_count, 1, __ATOMIC_RELEASE);
    fbr__lock_release(&w->pinned_lock);
}

/* Whether the worker's own loop is running (not one of its fibers). */
static bool on_worker_loop(const struct fbr__worker *w)
{
    const struct fbr_fiber *current = w->thread_state->current;
    return current == NULL || current->is_root;
}

/* A pinned fiber's worker once it has run; NULL for the others, whose
 * record does not keep one (it sits on a line a spawn does not clear). */
static struct fbr__worker *home_of(const struct fbr_fiber *f)
{
    return f->pinned ? f->home : NULL;
}

void fbr__sched_ready(struct fbr_fiber *f)
{
    /* The fiber may still be switching away to park; its worker finishes
     * that within a few instructions. */
    while (__atomic_load_n(&f->sched_state, __ATOMIC_ACQUIRE) == FBR__PARKING)
        fbr__cpu_relax();
    __atomic_store_n(&f->sched_state, FBR__RUNNABLE, __ATOMIC_RELEASE);
    struct fbr_sched *s = f->sched;
    struct fbr__worker *w = fbr__worker_self();
    bool outside = w == NULL || w->sched != s;
    /* Once the fiber is queued it may run, finish and let the scheduler be
     * destroyed while an outside waker is still waking a worker: shutdown
     * waits for this count to drop (fbr_sched_destroy). */
    if (outside)
        __atomic_add_fetch(&s->outside_wakers, 1, __ATOMIC_SEQ_CST);
    struct fbr__worker *home = home_of(f);
    if (home) {
        pinned_push(home, f);
        if (home != w)
            wake_worker(home);
    } else if (!outside) {
        /* Run it next: what the running fiber just woke is what it will
         * most likely wait for. An earlier "next" moves to the ring, and
         * then there is enough work to share with an idle worker. The loop
         * itself (timers, earliest first; the poller; callbacks) has no
         * fiber to favour and wakes in order: a later wake queues behind
         * the one that took "next" instead of jumping ahead of it. */
        struct fbr_fiber *previous = __atomic_load_n(&w->run_next, __ATOMIC_RELAXED);
        if (previous && on_worker_loop(w)) {
            local_push(w, f);
            wake_idle_worker(s);
        } else {
            __atomic_store_n(&w->run_next, f, __ATOMIC_RELAXED);
            if (previous) {
                local_push(w, previous);
                wake_idle_worker(s);
            }
        }
    } else if (!hand_in(s, f)) {
        global_push(s, f);
        wake_idle_worker(s);
    }
    if (outside)
        __atomic_sub_fetch(&s->outside_wakers, 1, __ATOMIC_RELEASE);
}

/* ---- finding work ------------------------------------------------------------ */

static struct fbr_fiber *global_take(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    if (__atomic_load_n(&s->global_count, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    fbr__lock_acquire(&s->global_lock);
    struct fbr_fiber *run = fbr__fiber_queue_pop(&s->global);
    uint32_t taken = run ? 1 : 0;
    if (run) {
        /* Take a fair share along, so the next rounds need no lock. */
        uint32_t share = __atomic_load_n(&s->global_count, __ATOMIC_RELAXED) / s->worker_count;
        uint32_t room = FBR__RUNQ_SIZE - fbr__runq_size(&w->runq);
        if (share > room)
            share = room;
        if (share > FBR__RUNQ_SIZE / 2)
            share = FBR__RUNQ_SIZE / 2;
        for (struct fbr_fiber *f; share && (f = fbr__fiber_queue_pop(&s->global)); share--) {
            fbr__runq_push(&w->runq, f);
            taken++;
        }
    }
    __atomic_sub_fetch(&s->global_count, taken, __ATOMIC_RELEASE);
    fbr__lock_release(&s->global_lock);
    return run;
}

static struct fbr_fiber *pinned_take(struct fbr__worker *w)
{
    if (__atomic_load_n(&w->pinned_count, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    fbr__lock_acquire(&w->pinned_lock);
    struct fbr_fiber *f = fbr__fiber_list_pop(&w->pinned);
    if (f)
        __atomic_sub_fetch(&w->pinned_count, 1, __ATOMIC_RELEASE);
    fbr__lock_release(&w->pinned_lock);
    return f;
}

static struct fbr_fiber *steal(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    unsigned n = s->worker_count;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(next_random(&w->thread_state->rng) % n);
    for (unsigned i = 0; i < n; i++) {
        struct fbr__worker *victim = &s->workers[(start + i) % n];
        if (victim == w)
            continue;
        struct fbr_fiber *f = fbr__runq_steal(&victim->runq, &w->runq);
        if (f) {
            __atomic_store_n(&w->steals, w->steals + 1, __ATOMIC_RELAXED);
            return f;
        }
    }
    return NULL;
}

static bool any_work_visible(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    if (__atomic_load_n(&s->global_count, __ATOMIC_SEQ_CST) || __atomic_load_n(&w->pinned_count, __ATOMIC_SEQ_CST) ||
        __atomic_load_n(&w->handed_in, __ATOMIC_SEQ_CST))
        return true;
    for (unsigned i = 0; i < s->worker_count; i++) {
        struct fbr__runq *q = &s->workers[i].runq;
        if (__atomic_load_n(&q->tail, __ATOMIC_SEQ_CST) != __atomic_load_n(&q->head, __ATOMIC_SEQ_CST))
            return true;
    }
    return fbr__timer_earliest(&w->timers) <= fbr_now();
}

/* Sleeps until woken or until the worker's next timer is due. Once
 * descriptors are registered, one idle worker sleeps in the poller instead,
 * so that a ready descriptor wakes it. */
static void park_worker(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    __atomic_store_n(&w->wake_word, 0, __ATOMIC_RELAXED);
    uint32_t no_blocker = 0;
    bool poll_blocker = fbr__poller_in_use(&s->poller) &&
                        __atomic_compare_exchange_n(&s->poller.blocker_taken, &no_blocker, 1, false,
                                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    if (poll_blocker)
        __atomic_store_n(&w->in_poll, true, __ATOMIC_SEQ_CST);
    int completed = 0;
    fbr__lock_acquire(&s->idle_lock);
    s->idle[s->idle_count] = w->index;
    __atomic_store_n(&w->idle, true, __ATOMIC_SEQ_CST); /* before the last look: see hand_in */
    __atomic_store_n(&s->idle_count, s->idle_count + 1, __ATOMIC_SEQ_CST);
    fbr__lock_release(&s->idle_lock);

    /* Work published before we joined the idle list would not have woken
     * us: look once more before sleeping. */
    if (!any_work_visible(w) && !__atomic_load_n(&s->exiting, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&w->parks, w->parks + 1, __ATOMIC_RELAXED);
        if (!poll_blocker)
            fbr__futex_wait(&w->wake_word, 0, fbr__timer_earliest(&w->timers));
        else if (!__atomic_load_n(&w->wake_word, __ATOMIC_SEQ_CST))
            completed = fbr__poller_poll(s, fbr__timer_earliest(&w->timers));
    }
    if (poll_blocker) {
        __atomic_store_n(&w->in_poll, false, __ATOMIC_SEQ_CST);
        __atomic_store_n(&s->poller.blocker_taken, 0, __ATOMIC_RELEASE);
    }
    fbr__lock_acquire(&s->idle_lock);
    if (__atomic_load_n(&w->idle, __ATOMIC_RELAXED))
        idle_list_remove(s, w);
    fbr__lock_release(&s->idle_lock);
    /* This worker leaves the poller to run what it found: hand the watch to
     * an idle worker, or ready descriptors would wait for a busy one. */
    if (completed > 0)
        wake_idle_worker(s);
}

/* A look at the poller without blocking, unless one was just made or this
 * worker still has plenty queued: descriptors that are ready wait in the
 * kernel's list, in order, rather than pile up in the run queues where
 * what overflows to the injection queue would wait behind every later
 * arrival (measured: p99 latency doubled at 10,000 connections). */
static bool poll_if_due(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    if (!fbr__poller_in_use(&s->poller))
        return false;
    if (fbr__runq_size(&w->runq) + __atomic_load_n(&w->pinned_count, __ATOMIC_RELAXED) >= POLL_BACKLOG_LIMIT)
        return false;
    int64_t now = fbr_now();
    if (now - __atomic_load_n(&s->poller.last_poll, __ATOMIC_RELAXED) < POLL_INTERVAL_NS)
        return false;
    return fbr__poller_poll(s, 0) > 0;
}

static struct fbr_fiber *find_runnable(struct fbr__worker *w)
{
    struct fbr_sched *s = w->sched;
    for (;;) {
        if (fbr__timer_earliest(&w->timers) != FBR_NO_DEADLINE)
            fbr__timer_fire_due(&w->timers, fbr_now());
        struct fbr_fiber *f;
        if (++w->tick % GLOBAL_QUEUE_FAIRNESS_TICK == 0 && (f = global_take(w)))
            return f;
        if (w->tick % POLL_TICK == 0)
            (void)poll_if_due(w);
        if ((f = __atomic_load_n(&w->run_next, __ATOMIC_RELAXED))) {
            __atomic_store_n(&w->run_next, NULL, __ATOMIC_RELAXED);
            return f;
        }
        if ((f = pinned_take(w)))
            return f;
        if ((f = fbr__runq_pop(&w->runq)))
            return f;
        if ((f = take_handed_in(w)))
            return f;
        if ((f = global_take(w)))
            return f;
        if (fbr__poller_in_use(&s->poller) && fbr__poller_poll(s, 0) > 0)
            continue;
        /* Look for work elsewhere for a little while before sleeping: waking
         * a sleeping thread costs tens of microseconds on a VM, and while a
         * worker is out looking, nobody wakes another one. Only half the
         * workers look at once, so a burst of wake-ups does not send every
         * idle worker hunting. */
        if (__atomic_load_n(&s->spinning, __ATOMIC_SEQ_CST) * 2 < s->worker_count) {
            __atomic_add_fetch(&s->spinning, 1, __ATOMIC_SEQ_CST);
            int32_t me = (int32_t)w->index;
            __atomic_store_n(&s->spinner, me, __ATOMIC_RELAXED);
            for (int round = 0; round < SPIN_ROUNDS && f == NULL; round++) {
                if ((f = take_handed_in(w)) || (f = steal(w)) || (f = global_take(w)) || (f = pinned_take(w)))
                    break;
                if (__atomic_load_n(&s->exiting, __ATOMIC_ACQUIRE))
                    break;
                for (int i = 0; i < SPIN_PAUSES; i++)
                    fbr__cpu_relax();
            }
            __atomic_compare_exchange_n(&s->spinner, &me, -1, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
            __atomic_sub_fetch(&s->spinning, 1, __ATOMIC_SEQ_CST);
            if (f) {
                /* More work in sight (what the steal brought beyond this
                 * fiber, or the injection queue): let another worker look.
                 * Waking one for a lone fiber only sends a second thread
                 * spinning against this one and the thread that readied it
                 * (measured: 2 preemptions per round trip on 2 CPUs). */
                if (fbr__runq_size(&w->runq) || __atomic_load_n(&s->global_count, __ATOMIC_SEQ_CST))
                    wake_idle_worker(s);
                return f;
            }
        }
        if (__atomic_load_n(&s->exiting, __ATOMIC_ACQUIRE))
            return NULL;
        park_worker(w);
    }
}

/* ---- counting live fibers ------------------------------------------------------- */

/* Spawned minus finished. Finished counts are read first: a fiber's finish
 * comes after its spawn, so this never undercounts (it may overcount a
 * fiber spawned meanwhile, which only makes a waiting shutdown look again). */
static uint64_t live_fibers(struct fbr_sched *s)
{
    uint64_t finished = 0, spawned = 0;
    for (unsigned i = 0; i < s->worker_count; i++)
        finished += __atomic_load_n(&s->workers[i].finished_here, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < s->worker_count; i++)
        spawned += __atomic_load_n(&s->workers[i].spawned_here, __ATOMIC_SEQ_CST);
    spawned += __atomic_load_n(&s->spawned_outside, __ATOMIC_SEQ_CST);
    return spawned - finished;
}

/* Called after a fiber finishes (or an outside spawn is undone): a waiting
 * shutdown is woken once nothing is left. Costs nothing until then. */
static void wake_shutdown_if_done(struct fbr_sched *s)
{
    if (__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST) && live_fibers(s) == 0) {
        __atomic_add_fetch(&s->live_generation, 1, __ATOMIC_SEQ_CST);
        fbr__futex_wake(&s->live_generation, 1 << 30);
    }
}

/* ---- fiber records ------------------------------------------------------------ */

/* A record for a spawn on worker w: its cache, else a batch of spares. */
static struct fbr_fiber *take_record(struct fbr__worker *w)
{
    if (w->record_cache_count == 0 && __atomic_load_n(&w->sched->spare_count, __ATOMIC_RELAXED)) {
        struct fbr_sched *s = w->sched;
        fbr__lock_acquire(&s->spare_lock);
        unsigned n = s->spare_count < FBR__WORKER_RECORD_CACHE / 2 ? s->spare_count : FBR__WORKER_RECORD_CACHE / 2;
        memcpy(w->record_cache, s->spare + (s->spare_count - n), n * sizeof *s->spare);
        w->record_cache_count = n;
        __atomic_store_n(&s->spare_count, s->spare_count - n, __ATOMIC_RELAXED);
        fbr__lock_release(&s->spare_lock);
    }
    if (w->record_cache_count == 0) {
        /* Beyond every earlier peak: fresh records, a batch under one lock. */
        w->record_cache_count = fbr__record_take_batch(w->record_cache, FBR__WORKER_RECORD_CACHE / 2);
        if (w->record_cache_count == 0)
            return NULL;
    }
    struct fbr_fiber *r = w->record_cache[--w->record_cache_count];
    /* Records often come back from another worker's cache: start fetching
     * the next spawn's one while this spawn goes on. */
    if (w->record_cache_count)
        FBR__FIBER_PREFETCH(w->record_cache[w->record_cache_count - 1], 1);
    return r;
}

/* A record for a spawn from outside the scheduler's workers: a spare, which
 * fibers spawned from outside leave behind as they finish (without this,
 * an application that only spawns from its own threads grew the spares by
 * one record per fiber ever spawned). */
static struct fbr_fiber *take_spare(struct fbr_sched *s)
{
    if (__atomic_load_n(&s->spare_count, __ATOMIC_RELAXED) == 0)
        return NULL;
    struct fbr_fiber *r = NULL;
    fbr__lock_acquire(&s->spare_lock);
    if (s->spare_count) {
        r = s->spare[s->spare_count - 1];
        __atomic_store_n(&s->spare_count, s->spare_count - 1, __ATOMIC_RELAXED);
    }
    fbr__lock_release(&s->spare_lock);
    return r;
}

#define SPARE_RECORDS_MAX (1u << 24)

/* Room for `more` spare records (under spare_lock); false without memory. */
static bool spare_room(struct fbr_sched *s, unsigned more)
{
    if (s->spare_count + more <= s->spare_capacity)
        return true;
    if (s->spare_count + more > SPARE_RECORDS_MAX)
        return false; /* beyond this, finished records are simply freed */
    unsigned capacity = s->spare_capacity ? s->spare_capacity * 2 : FBR__WORKER_RECORD_CACHE * 4;
    while (capacity < s->spare_count + more)
        capacity *= 2;
    struct fbr_fiber **grown = realloc(s->spare, capacity * sizeof *grown);
    if (grown == NULL)
        return false;
    s->spare = grown;
    s->spare_capacity = capacity;
    return true;
}

/* Frees a scheduled fiber's record, into this worker's cache if the caller
 * is a worker (of any scheduler: records are all alike). */
static void recycle_record(struct fbr_fiber *f)
{
    struct fbr__worker *w = fbr__worker_self();
    if (w == NULL) {
        fbr__fiber_free(f);
        return;
    }
    if (f->stack)
        fbr__fiber_release_stack(f);
    f->magic = 0;
    if (w->record_cache_count == FBR__WORKER_RECORD_CACHE) {
        /* Hand half to the scheduler's spares, for workers that spawn more
         * than they finish. Spares are an array of pointers, not a list
         * through the records: taking a batch then touches no record (a
         * list walk was a chain of cache misses on records another worker
         * had just written). */
        struct fbr_sched *s = w->sched;
        unsigned n = FBR__WORKER_RECORD_CACHE / 2;
        unsigned from = w->record_cache_count - n;
        fbr__lock_acquire(&s->spare_lock);
        bool room = spare_room(s, n);
        if (room) {
            memcpy(s->spare + s->spare_count, w->record_cache + from, n * sizeof *s->spare);
            __atomic_store_n(&s->spare_count, s->spare_count + n, __ATOMIC_RELAXED);
        }
        fbr__lock_release(&s->spare_lock);
        if (!room)
            for (unsigned i = from; i < w->record_cache_count; i++)
                fbr__record_give_back(w->record_cache[i]);
        w->record_cache_count = from;
    }
    w->record_cache[w->record_cache_count++] = f;
}

static void flush_record_cache(struct fbr__worker *w)
{
    while (w->record_cache_count)
        fbr__record_give_back(w->record_cache[--w->record_cache_count]);
}

/* ---- running fibers ---------------------------------------------------------- */

static void sched_fiber_entry(void *arg, void *first_value);

static int take_stack(struct fbr__worker *w, size_t limit, size_t initial, fbr__stack **out)
{
    for (unsigned i = w->stack_cache_count; i-- > 0;) {
        fbr__stack *st = w->stack_cache[i];
        if (fbr__stack_limit(st) != limit)
            continue;
        int rc = fbr__stack_reuse(st, initial);
        if (rc != FBR_OK)
            return rc;
        w->stack_cache[i] = w->stack_cache[--w->stack_cache_count];
        FBR__COUNT_SUB(stacks_cached, 1);
        FBR__COUNT_ADD(stacks_in_use, 1);
        *out = st;
        return FBR_OK;
    }
    return fbr__stack_acquire(limit, initial, out);
}

static void give_back_stack(struct fbr__worker *w, struct fbr_fiber *f)
{
    fbr__stack *st = f->stack;
    fbr__sanitizer_fiber_destroyed(f);
    f->stack = NULL;
    if (w->stack_cache_count == FBR__WORKER_STACK_CACHE) {
        fbr__stack_release(st);
        return;
    }
    fbr__stack_trim(st);
    w->stack_cache[w->stack_cache_count++] = st;
    FBR__COUNT_SUB(stacks_in_use, 1);
    FBR__COUNT_ADD(stacks_cached, 1);
}

static void flush_stack_cache(struct fbr__worker *w)
{
    while (w->stack_cache_count) {
        fbr__stack *st = w->stack_cache[--w->stack_cache_count];
        /* The pool counts it as in use until it takes it back. */
        FBR__COUNT_SUB(stacks_cached, 1);
        FBR__COUNT_ADD(stacks_in_use, 1);
        fbr__stack_release(st);
    }
}

static void finish_fiber(struct fbr__worker *w, struct fbr_fiber *f)
{
    struct fbr_sched *s = w->sched;
    if (f->stack)
        give_back_stack(w, f);
    if (f->registry)
        registry_remove(f);
    /* Counted before anyone can learn of the end (a joiner reading figures). */
    __atomic_store_n(&w->finished_here, w->finished_here + 1, __ATOMIC_SEQ_CST);

    /* Nobody was ever given a detached spawn's record: no joiner, no
     * detach to race with, so no lock. */
    bool locked = !f->spawned_detached;
    if (locked)
        fbr__lock_acquire(&f->join_lock);
    __atomic_store_n(&f->state, FBR_FIBER_FINISHED, __ATOMIC_RELAXED);
    __atomic_store_n(&f->sched_state, FBR__DONE, __ATOMIC_RELEASE);
    bool free_it = f->join_mode == FBR__DETACHED;
    fbr__wait *joiner = NULL;
    if (f->joiner && fbr__wait_claim(f->joiner, 1))
        joiner = f->joiner;
    f->joiner = NULL;
    if (locked)
        fbr__lock_release(&f->join_lock);
    /* From here the record may already belong to the joiner. */
    if (joiner)
        fbr__wait_complete(joiner);
    if (free_it) {
        if (f->start_error)
            fprintf(stderr, "fiberrt: detached fiber %llu could not start: %s\n", (unsigned long long)f->id,
                    fbr_strerror(f->start_error));
        recycle_record(f);
    }
    wake_shutdown_if_done(s);
}

static void report_stack_order(struct fbr__worker *w)
{
    static bool reported; /* atomic */
    if (!__atomic_exchange_n(&reported, true, __ATOMIC_RELAXED))
        fprintf(stderr,
                "fiberrt: worker %u's stack lies below fiber stacks here, so hosted (C#) fibers cannot run "
                "safely; they fail to start with FBR_ENOTSUP\n",
                w->index);
}

static void mark_running(struct fbr__worker *w, struct fbr_fiber *f);
static void after_switch(struct fbr__worker *w, struct fbr_fiber *f);

/* Always inlined, as is switch_to_loop: a return right after a switch is
 * a return the CPU's return-stack predictor gets wrong (its entries were
 * pushed on the other stack), so every function the switch sits in costs
 * a mispredicted return per switch. Inlining the two took a lone fiber's
 * yield from 44 to 28 ns and a C# fiber's from 72 to 60 ns. */
static inline __attribute__((always_inline)) void run_fiber(struct fbr__worker *w, struct fbr_fiber *f)
{
    if (f->stack == NULL) {
        /* First run: the stack comes now, most often from this worker's
         * cache, still warm from the fiber that finished before. */
        fbr__stack *st;
        int rc = take_stack(w, fbr__fiber_stack_limit(f), fbr__fiber_stack_initial(f), &st);
        if (rc != FBR_OK) {
            f->start_error = rc;
            finish_fiber(w, f);
            return;
        }
        fbr__fiber_attach_stack(f, st, sched_fiber_entry);
        if (f->hosted && (uintptr_t)st->top > w->stack_low) {
            /* A host like CoreCLR takes frames above its thread's stack
             * for garbage and crashes (see fbr__vm_reserve): refuse. */
            report_stack_order(w);
            f->start_error = FBR_ENOTSUP;
            finish_fiber(w, f);
            return;
        }
        registry_add(&w->registry, f);
    }
    mark_running(w, f);
    fbr__switch(&w->thread_state->root, f, NULL);
    /* Whoever switched back may be another fiber than `f`: one that `f`
     * handed the worker to (see switch_to_loop). */
    after_switch(w, w->switched_out);
}

static void mark_running(struct fbr__worker *w, struct fbr_fiber *f)
{
    if (f->pinned && f->home == NULL)
        f->home = w;
    __atomic_store_n(&w->runs, w->runs + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&f->sched_state, FBR__RUNNING, __ATOMIC_RELAXED);
    __atomic_store_n(&f->state, FBR_FIBER_RUNNING, __ATOMIC_RELAXED);
}

/* The worker's side of a fiber's switch away, once its registers are saved:
 * re-queue it, mark it waiting and release what it parked under, or clean
 * up after it. */
static void after_switch(struct fbr__worker *w, struct fbr_fiber *f)
{
    switch (w->after) {
    case FBR__AFTER_YIELD:
        __atomic_store_n(&f->state, FBR_FIBER_SUSPENDED, __ATOMIC_RELAXED);
        __atomic_store_n(&f->sched_state, FBR__RUNNABLE, __ATOMIC_RELEASE);
        if (home_of(f))
            pinned_push(w, f);
        else
            local_push(w, f);
        break;
    case FBR__AFTER_PARK:
        __atomic_store_n(&f->state, FBR_FIBER_SUSPENDED, __ATOMIC_RELAXED);
        __atomic_store_n(&f->sched_state, FBR__WAITING, __ATOMIC_RELEASE);
        if (w->after_release)
            w->after_release(w->after_arg);
        break;
    case FBR__AFTER_FINISH:
        finish_fiber(w, f);
        break;
    }
}

static void run_deferred_callbacks(struct fbr__worker *w)
{
    while (w->deferred) {
        fbr__wait *done = w->deferred;
        w->deferred = done->deferred_next;
        w->in_callback = true;
        fbr__wait_run_callback(done);
        w->in_callback = false;
    }
}

/* Counts a round run outside the loop's find_runnable (a hand-off, a fiber
 * run for a callback); false, counting nothing, on the rounds where the
 * loop must look at the injection queue or the poller (and so, at least
 * every POLL_TICK rounds, at timers) itself. */
static inline bool take_round_outside_loop(struct fbr__worker *w)
{
    uint32_t tick = w->tick + 1;
    if (tick % GLOBAL_QUEUE_FAIRNESS_TICK == 0 || tick % POLL_TICK == 0)
        return false;
    w->tick = tick;
    return true;
}

/* Takes `wait` off the worker's deferred completions: true if it was there. */
static bool take_deferred(struct fbr__worker *w, fbr__wait *wait)
{
    for (fbr__wait **link = &w->deferred; *link; link = &(*link)->deferred_next) {
        if (*link == wait) {
            *link = wait->deferred_next;
            return true;
        }
    }
    return false;
}

/*
 * A callback that starts an operation which has to wait usually started it
 * on the fiber it has just woken (a C# await after a send: the answer comes
 * from the echo it sent to). Returning FBR_PENDING means the answer comes
 * as one more callback once that fiber has run, and for .NET a callback is a
 * transition into managed code, a completion and a continuation (a C#
 * ping-pong round trip took 176 ns that way, 150 ns this way). Running the
 * fiber here, as the loop would next, lets the operation end before the
 * start call returns. One level only: a fiber run here does not run
 * callbacks (they wait for the loop), and the rounds where the loop must
 * look elsewhere go through it, as for a hand-off.
 */
bool fbr__sched_run_next_for_callback(struct fbr__worker *w, fbr__wait *wait)
{
    struct fbr_fiber *next = __atomic_load_n(&w->run_next, __ATOMIC_RELAXED);
    if (next == NULL || next->hosted || !take_round_outside_loop(w))
        return false;
    __atomic_store_n(&w->run_next, NULL, __ATOMIC_RELAXED);
    w->running_for_callback = true;
    run_fiber(w, next);
    w->running_for_callback = false;
    /* Its end, if the fiber brought it, was deferred here (fbr__wait_complete),
     * seen by nobody else. */
    return take_deferred(w, wait);
}

/* The worker loop: runs fibers until the next runnable one is hosted (it is
 * returned, for the host to resume) or the scheduler exits (NULL). */
static struct fbr_fiber *run_until_hosted(struct fbr__worker *w)
{
    struct fbr_fiber *f;
    while ((f = find_runnable(w))) {
        if (f->hosted)
            return f;
        run_fiber(w, f);
        run_deferred_callbacks(w);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    struct fbr__worker *w = arg;
    struct fbr__thread *t;
    if (fbr__thread_get(&t) != FBR_OK) {
        /* Without its thread state (a signal stack) a worker cannot run
         * fibers safely; the others carry on. */
        fprintf(stderr, "fiberrt: worker %u cannot start: %s\n", w->index, fbr_last_error());
        return NULL;
    }
    t->worker = w;
    pthread_attr_t attr;
    void *stack_low = NULL;
    size_t stack_size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &stack_low, &stack_size);
        pthread_attr_destroy(&attr);
    }
    w->stack_low = (uintptr_t)stack_low;
    t->rng = 0x9E3779B97F4A7C15ull * (w->index + 1);
    w->thread_state = t;
    char name[16];
    snprintf(name, sizeof name, "fbr-worker-%u", w->index);
    pthread_setname_np(pthread_self(), name);
    if (w->sched->worker_main)
        w->sched->worker_main(w->sched->worker_context, w->index);
    else
        (void)run_until_hosted(w); /* no hosted fibers without a worker_main: runs until exit */
    flush_stack_cache(w);
    flush_record_cache(w);
    t->worker = NULL;
    return NULL;
}

static bool is_hosting_worker(const struct fbr__worker *w)
{
    return w != NULL && w->sched->worker_main != NULL && on_worker_loop(w);
}

/* Runs the worker's ordinary fibers until the next hosted one, which it
 * hands out; 0 once the scheduler exits. */
static int hand_out_next_hosted(struct fbr__worker *w, fbr_fiber **hosted)
{
    struct fbr_fiber *f = run_until_hosted(w);
    if (f == NULL)
        return 0;
    w->handed_out = f;
    *hosted = f;
    return 1;
}

/* Inlined for the reason run_fiber is: the hosted fiber's switch back lands
 * here, and each function between it and the host's frame would cost a
 * mispredicted return. */
static inline __attribute__((always_inline)) int resume_handed_out(struct fbr__worker *w, fbr_fiber *hosted,
                                                                   const char *what)
{
    if (w == NULL || hosted == NULL || hosted != w->handed_out)
        return fbr__fail(FBR_EINVAL, "%s: not the hosted fiber this worker handed out", what);
    w->handed_out = NULL;
    run_fiber(w, hosted);
    run_deferred_callbacks(w);
    return FBR_OK;
}

int fbr_worker_run(fbr_fiber **hosted)
{
    if (hosted == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_worker_run: hosted is NULL");
    *hosted = NULL;
    struct fbr__worker *w = fbr__worker_self();
    if (!is_hosting_worker(w))
        return fbr__fail(FBR_ENOTSUP, "fbr_worker_run: only a worker's worker_main may call it, outside fibers");
    return hand_out_next_hosted(w, hosted);
}

int fbr_worker_resume(fbr_fiber *hosted)
{
    return resume_handed_out(fbr__worker_self(), hosted, "fbr_worker_resume");
}

int fbr_worker_resume_next(fbr_fiber *hosted, fbr_fiber **next)
{
    if (next == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_worker_resume_next: next is NULL");
    *next = NULL;
    struct fbr__worker *w = fbr__worker_self();
    int rc = resume_handed_out(w, hosted, "fbr_worker_resume_next");
    return rc == FBR_OK ? hand_out_next_hosted(w, next) : rc;
}

/* Whether the calling thread runs a hosted fiber right now. */
static bool on_hosted_fiber(void)
{
    struct fbr__thread *t = fbr__thread_peek();
    return t != NULL && t->current != NULL && t->current->hosted;
}

int fbr_worker_hosted_current(void)
{
    return on_hosted_fiber();
}

/*
 * The fiber this one may hand the worker to directly, or NULL to go through
 * the loop. Going through the loop costs two switches where one would do,
 * so a fiber that woke its partner (run_next, what the loop would pick
 * next anyway) switches straight to it, and the partner does the worker's
 * side of this switch (after_switch) first thing: a ping-pong round trip
 * took 0.73-0.84x the time. Only between native fibers that have started
 * (hosted ones must pass through their host's frame), never with callbacks
 * waiting to run on the worker's own stack, and a hand-off counts as a
 * round of the loop: the rounds on which the loop would look at the
 * injection queue or the poller (and so at least every POLL_TICK rounds,
 * at timers) go through the loop.
 */
static struct fbr_fiber *handoff_target(struct fbr__worker *w, const struct fbr_fiber *self)
{
    struct fbr_fiber *next = __atomic_load_n(&w->run_next, __ATOMIC_RELAXED);
    if (next == NULL || self->hosted || next->hosted || next->stack == NULL || w->deferred != NULL)
        return NULL;
    return take_round_outside_loop(w) ? next : NULL;
}

/* Called on a fiber: hand control to the worker loop, or straight to the
 * fiber it would run next; whichever runs then does `after` for us. */
static inline __attribute__((always_inline)) void switch_to_loop(enum fbr__after_switch after,
                                                                  void (*release)(void *), void *arg)
{
    struct fbr__worker *w = fbr__worker_self();
    struct fbr_fiber *self = w->thread_state->current;
    w->after = after;
    w->after_release = release;
    w->after_arg = arg;
    w->switched_out = self;
    struct fbr_fiber *next = handoff_target(w, self);
    if (next != NULL) {
        __atomic_store_n(&w->run_next, NULL, __ATOMIC_RELAXED); /* stats read it */
        w->handoff_pending = true;
        mark_running(w, next);
        fbr__switch(self, next, NULL);
    } else {
        fbr__switch(self, &w->thread_state->root, NULL);
    }
    /* Resumed by the loop (which did the switched-out fiber's side) or
     * handed the worker by another fiber (whose side is still to do). */
    w = fbr__worker_self();
    if (w->handoff_pending) {
        w->handoff_pending = false;
        after_switch(w, w->switched_out);
    }
}

uint32_t fbr__sched_park(fbr__wait *wait, bool timed, void (*release)(void *), void *arg)
{
    struct fbr__worker *w = fbr__worker_self();
    struct fbr_fiber *self = w->thread_state->current;
    __atomic_store_n(&self->sched_state, FBR__PARKING, __ATOMIC_RELEASE);
    switch_to_loop(FBR__AFTER_PARK, release, arg);
    if (timed)
        fbr__timer_cancel(&wait->timer);
    return __atomic_load_n(&wait->claim, __ATOMIC_ACQUIRE);
}

static void sched_fiber_entry(void *arg, void *first_value)
{
    (void)first_value;
    struct fbr_fiber *self = arg;
    fbr__switch_arrived(self);
    self->result = self->fn(self->arg);
    struct fbr__worker *w = fbr__worker_self();
    w->after = FBR__AFTER_FINISH;
    w->switched_out = self;
    fbr__switch_final(self, &w->thread_state->root);
}

/* ---- the public API --------------------------------------------------------- */

static bool is_scheduler(const struct fbr_sched *s)
{
    return s != NULL && s->workers != NULL;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Worker threads' stacks: the size glibc gives threads by default, placed
 * above every fiber stack (see fbr__vm_worker_stack). */
#define WORKER_STACK_SIZE ((size_t)8 << 20)

static int start_worker_thread(struct fbr__worker *w)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    w->thread_stack = fbr__vm_worker_stack(WORKER_STACK_SIZE);
    if (w->thread_stack)
        pthread_attr_setstack(&attr, w->thread_stack, WORKER_STACK_SIZE);
    int err = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (err != 0 && w->thread_stack) {
        fbr__vm_worker_stack_free(w->thread_stack, WORKER_STACK_SIZE);
        w->thread_stack = NULL;
    }
    return err;
}

static void stop_and_join_workers(struct fbr_sched *s)
{
    __atomic_store_n(&s->exiting, true, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < s->worker_count; i++)
        wake_token(&s->workers[i]);
    for (unsigned i = 0; i < s->worker_count; i++) {
        struct fbr__worker *w = &s->workers[i];
        if (w->thread_started)
            pthread_join(w->thread, NULL);
        if (w->thread_stack) {
            fbr__vm_worker_stack_free(w->thread_stack, WORKER_STACK_SIZE);
            w->thread_stack = NULL;
        }
    }
    s->workers_joined = true;
}

static void free_scheduler(struct fbr_sched *s)
{
    fbr__fiber_queue_free(&s->global);
    for (unsigned i = 0; i < s->spare_count; i++)
        fbr__record_give_back(s->spare[i]);
    free(s->spare);
    for (unsigned i = 0; i < s->worker_count; i++)
        fbr__timer_heap_free(&s->workers[i].timers);
    fbr__io_forget_sched(s);
    fbr__poller_free(&s->poller);
    free(s->workers);
    free(s->idle);
    s->workers = NULL;
    free(s);
}

int fbr_sched_create(fbr_sched **out, const fbr_sched_options *opts)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_sched_create: out is NULL");
    *out = NULL;
    unsigned workers = opts && opts->workers ? opts->workers : online_cpus();
    if (workers > FBR_SCHED_MAX_WORKERS)
        return fbr__fail(FBR_EINVAL, "%u workers asked for; at most %d", workers, FBR_SCHED_MAX_WORKERS);
    int rc = fbr__runtime_ready();
    if (rc != FBR_OK)
        return rc;
    /* Aligned as its groups of fields are (see struct fbr_sched). */
    struct fbr_sched *s = aligned_alloc(_Alignof(struct fbr_sched), sizeof *s);
    if (s == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a scheduler");
    memset(s, 0, sizeof *s);
    s->spinner = -1;
    /* Aligned so that one worker's hot fields never share a cache line
     * with the next one's (the struct's alignment says how far). */
    void *worker_block = NULL;
    if (posix_memalign(&worker_block, _Alignof(struct fbr__worker), workers * sizeof *s->workers) == 0)
        memset(worker_block, 0, workers * sizeof *s->workers);
    s->workers = worker_block;
    s->idle = calloc(workers, sizeof *s->idle);
    if (s->workers == NULL || s->idle == NULL) {
        free(s->workers);
        free(s->idle);
        free(s);
        return fbr__fail(FBR_ENOMEM, "out of memory for %u workers", workers);
    }
    rc = fbr__poller_init(&s->poller);
    if (rc != FBR_OK) {
        free(s->workers);
        free(s->idle);
        free(s);
        return rc;
    }
    s->worker_count = workers;
    s->worker_main = opts ? opts->worker_main : NULL;
    s->worker_context = opts ? opts->worker_context : NULL;
    for (unsigned i = 0; i < workers; i++) {
        struct fbr__worker *w = &s->workers[i];
        w->sched = s;
        w->index = i;
        fbr__timer_heap_init(&w->timers);
    }
    for (unsigned i = 0; i < workers; i++) {
        struct fbr__worker *w = &s->workers[i];
        int err = start_worker_thread(w);
        if (err != 0) {
            stop_and_join_workers(s);
            free_scheduler(s);
            return fbr__fail(err == EAGAIN ? FBR_ENOMEM : FBR_ESYSTEM, "cannot start worker thread %u: %s", i,
                             strerror(err));
        }
        w->thread_started = true;
    }
    *out = s;
    return FBR_OK;
}

int fbr_spawn(fbr_sched *s, fbr_fiber **out, fbr_fiber_fn fn, void *arg, const fbr_spawn_options *opts)
{
    if (out)
        *out = NULL;
    if (!is_scheduler(s))
        return fbr__fail(FBR_EINVAL, "fbr_spawn: not a scheduler");
    if (fn == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_spawn: fn is NULL");
    bool hosted = opts && opts->hosted;
    if (hosted && s->worker_main == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_spawn: a hosted fiber needs a scheduler created with a worker_main");
    struct fbr__worker *w = fbr__worker_self();
    bool from_inside = w != NULL && w->sched == s;
    /* A shutting-down scheduler still lets its own fibers spawn helpers to
     * finish their work; only new work from outside is refused. */
    if (!from_inside && __atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST))
        return fbr__fail(FBR_ESHUTDOWN, "fbr_spawn: the scheduler is shutting down");
    struct fbr_fiber *f = NULL;
    int rc = fbr__fiber_init(from_inside ? take_record(w) : take_spare(s), &f, fn, arg, opts ? opts->stack_max : 0,
                             opts ? opts->stack_initial : 0, opts ? opts->name : NULL, sched_fiber_entry, true);
    if (rc != FBR_OK)
        return rc;
    f->sched = s;
    f->pinned = hosted || (opts && opts->pinned);
    if (f->pinned)
        f->home = NULL;
    f->hosted = hosted;
    f->join_mode = out ? FBR__JOINABLE : FBR__DETACHED;
    f->spawned_detached = out == NULL;
    f->join_lock = (fbr__lock)FBR__LOCK_INIT;
    if (from_inside) {
        /* Release is enough: whoever counts this fiber's end (acquire) then
         * sees its spawn counted too (live_fibers never undercounts). */
        __atomic_store_n(&w->spawned_here, w->spawned_here + 1, __ATOMIC_RELEASE);
    } else {
        __atomic_add_fetch(&s->spawned_outside, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&s->stopping, __ATOMIC_SEQ_CST)) {
            /* Shutdown began meanwhile and may have counted this fiber. */
            __atomic_sub_fetch(&s->spawned_outside, 1, __ATOMIC_SEQ_CST);
            wake_shutdown_if_done(s);
            fbr__fiber_free(f);
            return fbr__fail(FBR_ESHUTDOWN, "fbr_spawn: the scheduler is shutting down");
        }
    }
    if (out)
        *out = f;
    __atomic_store_n(&f->sched_state, FBR__WAITING, __ATOMIC_RELAXED);
    fbr__sched_ready(f);
    return FBR_OK;
}

static int check_joinable(struct fbr_fiber *f, const char *what)
{
    if (!fbr__is_fiber(f))
        return fbr__fail(FBR_EINVAL, "%s: not a live fiber", what);
    if (f->sched == NULL)
        return fbr__fail(FBR_EINVAL, "%s: fiber %llu is not scheduled (use fbr_fiber_resume)", what,
                         (unsigned long long)f->id);
    return FBR_OK;
}

int fbr_join_until(fbr_fiber *f, void **result, int64_t deadline)
{
    int rc = check_joinable(f, "fbr_join");
    if (rc != FBR_OK)
        return rc;
    if (f == fbr_fiber_self())
        return fbr__fail(FBR_EDEADLK, "fiber %llu cannot join itself", (unsigned long long)f->id);
    fbr__lock_acquire(&f->join_lock);
    if (f->join_mode != FBR__JOINABLE || f->joiner != NULL) {
        fbr__lock_release(&f->join_lock);
        return fbr__fail(FBR_EINVAL, "fiber %llu is detached, joined, or being joined already",
                         (unsigned long long)f->id);
    }
    if (__atomic_load_n(&f->state, __ATOMIC_RELAXED) != FBR_FIBER_FINISHED) {
        fbr__wait wait;
        fbr__wait_init(&wait);
        f->joiner = &wait;
        if (fbr__wait_block(&wait, fbr__wait_release_lock, &f->join_lock, deadline) == FBR__CLAIM_TIMEOUT) {
            fbr__lock_acquire(&f->join_lock);
            if (f->joiner == &wait)
                f->joiner = NULL;
            fbr__lock_release(&f->join_lock);
            return fbr__fail(FBR_ETIMEDOUT, "fiber %llu did not finish before the deadline",
                             (unsigned long long)f->id);
        }
        fbr__lock_acquire(&f->join_lock);
    }
    f->join_mode = FBR__JOINED;
    fbr__lock_release(&f->join_lock);
    int start_error = f->start_error;
    if (result)
        *result = start_error ? NULL : f->result;
    recycle_record(f);
    if (start_error)
        return fbr__fail(start_error, "the fiber could not start: %s", fbr_strerror(start_error));
    return FBR_OK;
}

int fbr_join(fbr_fiber *f, void **result)
{
    return fbr_join_until(f, result, FBR_NO_DEADLINE);
}

int fbr_detach(fbr_fiber *f)
{
    int rc = check_joinable(f, "fbr_detach");
    if (rc != FBR_OK)
        return rc;
    fbr__lock_acquire(&f->join_lock);
    if (f->join_mode != FBR__JOINABLE || f->joiner != NULL) {
        fbr__lock_release(&f->join_lock);
        return fbr__fail(FBR_EINVAL, "fiber %llu is detached, joined, or being joined already",
                         (unsigned long long)f->id);
    }
    bool finished = __atomic_load_n(&f->state, __ATOMIC_RELAXED) == FBR_FIBER_FINISHED;
    f->join_mode = FBR__DETACHED;
    fbr__lock_release(&f->join_lock);
    if (finished)
        recycle_record(f);
    return FBR_OK;
}

static struct fbr_fiber *scheduled_self(void)
{
    struct fbr_fiber *self = fbr_fiber_self();
    return self && self->sched ? self : NULL;
}

int fbr_yield(void)
{
    if (scheduled_self() == NULL)
        return fbr__fail(FBR_ENOTFIBER, "fbr_yield called outside a scheduled fiber");
    switch_to_loop(FBR__AFTER_YIELD, NULL, NULL);
    return FBR_OK;
}

int fbr_yield_hosted(void)
{
    /* The one check a host needs before it lets its code suspend, made here
     * rather than by a second call into the library: a C# yield took 39 ns
     * this way against 55 ns with the check as a call of its own. */
    if (!on_hosted_fiber())
        return fbr__fail(FBR_ENOTFIBER, "fbr_yield_hosted called outside a hosted fiber");
    switch_to_loop(FBR__AFTER_YIELD, NULL, NULL);
    return FBR_OK;
}

int fbr_sleep_until(int64_t deadline)
{
    if (scheduled_self() == NULL) {
        struct timespec ts = {.tv_sec = (time_t)(deadline / FBR_SECOND), .tv_nsec = (long)(deadline % FBR_SECOND)};
        if (deadline <= 0)
            return FBR_OK;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        return FBR_OK;
    }
    if (deadline <= fbr_now())
        return FBR_OK;
    fbr__wait wait;
    fbr__wait_init(&wait);
    fbr__wait_block(&wait, NULL, NULL, deadline);
    return FBR_OK;
}

int fbr_sleep_for(int64_t ns)
{
    return fbr_sleep_until(fbr_deadline_in(ns));
}

fbr_sched *fbr_sched_current(void)
{
    struct fbr_fiber *self = scheduled_self();
    return self ? self->sched : NULL;
}

int fbr_worker_current(void)
{
    struct fbr__worker *w = fbr__worker_self();
    return w && scheduled_self() ? (int)w->index : -1;
}

static size_t describe_live(struct fbr_sched *s, fbr_fiber_info *info, size_t capacity)
{
    size_t n = 0;
    for (unsigned i = 0; i < s->worker_count; i++) {
        struct fbr__registry *r = &s->workers[i].registry;
        fbr__lock_acquire(&r->lock);
        for (struct fbr_fiber *f = r->head; f; f = f->registry_next, n++)
            if (n < capacity) {
                info[n].id = f->id;
                snprintf(info[n].name, sizeof info[n].name, "%s", fbr__fiber_name(f));
            }
        fbr__lock_release(&r->lock);
    }
    return n;
}

int fbr_sched_shutdown(fbr_sched *s, int64_t deadline, fbr_fiber_info *still_running, size_t capacity,
                       size_t *count)
{
    if (count)
        *count = 0;
    if (!is_scheduler(s))
        return fbr__fail(FBR_EINVAL, "fbr_sched_shutdown: not a scheduler");
    if (capacity && still_running == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_sched_shutdown: still_running is NULL but capacity is %zu", capacity);
    struct fbr__worker *self = fbr__worker_self();
    if (self && self->sched == s)
        return fbr__fail(FBR_EDEADLK, "a scheduler cannot be shut down from one of its own fibers");
    __atomic_store_n(&s->stopping, true, __ATOMIC_SEQ_CST);
    for (;;) {
        uint32_t generation = __atomic_load_n(&s->live_generation, __ATOMIC_SEQ_CST);
        if (live_fibers(s) == 0)
            break;
        if (fbr__futex_wait(&s->live_generation, generation, deadline) == ETIMEDOUT) {
            uint64_t live = live_fibers(s);
            if (live == 0)
                break;
            size_t started = describe_live(s, still_running, capacity);
            /* Fibers not started yet are in no registry (spawning stays
             * cheap): each gets an entry with id 0, so that every entry up
             * to *count is written. */
            size_t alive = live > started ? (size_t)live : started;
            for (size_t i = started; i < alive && i < capacity; i++)
                still_running[i] = (fbr_fiber_info){.id = 0};
            if (count)
                *count = alive;
            return fbr__fail(FBR_ETIMEDOUT,
                             "%llu fibers were still alive at the deadline (%zu started, the rest not yet)",
                             (unsigned long long)alive, started);
        }
    }
    fbr__lock_acquire(&s->shutdown_lock);
    if (!s->workers_joined)
        stop_and_join_workers(s);
    fbr__lock_release(&s->shutdown_lock);
    return FBR_OK;
}

int fbr_sched_destroy(fbr_sched *s)
{
    if (!is_scheduler(s))
        return fbr__fail(FBR_EINVAL, "fbr_sched_destroy: not a scheduler");
    if (!s->workers_joined)
        return fbr__fail(FBR_EBUSY, "the scheduler has not been shut down (call fbr_sched_shutdown first)");
    /* A thread that readied a fiber (a blocking-call thread, a channel
     * partner) may still be on its way out of fbr__sched_ready. */
    while (__atomic_load_n(&s->outside_wakers, __ATOMIC_ACQUIRE))
        sched_yield();
    free_scheduler(s);
    return FBR_OK;
}

int fbr_sched_stats_get(fbr_sched *s, fbr_sched_stats *out, fbr_worker_stats *per_worker, size_t capacity)
{
    if (!is_scheduler(s) || out == NULL || (capacity && per_worker == NULL))
        return fbr__fail(FBR_EINVAL, "fbr_sched_stats_get: bad arguments");
    out->workers = s->worker_count;
    out->live_fibers = live_fibers(s);
    out->spawned = __atomic_load_n(&s->spawned_outside, __ATOMIC_RELAXED);
    out->finished = 0;
    for (unsigned i = 0; i < s->worker_count; i++) {
        out->spawned += __atomic_load_n(&s->workers[i].spawned_here, __ATOMIC_RELAXED);
        out->finished += __atomic_load_n(&s->workers[i].finished_here, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < capacity && i < s->worker_count; i++) {
        struct fbr__worker *w = &s->workers[i];
        per_worker[i].runs = __atomic_load_n(&w->runs, __ATOMIC_RELAXED);
        per_worker[i].steals = __atomic_load_n(&w->steals, __ATOMIC_RELAXED);
        per_worker[i].parks = __atomic_load_n(&w->parks, __ATOMIC_RELAXED);
        per_worker[i].runnable = fbr__runq_size(&w->runq) + __atomic_load_n(&w->pinned_count, __ATOMIC_RELAXED) +
                                 (__atomic_load_n(&w->handed_in, __ATOMIC_RELAXED) != NULL) +
                                 (__atomic_load_n(&w->run_next, __ATOMIC_RELAXED) != NULL);
    }
    return FBR_OK;
}

int64_t fbr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * FBR_SECOND + ts.tv_nsec;
}

int64_t fbr_deadline_in(int64_t ns)
{
    int64_t now = fbr_now();
    if (ns <= 0)
        return now;
    return ns > FBR_NO_DEADLINE - now ? FBR_NO_DEADLINE : now + ns;
}
