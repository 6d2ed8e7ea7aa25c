#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error_internal.h"
#include "sanitizer_state.h"
#include "vmem.h"

size_t fbr__page_size(void)
{
    static size_t cached;
    size_t page = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (page == 0) {
        long value = sysconf(_SC_PAGESIZE);
        page = value > 0 ? (size_t)value : 4096;
        __atomic_store_n(&cached, page, __ATOMIC_RELAXED);
    }
    return page;
}

bool fbr__vm_guard_markers_work(void)
{
    size_t page = fbr__page_size();
    char *probe = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return false;
    bool works = false;
    if (madvise(probe, page, MADV_GUARD_INSTALL) == 0) {
        /* A guarded page makes the kernel's copy from user memory fail with
         * EFAULT, which tells us without taking a signal. */
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) == 0) {
            works = write(fds[1], probe, 1) < 0 && errno == EFAULT;
            close(fds[0]);
            close(fds[1]);
        }
    }
    munmap(probe, page);
    return works;
}

static long read_proc_number(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    long value = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        value = value * 10 + (buf[i] - '0');
    return value;
}

int fbr__vm_overcommit_policy(void)
{
    return (int)read_proc_number("/proc/sys/vm/overcommit_memory");
}

static long count_mappings(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

int fbr__vm_fail(int err, const char *what, size_t bytes)
{
    if (err == ENOMEM) {
        long limit = read_proc_number("/proc/sys/vm/max_map_count");
        long maps = count_mappings();
        /* The kernel says ENOMEM for both; a map count at the limit means
         * mappings, not memory, ran out. The margin covers mappings this
         * process cannot see in its own maps file (an emulator's, under
         * qemu-user). */
        if (limit > 0 && maps >= 0 && maps + limit / 64 >= limit)
            return fbr__fail(FBR_EMAPLIMIT,
                             "%s of %zu bytes failed: the process has %ld memory mappings and "
                             "vm.max_map_count is %ld (raise it with sysctl vm.max_map_count=N)",
                             what, bytes, maps, limit);
        /* The maps file could not be read, which itself hints at exhausted
         * mappings; without strict overcommit, the other source of ENOMEM
         * here, that is the likely cause. */
        if (limit > 0 && maps < 0 && fbr__vm_overcommit_policy() != 2)
            return fbr__fail(FBR_EMAPLIMIT,
                             "%s of %zu bytes failed: memory mappings are probably exhausted "
                             "(vm.max_map_count is %ld; raise it with sysctl vm.max_map_count=N)",
                             what, bytes, limit);
        return fbr__fail(FBR_ENOMEM, "%s of %zu bytes failed: out of memory (or commit limit reached)", what,
                         bytes);
    }
    return fbr__fail(FBR_ESYSTEM, "%s of %zu bytes failed: %s", what, bytes, strerror(err));
}

/* Where stack reservations are asked to go: from 16 TiB up, while worker
 * threads get stacks from 64 TiB up (fbr__vm_worker_stack), so fiber stacks
 * lie below their workers' stacks. CoreCLR assumes a managed frame below the
 * thread's stack base is on that thread's stack; a fiber stack above it
 * crashes the runtime (facts, section 4). The system's own thread stacks are
 * not enough to rely on: natively they sit near the top of the address
 * space, but under qemu-user they sit at a few hundred GiB, below 16 TiB
 * (which crashed CoreCLR on arm64 whenever a C# fiber threw after a GC). The
 * kernel takes a hint only if the range is free and otherwise places the
 * mapping as usual. Sanitizers have their own memory layouts
 * (ThreadSanitizer dies on a mapping outside its application ranges), so
 * they get no hint. */
#if defined(FBR__ASAN) || defined(FBR__TSAN) || UINTPTR_MAX <= 0xFFFFFFFFu
#define STACK_HINT_START 0
#define WORKER_STACK_HINT_START 0
#else
#define STACK_HINT_START ((uintptr_t)1 << 44)        /* 16 TiB */
#define WORKER_STACK_HINT_START ((uintptr_t)1 << 46) /* 64 TiB */
#endif
static uintptr_t next_stack_hint = STACK_HINT_START;               /* atomic */
static uintptr_t next_worker_stack_hint = WORKER_STACK_HINT_START; /* atomic */

static void *stack_hint(size_t bytes)
{
    if (STACK_HINT_START == 0)
        return NULL;
    return (void *)__atomic_fetch_add(&next_stack_hint, bytes, __ATOMIC_RELAXED);
}

int fbr__vm_reserve(fbr_stack_mode mode, size_t bytes, void **out)
{
    /* Guard markers need the reservation read-write; they then make the
     * uncommitted parts fault. MAP_NORESERVE keeps the kernel from charging
     * the whole reservation (except under strict overcommit, where AUTO
     * picks MPROTECT instead). */
    int prot = mode == FBR_STACK_MODE_GUARD_MARKERS ? PROT_READ | PROT_WRITE : PROT_NONE;
    void *p = mmap(stack_hint(bytes), bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return fbr__vm_fail(errno, "reserving stack address space", bytes);
    *out = p;
    return FBR_OK;
}

void fbr__vm_release(void *base, size_t bytes)
{
    munmap(base, bytes);
}

void *fbr__vm_worker_stack(size_t bytes)
{
    if (WORKER_STACK_HINT_START == 0)
        return NULL;
    size_t page = fbr__page_size();
    size_t total = bytes + page;
    void *hint = (void *)__atomic_fetch_add(&next_worker_stack_hint, total, __ATOMIC_RELAXED);
    char *p = mmap(hint, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1,
                   0);
    if (p == MAP_FAILED)
        return NULL;
    if ((uintptr_t)p < __atomic_load_n(&next_stack_hint, __ATOMIC_RELAXED) || mprotect(p, page, PROT_NONE) != 0) {
        /* Placed below the fiber stacks after all: no better than the
         * system's stack, so let the thread have that. */
        munmap(p, total);
        return NULL;
    }
    return p + page;
}

void fbr__vm_worker_stack_free(void *stack, size_t bytes)
{
    size_t page = fbr__page_size();
    munmap((char *)stack - page, bytes + page);
}

int fbr__vm_commit(fbr_stack_mode mode, void *addr, size_t bytes)
{
    int rc = mode == FBR_STACK_MODE_GUARD_MARKERS ? madvise(addr, bytes, MADV_GUARD_REMOVE)
                                                  : mprotect(addr, bytes, PROT_READ | PROT_WRITE);
    return rc == 0 ? 0 : errno;
}

int fbr__vm_decommit(fbr_stack_mode mode, void *addr, size_t bytes)
{
    if (mode == FBR_STACK_MODE_GUARD_MARKERS) {
        /* Installing markers over populated pages discards them first. */
        if (madvise(addr, bytes, MADV_GUARD_INSTALL) != 0)
            return fbr__vm_fail(errno, "installing stack guard markers", bytes);
        return FBR_OK;
    }
    /* A fresh PROT_NONE mapping over the range frees the pages and, unlike
     * mprotect(PROT_NONE), also returns their commit charge; it merges with
     * the PROT_NONE neighbours instead of adding mappings. */
    void *p = mmap(addr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return fbr__vm_fail(errno, "decommitting stack memory", bytes);
    return FBR_OK;
}
