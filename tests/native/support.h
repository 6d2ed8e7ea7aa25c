/*
 * What several native tests need: running a piece of a test in a child
 * process (for deliberate crashes), and reading the process's memory
 * figures from /proc.
 */
#ifndef FBR_TEST_SUPPORT_H
#define FBR_TEST_SUPPORT_H

#include <stddef.h>

struct child_outcome {
    int exit_code;   /* -1 if killed by a signal */
    int signal;      /* 0 if it exited */
    char stderr_text[8192];
};

/* Runs fn(arg) in a forked child that then exits 0; captures its stderr. */
void run_in_child(void (*fn)(void *), void *arg, struct child_outcome *out);

/* Lines in /proc/self/maps: the number of memory mappings. */
long count_mappings(void);

/* A field of /proc/self/status in KiB ("VmRSS", "VmPTE"), or -1. */
long status_kib(const char *field);

/* True when built with AddressSanitizer or ThreadSanitizer. */
int built_with_sanitizer(void);

#endif
