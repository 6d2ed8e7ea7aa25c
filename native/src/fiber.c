#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "error_internal.h"
#include "fiber_internal.h"
#include "runtime_internal.h"
#include "sanitizer.h"
#include "thread.h"

static uint64_t next_fiber_id = 1;

/* Every switch lands here on the side being resumed; `from` is the context
 * that is now running again, possibly on another OS thread than before. */
static void *switch_to(struct fbr_fiber *from, struct fbr_fiber *to, void *value)
{
    fbr__sanitizer_before_switch(from, to, false);
    void *received = fbr__context_switch(&from->sp, to->sp, value);
    fbr__sanitizer_after_switch(from);
    /* Only now: until the switch had saved `from`'s registers on its own
     * stack, a fault there still had to be attributed to `from`. */
    fbr__thread_peek()->current = from;
    return received;
}

__attribute__((noreturn)) static void finish(struct fbr_fiber *self, void *result)
{
    self->result = result;
    self->state = FBR_FIBER_FINISHED;
    struct fbr_fiber *to = self->resumer;
    fbr__sanitizer_before_switch(self, to, true);
    fbr__context_switch(&self->sp, to->sp, NULL);
    __builtin_trap(); /* nothing ever switches back to a finished fiber */
}

static void fiber_entry(void *arg, void *first_value)
{
    (void)first_value;
    struct fbr_fiber *self = arg;
    fbr__sanitizer_first_entry();
    fbr__thread_peek()->current = self;
    finish(self, self->fn(self->arg));
}

static bool is_fiber(const struct fbr_fiber *f)
{
    return f != NULL && f->magic == FBR__FIBER_MAGIC && !f->is_root;
}

int fbr_fiber_create(fbr_fiber **out, fbr_fiber_fn fn, void *arg, const fbr_fiber_options *opts)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_create: out is NULL");
    *out = NULL;
    if (fn == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_create: fn is NULL");
    size_t max = opts && opts->stack_max ? opts->stack_max : FBR_STACK_DEFAULT_MAX;
    size_t initial = opts && opts->stack_initial ? opts->stack_initial : FBR_STACK_DEFAULT_INITIAL;
    if (max < FBR_STACK_MIN || max > FBR_STACK_LIMIT)
        return fbr__fail(FBR_EINVAL, "stack_max of %zu bytes is outside the accepted range [%zu, %zu]", max,
                         (size_t)FBR_STACK_MIN, (size_t)FBR_STACK_LIMIT);
    int rc = fbr__runtime_ready();
    if (rc != FBR_OK)
        return rc;
    size_t page = fbr__settings.page_size;
    size_t limit = fbr__round_up(max, page);
    initial = initial > limit || fbr__settings.commit_full_stacks ? limit : fbr__round_up(initial, page);

    struct fbr_fiber *f = calloc(1, sizeof *f);
    if (f == NULL)
        return fbr__fail(FBR_ENOMEM, "out of memory for a fiber record");
    rc = fbr__stack_acquire(limit, initial, &f->stack);
    if (rc != FBR_OK) {
        free(f);
        return rc;
    }
    f->fn = fn;
    f->arg = arg;
    f->id = __atomic_fetch_add(&next_fiber_id, 1, __ATOMIC_RELAXED);
    f->magic = FBR__FIBER_MAGIC;
    f->state = FBR_FIBER_CREATED;
    if (opts && opts->name) {
        strncpy(f->name, opts->name, sizeof f->name - 1);
        f->name[sizeof f->name - 1] = '\0';
    }
    f->sp = fbr__context_prepare(f->stack->top, fiber_entry, f);
    fbr__sanitizer_fiber_created(f);
    FBR__COUNT_ADD(fibers_created, 1);
    *out = f;
    return FBR_OK;
}

static void release_stack(struct fbr_fiber *f)
{
    fbr__sanitizer_fiber_destroyed(f);
    fbr__stack_release(f->stack);
    f->stack = NULL;
}

int fbr_fiber_resume(fbr_fiber *f, void *in, void **out)
{
    if (!is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_resume: not a live fiber");
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
    void *received = switch_to(self, f, in);
    if (f->state == FBR_FIBER_FINISHED) {
        release_stack(f);
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
    void *received = switch_to(self, self->resumer, out);
    if (in)
        *in = received;
    return FBR_OK;
}

int fbr_fiber_destroy(fbr_fiber *f)
{
    if (!is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_destroy: not a live fiber");
    if (f->state == FBR_FIBER_RUNNING)
        return fbr__fail(FBR_ERUNNING, "fiber %llu is running; only a suspended or finished fiber can be destroyed",
                         (unsigned long long)f->id);
    if (f->stack)
        release_stack(f);
    f->magic = 0;
    free(f);
    return FBR_OK;
}

fbr_fiber *fbr_fiber_self(void)
{
    struct fbr__thread *t = fbr__thread_peek();
    return t != NULL && t->current != &t->root ? t->current : NULL;
}

uint64_t fbr_fiber_id(const fbr_fiber *f)
{
    return is_fiber(f) ? f->id : 0;
}

const char *fbr_fiber_name(const fbr_fiber *f)
{
    return is_fiber(f) ? f->name : "";
}

int fbr_fiber_status(const fbr_fiber *f)
{
    if (!is_fiber(f))
        return fbr__fail(FBR_EINVAL, "fbr_fiber_status: not a live fiber");
    return f->state;
}

int fbr_fiber_stack_stats(const fbr_fiber *f, fbr_stack_stats *out)
{
    if (!is_fiber(f) || out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_fiber_stack_stats: NULL or dead fiber, or NULL out");
    if (f->stack == NULL)
        return fbr__fail(FBR_EFINISHED, "fiber %llu has finished and released its stack",
                         (unsigned long long)f->id);
    fbr__stack_stats(f->stack, out);
    return FBR_OK;
}
