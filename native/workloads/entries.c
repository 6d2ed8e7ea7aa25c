/*
 * The one call through which C# learns every body's address: a function
 * pointer table works the same for the .so and the static library.
 */
#include "fbr_workloads.h"

void *fbrw__park(void *arg);
void *fbrw__dive(void *arg);
void *fbrw__ping_pong(void *arg);
void *fbrw__spawn_join(void *arg);
void *fbrw__churn(void *arg);
void *fbrw__overflow(void *arg);
void *fbrw__serve(void *arg);

FBRW_API void fbrw_entries(fbrw_entry_table *out)
{
    out->park = fbrw__park;
    out->dive = fbrw__dive;
    out->ping_pong = fbrw__ping_pong;
    out->spawn_join = fbrw__spawn_join;
    out->churn = fbrw__churn;
    out->overflow = fbrw__overflow;
    out->serve = fbrw__serve;
}
