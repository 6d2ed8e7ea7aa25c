#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "fiber_internal.h"
#include "record_pool.h"
#include "runtime_internal.h"
#include "switch.h"
#include "thread.h"

static uint64_t next_fiber_id = 1;

/* Threads that spawn take ids in blocks: one shared counter bumped per
 * spawn was a cache line every spawning worker fought over. */
#define FIBER_ID_BLOCK 256

static uint64_t take_fiber_id(void)
{
    struct fbr__thread *t = fbr__thread_peek();
    if (t == NULL)
        return __atomic_fetch_add(&next_fiber_id, 1, __ATOMIC_RELAXED);
    if (t->next_fiber_id == t->fiber_id_end) {
        t->next_fiber_id = __atomic_fetch_add(&next_fiber_id, FIBER_ID_BLOCK, __ATOMIC_RELAXED);
        t->fiber_id_end = t->next_fiber_id + FIBER_ID_BLOCK;
    }
    return t->next_fiber_id++;
}

/* Low-level fibers start here and, when their function returns, go back to
 * whoever resumed them for the last time. */
static void fiber_entry(void *arg, void *first_value)
{
    (void)first_value;
    struct fbr_fiber *self = arg;
    fbr__switch_arrived(self);
    self->result = self->fn(self->arg);
    self->state = FBR_FIBER_FINISHED;
    fbr__switch_final(self, self->resumer);
}

bool fbr__is_fiber(const struct fbr_fiber *f)
{
    return f != NULL && f->magic == FBR__FIBER_MAGIC && !f->is_root;
}

int fbr__fiber_new(struct fbr_fiber **out, fbr_fiber_fn fn, void *arg, size_t stack_max, size_t stack_initial,
                   const char *name, fbr__context_entry entry, bool lazy_stack)
{
    return fbr__fiber_init(NULL, out, fn, arg, stack_max, stack_initial, name, entry, lazy_stack);
}

size_t fbr__fiber_stack_limit(const struct fbr_fiber *f)
{
    return (size_t)f->stack_limit_pages * fbr__settings.page_size;
}

size_t fbr__fiber_stack_initial(const struct fbr_fiber *f)
{
    return (size_t)f->stack_initial_pages * fbr__settings.page_size;
}

const char *fbr__fiber_name(const struct fbr_fiber *f)
{
    return f->named ? f->name : "";
}

int fbr__fiber_init(struct fbr_fiber *record, struct fbr_fiber **out, fbr_fiber_fn fn, void *arg, size_t stack_max,
                    size_t stack_initial, const char *name, fbr__context_entry entry, bool lazy_stack)
{
    size_t max = stack_max ? stack_max : FBR_STACK_DEFAULT_MAX;
    size_t initial = stack_initial ? stack_initial : FBR_STACK_DEFAULT_INITIAL;
    int rc = FBR_OK;
    if (max < FBR_STACK_MIN || max > FBR_STACK_LIMIT)
        rc = fbr__fail(FBR_EINVAL, "stack_max of %zu bytes is outside the accepted range [%zu, %zu]", max,
                       (size_t)FBR_STACK_MIN, (size_t)FBR_STACK_LIMIT);
    if (rc == FBR_OK)
        rc = fbr__runtime_ready();
    if (rc != FBR_OK) {
        if (record)
            fbr__record_give_back(record);
        return rc;
    }
    size_t page = fbr__settings.page_size;
    size_t limit = fbr__round_up(max, page);
    initial = initial > limit || fbr__settings.commit_full_stacks ? limit : fbr__round_up(initial, page);

    struct fbr_fiber *f = record ? record : fbr__record_take();
    if (f == NULL)
        return FBR_ENOMEM; /* the pool said why */
    memset(f, 0, FBR__FIBER_CLEARED_SIZE);
    f->stack_limit_pages = (uint32_t)(limit / page);
    f->stack_initial_pages = (uint32_t)(initial / page);
    if (!lazy_stack) {
        fbr__stack *st;
        rc = fbr__stack_acquire(limit, initial, &st);
        if (rc != FBR_OK) {
            fbr__record_give_back(f);
            return rc;
        }
        fbr__fiber_attach_stack(f, st, entry);
    }
    f->fn = fn;
    f->arg = arg;
    f->id = take_fiber_id();
    f->magic = FBR__FIBER_MAGIC;
    f->state = FBR_FIBER_CREATED;
    if (name) {
        strncpy(f->name, name, sizeof f->name - 1);
        f->name[sizeof f->name - 1] = '\0';
        f->named = true;
    }
    FBR__COUNT_ADD(fibers_created, 1);
    *out = f;
    return FBR_OK;
}

void fbr__fiber_attach_stack(struct fbr_fiber *f, fbr__stack *st, fbr__context_entry entry)
{
    f->stack = st;
    f->sp = fbr__context_prepare(st->top, entry, f);
    fbr__sanitizer_fiber_created(f);
}

void fbr__fiber_release_stack(struct fbr_fiber *f)
{
    fbr__sanitizer_fiber_destroyed(f);
    fbr__stack_release(f->stack);
    f->stack = NULL;
}

void fbr__fiber_free(struct fbr_fiber *f)
{
    if (f->stack)
        fbr__fiber_release_stack(f);
    f->magic = 0;
    fbr__record_give_back(f);
}

int fbr_fiber_create(fbr_fiber **out, fbr_fiber_fn fn, void *arg, const fbr_fiber_options *opts)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_create: out is NULL");
    *out = NULL;
    if (fn == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_create: fn is NULL");
    return fbr__fiber_new(out, fn, arg, opts ? opts->stack_max : 0, opts ? opts->stack_initial : 0,
                          opts ? opts->name : NULL, fiber_entry, false);
}

/* Scheduled fibers are driven by their scheduler, not by hand. */
static int refuse_scheduled(const struct fbr_fiber *f, const char *what)
{
    return fbr__fail(FBR_EINVAL, "%s: fiber %llu belongs to a scheduler (use fbr_join / fbr_detach)", what,
                     (unsigned long long)f->id);
}

int fbr_fiber_resume(fbr_fiber *f, void *in, void **out)
{
    if (!fbr__is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_resume: not a live fiber");
    if (f->sched)
        return refuse_scheduled(f, "fbr_fiber_resume");
    if (f->state == FBR_FIBER_FINISHED)
        return fbr__fail(FBR_EFINISHED, "fiber %llu has finished; it cannot be resumed",
                         (unsigned long long)f->id);
    if (f->state == FBR_FIBER_RUNNING)
        return fbr__fail(FBR_ERUNNING, "fiber %llu is already running (it is the caller, or resumed it)",
                         (unsigned long long)f->id);
    struct fbr__thread *t;
    int rc = fbr__thread_get(&t);
    if (rc != FBR_OK)
        return rc;
    struct fbr_fiber *self = t->current;
    f->resumer = self;
    f->state = FBR_FIBER_RUNNING;
    void *received = fbr__switch(self, f, in);
    if (f->state == FBR_FIBER_FINISHED) {
        fbr__fiber_release_stack(f);
        if (out)
            *out = f->result;
        return FBR_FINISHED;
    }
    f->state = FBR_FIBER_SUSPENDED;
    if (out)
        *out = received;
    return FBR_YIELDED;
}

int fbr_fiber_yield(void *out, void **in)
{
    struct fbr__thread *t = fbr__thread_peek();
    if (t == NULL || t->current == &t->root)
        return fbr__fail(FBR_ENOTFIBER, "fbr_fiber_yield called outside a fiber");
    struct fbr_fiber *self = t->current;
    if (self->sched)
        return fbr__fail(FBR_ENOTFIBER, "fbr_fiber_yield: fiber %llu is scheduled; use fbr_yield",
                         (unsigned long long)self->id);
    void *received = fbr__switch(self, self->resumer, out);
    if (in)
        *in = received;
    return FBR_OK;
}

int fbr_fiber_destroy(fbr_fiber *f)
{
    if (!fbr__is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_destroy: not a live fiber");
    if (f->sched)
        return refuse_scheduled(f, "fbr_fiber_destroy");
    if (f->state == FBR_FIBER_RUNNING)
        return fbr__fail(FBR_ERUNNING, "fiber %llu is running; only a suspended or finished fiber can be destroyed",
                         (unsigned long long)f->id);
    fbr__fiber_free(f);
    return FBR_OK;
}

fbr_fiber *fbr_fiber_self(void)
{
    return fbr__thread_fiber(fbr__thread_peek());
}

uint64_t fbr_fiber_id(const fbr_fiber *f)
{
    return fbr__is_fiber(f) ? f->id : 0;
}

const char *fbr_fiber_name(const fbr_fiber *f)
{
    return fbr__is_fiber(f) ? fbr__fiber_name(f) : "";
}

int fbr_fiber_status(const fbr_fiber *f)
{
    if (!fbr__is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_status: not a live fiber");
    return __atomic_load_n(&f->state, __ATOMIC_RELAXED); /* a scheduled fiber's changes on its worker */
}

int fbr_fiber_stack_stats(const fbr_fiber *f, fbr_stack_stats *out)
{
    if (!fbr__is_fiber(f) || out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_stack_stats: NULL or dead fiber, or NULL out");
    if (f->stack == NULL) {
        if (__atomic_load_n(&f->state, __ATOMIC_RELAXED) == FBR_FIBER_FINISHED)
            return fbr__fail(FBR_EFINISHED, "fiber %llu has finished and released its stack",
                             (unsigned long long)f->id);
        /* A scheduled fiber that has not started yet has no stack so far. */
        *out = (fbr_stack_stats){.limit = fbr__fiber_stack_limit(f)};
        return FBR_OK;
    }
    fbr__stack_stats(f->stack, out);
    return FBR_OK;
}
