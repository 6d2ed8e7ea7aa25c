/*
 * Virtual memory for fiber stacks: reserving address space, and committing
 * or decommitting ranges of it in whichever way the active stack mode uses
 * (guard markers or mprotect; see fbr_stack_mode in fiberrt/runtime.h).
 */
#ifndef FBR_VMEM_H
#define FBR_VMEM_H

#include <stdbool.h>
#include <stddef.h>

#include "fiberrt/runtime.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

size_t fbr__page_size(void);

/* True when madvise(MADV_GUARD_INSTALL) really makes pages fault. Checked by
 * behaviour, not by the return code: emulators such as qemu-user accept
 * unknown madvise advice and do nothing. */
bool fbr__vm_guard_markers_work(void);

/* vm.overcommit_memory (0, 1 or 2), or -1 if it cannot be read. */
int fbr__vm_overcommit_policy(void);

/* Address space for stacks, entirely inaccessible until committed.
 * Returns 0 or an FBR_E* code with the details recorded. */
int fbr__vm_reserve(fbr_stack_mode mode, size_t bytes, void **out);
void fbr__vm_release(void *base, size_t bytes);

/* A stack for a scheduler's worker thread (usable bytes, with a guard page
 * below), placed above every fiber stack reservation; NULL where placement
 * cannot be chosen (sanitizer builds, 32-bit), and the thread then gets the
 * system's usual stack. See fbr__vm_reserve for why the order matters. */
void *fbr__vm_worker_stack(size_t bytes);
void fbr__vm_worker_stack_free(void *stack, size_t bytes);

/* Makes [addr, addr+bytes) accessible. Async-signal-safe: the growth handler
 * calls it. Returns 0 or the errno of the failing call. */
int fbr__vm_commit(fbr_stack_mode mode, void *addr, size_t bytes);

/* Gives [addr, addr+bytes) back to the system (contents are lost) and makes
 * it inaccessible again. Returns 0 or an FBR_E* code with details. */
int fbr__vm_decommit(fbr_stack_mode mode, void *addr, size_t bytes);

/* Turns the errno of a failed mmap/mprotect/madvise into an FBR_E* code,
 * telling vm.max_map_count exhaustion apart from lack of memory, and records
 * the details ("what" names the operation). */
int fbr__vm_fail(int err, const char *what, size_t bytes);

#endif
