/*
 * A minimal test harness for the native tests.
 *
 * A test file defines cases with FBR_TEST(name) and ends with
 * FBR_TEST_MAIN(); CMake finds the cases by scanning for FBR_TEST( and
 * registers each as its own CTest test, run in its own process, so that a
 * crash or a deliberate overflow only ever takes down one case.
 *
 *     FBR_TEST(resume_returns_yielded_value)
 *     {
 *         CHECK_EQ(fbr_fiber_resume(f, NULL, &out), FBR_YIELDED);
 *     }
 *     FBR_TEST_MAIN()
 */
#ifndef FBR_TEST_HARNESS_H
#define FBR_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fbr_test_case {
    const char *name;
    void (*run)(void);
};

#define FBR_TEST_MAX_CASES 128
/* Exit status of a skipped case (CTest's SKIP_RETURN_CODE). */
#define FBR_TEST_SKIPPED 77

/* Ends the case as skipped, saying why. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        printf("SKIP: ");                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
        exit(FBR_TEST_SKIPPED);                                                                    \
    } while (0)
extern struct fbr_test_case fbr_test_cases[FBR_TEST_MAX_CASES];
extern int fbr_test_case_count;

#define FBR_TEST(case_fn)                                                                          \
    static void case_fn(void);                                                                     \
    __attribute__((constructor)) static void register_##case_fn(void)                              \
    {                                                                                              \
        fbr_test_cases[fbr_test_case_count].name = #case_fn;                                       \
        fbr_test_cases[fbr_test_case_count++].run = case_fn;                                       \
    }                                                                                              \
    static void case_fn(void)

#define FBR_TEST_FAIL(...)                                                                         \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(1);                                                                                   \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FBR_TEST_FAIL("CHECK(%s) failed", #cond);                                              \
    } while (0)

#define CHECK_EQ(actual, expected)                                                                 \
    do {                                                                                           \
        long long fbr_a_ = (long long)(actual), fbr_e_ = (long long)(expected);                    \
        if (fbr_a_ != fbr_e_)                                                                      \
            FBR_TEST_FAIL("%s == %lld, expected %s == %lld", #actual, fbr_a_, #expected, fbr_e_);  \
    } while (0)

/* For calls into the runtime: shows the error's name and details. */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        int fbr_rc_ = (call);                                                                      \
        if (fbr_rc_ < 0)                                                                           \
            FBR_TEST_FAIL("%s failed: %s (%s)", #call, fbr_err_name(fbr_rc_), fbr_last_error());  \
    } while (0)

#define CHECK_STR_CONTAINS(haystack, needle)                                                       \
    do {                                                                                           \
        const char *fbr_h_ = (haystack);                                                           \
        if (fbr_h_ == NULL || strstr(fbr_h_, (needle)) == NULL)                                    \
            FBR_TEST_FAIL("\"%s\" does not contain \"%s\"", fbr_h_ ? fbr_h_ : "(null)", (needle));   \
    } while (0)

#define FBR_TEST_MAIN()                                                                            \
    struct fbr_test_case fbr_test_cases[FBR_TEST_MAX_CASES];                                       \
    int fbr_test_case_count;                                                                       \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        if (argc == 2 && strcmp(argv[1], "--list") == 0) {                                         \
            for (int i = 0; i < fbr_test_case_count; i++)                                          \
                printf("%s\n", fbr_test_cases[i].name);                                            \
            return 0;                                                                              \
        }                                                                                          \
        int ran = 0;                                                                               \
        for (int i = 0; i < fbr_test_case_count; i++) {                                            \
            if (argc >= 2 && strcmp(argv[1], fbr_test_cases[i].name) != 0)                         \
                continue;                                                                          \
            fbr_test_cases[i].run();                                                               \
            printf("ok %s\n", fbr_test_cases[i].name);                                             \
            ran++;                                                                                 \
        }                                                                                          \
        if (ran == 0) {                                                                            \
            /* Cases under #if for another architecture are still listed by CMake. */            \
            printf("SKIP: %s is not built for this architecture\n", argc >= 2 ? argv[1] : "");     \
            return FBR_TEST_SKIPPED;                                                               \
        }                                                                                          \
        return 0;                                                                                  \
    }

#endif
