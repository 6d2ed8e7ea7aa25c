/* Runs a generator fiber through the installed headers and library. */
#include <fiberrt.h>
#include <stdio.h>

static void *count_to(void *arg)
{
    for (long i = 1; i <= (long)arg; i++)
        fbr_fiber_yield((void *)i, NULL);
    return (void *)-1L;
}

int main(void)
{
    fbr_fiber *f;
    void *v;
    long sum = 0;
    if (fbr_fiber_create(&f, count_to, (void *)10, NULL) < 0) {
        fprintf(stderr, "%s\n", fbr_last_error());
        return 1;
    }
    while (fbr_fiber_resume(f, NULL, &v) == FBR_YIELDED)
        sum += (long)v;
    fbr_fiber_destroy(f);
    printf("fiberrt %s: sum %ld\n", fbr_version_string(), sum);
    return sum == 55 && (long)v == -1 ? 0 : 1;
}
