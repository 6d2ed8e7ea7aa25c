#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "error_internal.h"
#include "runtime_internal.h"
#include "stack.h"
#include "vmem.h"

#if defined(FBR_WITH_VALGRIND)
#include <valgrind/valgrind.h>
#define FBR__VALGRIND_REGISTER(s) ((s)->valgrind_id = VALGRIND_STACK_REGISTER((s)->usable_low, (s)->top))
#define FBR__VALGRIND_DEREGISTER(s) VALGRIND_STACK_DEREGISTER((s)->valgrind_id)
#else
#define FBR__VALGRIND_REGISTER(s) ((void)(s))
#define FBR__VALGRIND_DEREGISTER(s) ((void)(s))
#endif

/*
 * Stacks of one size come from slabs: single reservations holding many
 * stacks side by side, so that in guard-marker mode a million stacks cost a
 * handful of memory mappings. Each new slab of a size holds twice as many
 * stacks as the last (up to SLAB_BYTES_CAP), so small programs reserve
 * little and large ones need few slabs.
 */
#define CLASS_LIMIT 64
#define FIRST_SLAB_BYTES ((size_t)64 << 20)
#define SLAB_BYTES_CAP ((size_t)64 << 30)

struct stack_class;

struct fbr__slab {
    struct stack_class *cls; /* NULL for a one-off slab (class table full) */
    struct fbr__slab *prev, *next; /* among the class's slabs with room */
    bool has_room_listed;
    char *base;
    size_t bytes;
    uint32_t slot_count;
    uint32_t carved;     /* slots [0, carved) have been handed out at least once */
    uint32_t held;       /* slots in use or cached: not on the free list */
    fbr__stack *free;    /* carved slots given back in full */
    fbr__stack slots[];
};

struct stack_class {
    size_t limit;   /* usable bytes */
    size_t reserve; /* limit plus the permanent guard */
    fbr__stack *cached;
    size_t cached_count;
    struct fbr__slab *with_room;
    uint32_t next_slot_count;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stack_class classes[CLASS_LIMIT];
static size_t class_count;

static struct stack_class *find_class(size_t limit)
{
    for (size_t i = 0; i < class_count; i++)
        if (classes[i].limit == limit)
            return &classes[i];
    if (class_count == CLASS_LIMIT)
        return NULL;
    struct stack_class *c = &classes[class_count++];
    c->limit = limit;
    c->reserve = limit + fbr__settings.guard_size;
    size_t slots = FIRST_SLAB_BYTES / c->reserve;
    c->next_slot_count = slots > 64 ? 64 : slots ? (uint32_t)slots : 1;
    return c;
}

static void room_list_add(struct stack_class *c, struct fbr__slab *s)
{
    if (c == NULL || s->has_room_listed)
        return;
    s->prev = NULL;
    s->next = c->with_room;
    if (c->with_room)
        c->with_room->prev = s;
    c->with_room = s;
    s->has_room_listed = true;
}

static void room_list_remove(struct stack_class *c, struct fbr__slab *s)
{
    if (c == NULL || !s->has_room_listed)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->with_room = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->has_room_listed = false;
}

static int slab_create(struct stack_class *c, size_t reserve, uint32_t slot_count, struct fbr__slab **out)
{
    struct fbr__slab *s = calloc(1, sizeof *s + (size_t)slot_count * sizeof(fbr__stack));
    if (s == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for %u stack descriptors", slot_count);
    s->bytes = reserve * slot_count;
    void *base = NULL;
    int rc = fbr__vm_reserve(fbr__settings.stack_mode, s->bytes, &base);
    if (rc != FBR_OK) {
        free(s);
        return rc;
    }
    s->cls = c;
    s->base = base;
    s->slot_count = slot_count;
    FBR__COUNT_ADD(bytes_reserved, s->bytes);
    FBR__COUNT_ADD(stack_regions, 1);
    room_list_add(c, s);
    *out = s;
    return FBR_OK;
}

static void slab_destroy(struct fbr__slab *s)
{
    for (uint32_t i = 0; i < s->carved; i++)
        FBR__VALGRIND_DEREGISTER(&s->slots[i]);
    room_list_remove(s->cls, s);
    fbr__vm_release(s->base, s->bytes);
    FBR__COUNT_SUB(bytes_reserved, s->bytes);
    FBR__COUNT_SUB(stack_regions, 1);
    free(s);
}

static bool windowed(void)
{
    return fbr__settings.stack_mode == FBR_STACK_MODE_GUARD_MARKERS;
}

#define WINDOW_MIN ((size_t)32 << 10)

/* Bottom of a window under `commit_low`: as large as what is committed. */
static char *window_low(const fbr__stack *st, char *commit_low)
{
    size_t size = (size_t)(st->top - commit_low);
    if (size < WINDOW_MIN)
        size = WINDOW_MIN;
    return (size_t)(commit_low - st->usable_low) > size ? commit_low - size : st->usable_low;
}

/* Guard-marker mode: marks [want, marked_low), memory the caller knows is
 * dead. Async-signal-safe. Returns 0 or errno; on failure the window is
 * just smaller, which costs accuracy, not safety. */
static int extend_window(fbr__stack *st, char *want)
{
    if (want < st->usable_low)
        want = st->usable_low;
    if (want >= st->marked_low)
        return 0;
    if (madvise(want, (size_t)(st->marked_low - want), MADV_GUARD_INSTALL) != 0)
        return errno;
    st->marked_low = want;
    return 0;
}

/* Commits [want, commit_low). Async-signal-safe (`in_handler` says where
 * the commit is counted). Returns 0 or errno. */
static int commit_down_to(fbr__stack *st, char *want, bool in_handler)
{
    char *committed_low = st->commit_low;
    /* In the reserve nothing needs doing: it is read-write already. */
    char *from = windowed() && want < st->marked_low ? st->marked_low : want;
    if (from < committed_low) {
        int err = fbr__vm_commit(fbr__settings.stack_mode, from, (size_t)(committed_low - from));
        if (err != 0)
            return err;
    }
    if (windowed() && st->marked_low > want)
        st->marked_low = want;
    if (in_handler)
        FBR__COUNT_IN_HANDLER(bytes_committed, committed_low - want);
    else
        FBR__COUNT_ADD(bytes_committed, committed_low - want);
    __atomic_store_n(&st->commit_low, want, __ATOMIC_RELAXED);
    return 0;
}

/* Makes at least `bytes` from the top usable, on a stack no fiber runs on. */
static int ensure_committed(fbr__stack *st, size_t bytes)
{
    char *want = st->top - bytes;
    if (want >= st->commit_low)
        return FBR_OK;
    int err = commit_down_to(st, want, false);
    if (err != 0)
        return fbr__vm_fail(err, "committing stack memory", (size_t)(st->commit_low - want));
    if (windowed())
        (void)extend_window(st, window_low(st, want));
    return FBR_OK;
}

/* A never-used slot: the guard and a window marked, the top committed. */
static int carve(struct fbr__slab *slab, size_t reserve, size_t initial, fbr__stack **out)
{
    fbr__stack *st = &slab->slots[slab->carved];
    st->low = slab->base + (size_t)slab->carved * reserve;
    st->usable_low = st->low + fbr__settings.guard_size;
    st->top = st->low + reserve;
    st->slab = slab;
    if (windowed()) {
        /* The reservation is read-write and untouched: leaving the top
         * `initial` bytes as they are is exactly committing them. */
        st->commit_low = st->top - initial;
        st->marked_low = window_low(st, st->commit_low);
        int rc = fbr__vm_decommit(FBR_STACK_MODE_GUARD_MARKERS, st->marked_low,
                                  (size_t)(st->commit_low - st->marked_low));
        if (rc == FBR_OK)
            rc = fbr__vm_decommit(FBR_STACK_MODE_GUARD_MARKERS, st->low, (size_t)(st->usable_low - st->low));
        if (rc != FBR_OK)
            return rc;
        FBR__COUNT_ADD(bytes_committed, initial);
    } else {
        st->commit_low = st->marked_low = st->top;
        int rc = ensure_committed(st, initial);
        if (rc != FBR_OK)
            return rc;
    }
    FBR__VALGRIND_REGISTER(st);
    slab->carved++;
    slab->held++;
    *out = st;
    return FBR_OK;
}

/* Gives back everything below `keep_top_bytes` from the top, on a stack no
 * fiber runs on. */
static int decommit_below(fbr__stack *st, size_t keep_top_bytes)
{
    char *keep_from = st->top - keep_top_bytes;
    if (st->commit_low < keep_from) {
        int rc = fbr__vm_decommit(fbr__settings.stack_mode, st->commit_low, (size_t)(keep_from - st->commit_low));
        if (rc != FBR_OK)
            return rc;
        FBR__COUNT_SUB(bytes_committed, keep_from - st->commit_low);
        __atomic_store_n(&st->commit_low, keep_from, __ATOMIC_RELAXED);
    }
    /* Released in full: also drop what a frame that jumped the window left
     * in the reserve (known from the stack pointer at a later fault; a jump
     * that never faulted again leaves its pages to the stack's next user). */
    if (keep_top_bytes == 0 && st->reserve_touched) {
        madvise(st->usable_low, (size_t)(st->marked_low - st->usable_low), MADV_DONTNEED);
        st->reserve_touched = false;
    }
    return FBR_OK;
}

static int take_free_slot(struct stack_class *c, size_t reserve, size_t initial, fbr__stack **out)
{
    struct fbr__slab *slab = c ? c->with_room : NULL;
    if (slab == NULL) {
        uint32_t count = 1;
        if (c) {
            count = c->next_slot_count;
            if ((size_t)count * 2 * reserve <= SLAB_BYTES_CAP)
                c->next_slot_count = count * 2;
        }
        int rc = slab_create(c, reserve, count, &slab);
        if (rc != FBR_OK)
            return rc;
    }
    int rc;
    if (slab->free) {
        fbr__stack *st = slab->free;
        slab->free = st->next;
        slab->held++;
        rc = ensure_committed(st, initial);
        if (rc != FBR_OK) {
            st->next = slab->free;
            slab->free = st;
            slab->held--;
            return rc;
        }
        *out = st;
    } else {
        rc = carve(slab, reserve, initial, out);
        if (rc != FBR_OK) {
            if (slab->held == 0 && (c == NULL || slab->carved == 0))
                slab_destroy(slab);
            return rc;
        }
    }
    if (slab->free == NULL && slab->carved == slab->slot_count)
        room_list_remove(c, slab);
    return FBR_OK;
}

int fbr__stack_acquire(size_t limit, size_t initial, fbr__stack **out)
{
    pthread_mutex_lock(&pool_lock);
    struct stack_class *c = find_class(limit);
    size_t reserve = limit + fbr__settings.guard_size;
    int rc = FBR_OK;
    fbr__stack *st = NULL;
    if (c && c->cached) {
        st = c->cached;
        rc = ensure_committed(st, initial);
        if (rc == FBR_OK) {
            c->cached = st->next;
            c->cached_count--;
            FBR__COUNT_SUB(stacks_cached, 1);
        }
    } else {
        rc = take_free_slot(c, reserve, initial, &st);
    }
    pthread_mutex_unlock(&pool_lock);
    if (rc != FBR_OK)
        return rc;
    st->next = NULL;
    st->growth_faults = 0;
    FBR__COUNT_ADD(stacks_in_use, 1);
    *out = st;
    return FBR_OK;
}

/*
 * A burst of fibers (skynet peaks near 30,000 live) used to overflow a
 * 4,096-stack cache, and every stack past it gave all its memory back and
 * took it again for the next fiber: two madvise calls and a fresh page
 * fault or two per fiber, about a quarter of skynet's time. The cache is
 * deep now (pool_max_cached, default 65,536), but only the first HOT_CACHED
 * stacks keep pool_keep_committed; the rest keep what a fiber that never
 * grew had (the default initial commit), which costs no system call for
 * such fibers and bounds what a burst of deep stacks leaves resident.
 */
#define HOT_CACHED 4096

static size_t cold_keep(void)
{
    return fbr__settings.keep_committed < FBR_STACK_DEFAULT_INITIAL ? fbr__settings.keep_committed
                                                                    : FBR_STACK_DEFAULT_INITIAL;
}

void fbr__stack_release(fbr__stack *st)
{
    struct fbr__slab *slab = st->slab;
    struct stack_class *c = slab->cls;
    FBR__COUNT_SUB(stacks_in_use, 1);
    pthread_mutex_lock(&pool_lock);
    if (c && c->cached_count < fbr__settings.max_cached) {
        /* Keep the hot top of the stack for the next fiber. If giving the
         * rest back fails the stack simply stays more committed. */
        (void)decommit_below(st, c->cached_count < HOT_CACHED ? fbr__settings.keep_committed : cold_keep());
        st->next = c->cached;
        c->cached = st;
        c->cached_count++;
        FBR__COUNT_ADD(stacks_cached, 1);
        pthread_mutex_unlock(&pool_lock);
        return;
    }
    (void)decommit_below(st, 0);
    st->next = slab->free;
    slab->free = st;
    slab->held--;
    room_list_add(c, slab);
    /* An empty slab goes back to the system unless it is the only one with
     * room (then it would just be made again on the next spawn). */
    if (slab->held == 0 && (c == NULL || c->with_room != slab || slab->next != NULL))
        slab_destroy(slab);
    pthread_mutex_unlock(&pool_lock);
}

void fbr__stack_trim(fbr__stack *st)
{
    /* If giving the memory back fails the stack simply stays more committed. */
    (void)decommit_below(st, fbr__settings.keep_committed);
}

int fbr__stack_reuse(fbr__stack *st, size_t initial)
{
    int rc = ensure_committed(st, initial);
    if (rc == FBR_OK)
        st->growth_faults = 0;
    return rc;
}

/* Below the stack pointer nothing is alive, except the x86-64 red zone. */
#define RED_ZONE 128

/* The start of the page holding `p`. */
static char *page_of(const char *p)
{
    return (char *)((uintptr_t)p & ~(uintptr_t)(fbr__settings.page_size - 1));
}

/* The handler's side of a growth once memory down to `low` is committed:
 * the guard window follows it, and the figures count it. */
static fbr__fault_outcome grown(fbr__stack *st, char *low)
{
    if (windowed())
        (void)extend_window(st, window_low(st, low));
    __atomic_store_n(&st->growth_faults, st->growth_faults + 1, __ATOMIC_RELAXED);
    FBR__COUNT_IN_HANDLER(growth_faults, 1);
    return FBR__FAULT_GROWN;
}

fbr__fault_outcome fbr__stack_fault(fbr__stack *st, const char *addr, const char *sp)
{
    if (addr < st->low || addr >= st->top)
        return FBR__FAULT_ELSEWHERE;
    if (addr < st->usable_low)
        return FBR__FAULT_OVERFLOW;
    char *committed_low = st->commit_low;
    if (addr >= committed_low)
        return FBR__FAULT_COMMITTED;
    if (windowed() && addr < st->marked_low)
        return FBR__FAULT_ELSEWHERE; /* the reserve is read-write: not a growth fault */
    char *fault_page = page_of(addr);
    /* Double what is committed, or reach the fault if that is deeper. */
    size_t committed = (size_t)(st->top - committed_low);
    char *target = (size_t)(committed_low - st->usable_low) > committed ? committed_low - committed : st->usable_low;
    if (fault_page < target)
        target = fault_page;
    if (windowed() && sp >= st->usable_low && sp < st->top) {
        /* Frames may already live below the window (one that jumped it):
         * everything from the stack pointer up counts as committed, so the
         * new window lies entirely in dead memory. */
        const char *live = sp - RED_ZONE < addr ? sp - RED_ZONE : addr;
        char *live_page = live < st->usable_low ? st->usable_low : page_of(live);
        if (live_page < target)
            target = live_page;
        if (live_page < st->marked_low)
            st->reserve_touched = true;
    }
    int err = commit_down_to(st, target, true);
    if (err == ENOMEM && target < fault_page) {
        /* Doubling asked for more than the system will give: take only what
         * this access needs. */
        target = fault_page;
        err = commit_down_to(st, target, true);
    }
    return err != 0 ? FBR__FAULT_NO_MEMORY : grown(st, target);
}

fbr__fault_outcome fbr__stack_signal_frame_fault(fbr__stack *st, const char *sp)
{
    if (sp < st->usable_low || sp >= st->top)
        return FBR__FAULT_ELSEWHERE;
    char *committed_low = st->commit_low;
    if (windowed() && committed_low <= st->marked_low)
        return FBR__FAULT_COMMITTED; /* what lies below is read-write already */
    /* Pages below commit_low may still be accessible (kept from a pooled
     * stack's earlier user): the kernel failed below the stack pointer, so
     * commit from there, wherever commit_low stands. */
    char *want = (size_t)(sp - st->usable_low) > FBR__SIGNAL_FRAME_ROOM ? page_of(sp - FBR__SIGNAL_FRAME_ROOM)
                                                                       : st->usable_low;
    if (want >= committed_low)
        return FBR__FAULT_COMMITTED; /* room enough, or none left to give: the kernel's reason was another */
    return commit_down_to(st, want, true) != 0 ? FBR__FAULT_NO_MEMORY : grown(st, want);
}

void fbr__stack_stats(const fbr__stack *st, fbr_stack_stats *out)
{
    size_t page = fbr__settings.page_size;
    char *committed_low = __atomic_load_n(&st->commit_low, __ATOMIC_RELAXED);
    out->limit = (size_t)(st->top - st->usable_low);
    out->reserved = (size_t)(st->top - st->low);
    out->committed = (size_t)(st->top - committed_low);
    out->growth_faults = __atomic_load_n(&st->growth_faults, __ATOMIC_RELAXED);
    out->high_water = 0;
    /* The deepest resident page marks how far the stack has really been used
     * (pages kept from a previous user of a pooled stack included, and pages
     * a frame without stack probes touched beyond the window). */
    unsigned char residency[256];
    char *scan_from = fbr__settings.stack_mode == FBR_STACK_MODE_GUARD_MARKERS ? st->usable_low : committed_low;
    for (char *chunk = scan_from; chunk < st->top; chunk += sizeof residency * page) {
        size_t pages = (size_t)(st->top - chunk) / page;
        if (pages > sizeof residency)
            pages = sizeof residency;
        if (mincore(chunk, pages * page, residency) != 0)
            break;
        for (size_t i = 0; i < pages; i++)
            if (residency[i] & 1) {
                out->high_water = (size_t)(st->top - (chunk + i * page));
                return;
            }
    }
}
