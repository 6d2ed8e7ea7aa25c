/*
 * Process figures the native demo and benchmarks print, read from /proc:
 * what a fiber costs in resident memory and in memory mappings.
 */
#ifndef FBR_PROC_FIGURES_H
#define FBR_PROC_FIGURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A "Field:  N kB" line of /proc/self/status, in KiB; -1 if absent. */
static inline long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long value = -1;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            value = strtol(line + len + 1, NULL, 10);
    if (f)
        fclose(f);
    return value;
}

/* Lines of /proc/self/maps: the process's memory mappings. */
static inline long count_mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long lines = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        lines += c == '\n';
    if (f)
        fclose(f);
    return lines;
}

#endif
