/*
 * The fiber-aware mutex's layout, shared with the condition variable, which
 * releases and re-takes it around a wait.
 */
#ifndef FBR_SYNC_INTERNAL_H
#define FBR_SYNC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "lock.h"
#include "wait.h"

struct fbr_mutex {
    fbr__lock lock;
    uint32_t magic;
    bool locked;
    fbr__wait_queue waiters;
};

#endif
