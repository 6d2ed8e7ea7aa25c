#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "fiberrt/fiber.h"
#include "fiberrt/version.h"
#include "runtime_internal.h"
#include "vmem.h"

#if defined(FBR_WITH_VALGRIND)
#include <valgrind/valgrind.h>
#define FBR__UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#else
#define FBR__UNDER_VALGRIND() false
#endif

struct fbr__settings fbr__settings;

#define DEFAULT_GUARD_SIZE ((size_t)64 << 10)
#define DEFAULT_KEEP_COMMITTED ((size_t)64 << 10)
#define DEFAULT_MAX_CACHED 65536
/* Sizes past these are mistakes, not wishes. */
#define GUARD_SIZE_LIMIT ((size_t)64 << 20)
#define MAX_CACHED_LIMIT ((size_t)1 << 24)

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static fbr_runtime_config requested;
static int init_result = 1; /* 1: not yet initialised */
static bool ready;

int fbr_version(void)
{
    return FBR_VERSION;
}

const char *fbr_version_string(void)
{
#define FBR__STR2(x) #x
#define FBR__STR(x) FBR__STR2(x)
    return FBR__STR(FBR_VERSION_MAJOR) "." FBR__STR(FBR_VERSION_MINOR) "." FBR__STR(FBR_VERSION_PATCH);
}

const char *fbr_stack_mode_name(fbr_stack_mode mode)
{
    switch (mode) {
    case FBR_STACK_MODE_AUTO: return "auto";
    case FBR_STACK_MODE_GUARD_MARKERS: return "guard-markers";
    case FBR_STACK_MODE_MPROTECT: return "mprotect";
    default: return "unknown";
    }
}

static int validate(const fbr_runtime_config *c)
{
    if (c->stack_mode != FBR_STACK_MODE_AUTO && c->stack_mode != FBR_STACK_MODE_GUARD_MARKERS &&
        c->stack_mode != FBR_STACK_MODE_MPROTECT)
        return fbr__fail(FBR_EINVAL, "unknown stack mode %d", (int)c->stack_mode);
    if (c->stack_guard_size > GUARD_SIZE_LIMIT)
        return fbr__fail(FBR_EINVAL, "stack_guard_size of %zu bytes exceeds the %zu-byte limit",
                         c->stack_guard_size, GUARD_SIZE_LIMIT);
    if (c->pool_keep_committed > FBR_STACK_LIMIT)
        return fbr__fail(FBR_EINVAL, "pool_keep_committed of %zu bytes exceeds the largest stack (%zu)",
                         c->pool_keep_committed, FBR_STACK_LIMIT);
    if (c->pool_max_cached > MAX_CACHED_LIMIT)
        return fbr__fail(FBR_EINVAL, "pool_max_cached of %zu exceeds the limit of %zu", c->pool_max_cached,
                         MAX_CACHED_LIMIT);
    if (c->stack_mode == FBR_STACK_MODE_GUARD_MARKERS && !fbr__vm_guard_markers_work())
        return fbr__fail(FBR_ENOTSUP, "this kernel has no working MADV_GUARD_INSTALL (Linux 6.13 or later needed)");
    return FBR_OK;
}

int fbr_runtime_configure(const fbr_runtime_config *config)
{
    if (config == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_runtime_configure: config is NULL");
    pthread_mutex_lock(&init_lock);
    int rc = init_result != 1 ? fbr__fail(FBR_EBUSY, "the runtime is already initialised; configure it before "
                                                     "creating the first fiber")
                              : validate(config);
    if (rc == FBR_OK)
        requested = *config;
    pthread_mutex_unlock(&init_lock);
    return rc;
}

static fbr_stack_mode choose_mode(fbr_stack_mode wanted)
{
    if (wanted == FBR_STACK_MODE_AUTO) {
        const char *env = getenv("FBR_STACK_MODE");
        if (env != NULL && strcmp(env, "mprotect") == 0)
            wanted = FBR_STACK_MODE_MPROTECT;
        else if (env != NULL && strcmp(env, "guard") == 0)
            wanted = FBR_STACK_MODE_GUARD_MARKERS;
    }
    if (wanted != FBR_STACK_MODE_AUTO)
        return wanted;
    /* Strict overcommit charges a read-write reservation in full, which is
     * what guard markers need; PROT_NONE reservations are free there. */
    if (fbr__vm_overcommit_policy() == 2 || !fbr__vm_guard_markers_work())
        return FBR_STACK_MODE_MPROTECT;
    return FBR_STACK_MODE_GUARD_MARKERS;
}

static int initialise(void)
{
    if (fbr__shadow_stack_active())
        return fbr__fail(FBR_ESHADOWSTACK,
                         "hardware shadow stacks (Intel CET / Arm GCS) are enabled for this process; fiber "
                         "switches would be refused by the CPU. Run without them (e.g. GLIBC_TUNABLES="
                         "glibc.cpu.x86_shstk=off)");
    struct fbr__settings s;
    memset(&s, 0, sizeof s);
    s.page_size = fbr__page_size();
    s.stack_mode = choose_mode(requested.stack_mode);
    if (s.stack_mode == FBR_STACK_MODE_GUARD_MARKERS && requested.stack_mode == FBR_STACK_MODE_AUTO &&
        !fbr__vm_guard_markers_work())
        return fbr__fail(FBR_ENOTSUP, "FBR_STACK_MODE=guard, but this kernel has no working MADV_GUARD_INSTALL");
    s.guard_size = fbr__round_up(requested.stack_guard_size ? requested.stack_guard_size : DEFAULT_GUARD_SIZE,
                                 s.page_size);
    s.keep_committed = fbr__round_up(
        requested.pool_keep_committed ? requested.pool_keep_committed : DEFAULT_KEEP_COMMITTED, s.page_size);
    s.max_cached = requested.pool_max_cached ? requested.pool_max_cached : DEFAULT_MAX_CACHED;
    const char *action = getenv("FBR_ON_STACK_OVERFLOW");
    s.abort_on_overflow = action != NULL && strcmp(action, "abort") == 0;
    s.commit_full_stacks = FBR__UNDER_VALGRIND();
    fbr__settings = s;
    return fbr__fault_handler_install();
}

int fbr__runtime_ready(void)
{
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return FBR_OK;
    return fbr_runtime_init();
}

int fbr_runtime_init(void)
{
    if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
        return FBR_OK;
    pthread_mutex_lock(&init_lock);
    /* A failure (shadow stacks, no memory) is not cached: the caller may fix
     * the cause and try again. */
    int rc = ready ? FBR_OK : initialise();
    if (rc == FBR_OK && !ready) {
        init_result = FBR_OK;
        __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

fbr_stack_mode fbr_stack_mode_active(void)
{
    return __atomic_load_n(&ready, __ATOMIC_ACQUIRE) ? fbr__settings.stack_mode : FBR_STACK_MODE_AUTO;
}

int fbr_runtime_stats_get(fbr_runtime_stats *out)
{
    if (out == NULL)
        return fbr__fail(FBR_EINVAL, "fbr_runtime_stats_get: out is NULL");
    out->stack_mode = fbr_stack_mode_active();
    struct fbr__counters c;
    fbr__counters_sum(&c);
#define FBR__READ(field) out->field = c.field
    FBR__READ(stacks_in_use);
    FBR__READ(stacks_cached);
    FBR__READ(bytes_reserved);
    FBR__READ(bytes_committed);
    FBR__READ(growth_faults);
    FBR__READ(stack_regions);
    FBR__READ(fibers_created);
#undef FBR__READ
    return FBR_OK;
}
