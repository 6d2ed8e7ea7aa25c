#include <pthread.h>

#include "sanitizer.h"

void fbr__sanitizer_thread_init(struct fbr__thread *thread)
{
#if defined(FBR__ASAN)
    /* ASan must know the bounds of the stack it switches back to. */
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            thread->root.sanitizer.stack_bottom = addr;
            thread->root.sanitizer.stack_size = size;
        }
        pthread_attr_destroy(&attr);
    }
#endif
#if defined(FBR__TSAN)
    thread->root.sanitizer.tsan_fiber = __tsan_get_current_fiber();
#endif
    (void)thread;
}

void fbr__sanitizer_thread_exit(struct fbr__thread *thread)
{
    (void)thread;
}
