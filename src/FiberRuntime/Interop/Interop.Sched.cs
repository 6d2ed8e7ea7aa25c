using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/sched.h
    internal const int FBR_SCHED_MAX_WORKERS = 1024;

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct fbr_sched_options
    {
        public uint workers;
        public delegate* unmanaged<nint, uint, void> worker_main; // NULL: the built-in loop
        public nint worker_context;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct fbr_fiber_info
    {
        public ulong id;
        public fixed byte name[FBR_FIBER_NAME_MAX];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_spawn_options
    {
        public nuint stack_max;
        public nuint stack_initial;
        public nint name; // const char *, copied by fbr_spawn
        public int pinned;
        public int hosted;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_worker_stats
    {
        public ulong runs;
        public ulong steals;
        public ulong parks;
        public ulong runnable;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_sched_stats
    {
        public uint workers;
        public ulong live_fibers;
        public ulong spawned;
        public ulong finished;
    }

    [LibraryImport(Library, EntryPoint = "fbr_sched_create")]
    internal static unsafe partial int fbr_sched_create(nint* scheduler, fbr_sched_options* options);

    [LibraryImport(Library, EntryPoint = "fbr_sched_shutdown")]
    internal static unsafe partial int fbr_sched_shutdown(nint scheduler, long deadline, fbr_fiber_info* stillRunning,
                                                          nuint capacity, nuint* count);

    [LibraryImport(Library, EntryPoint = "fbr_sched_destroy")]
    internal static partial int fbr_sched_destroy(nint scheduler);

    [LibraryImport(Library, EntryPoint = "fbr_spawn")]
    internal static unsafe partial int fbr_spawn(nint scheduler, nint* fiber, delegate* unmanaged<nint, nint> entry,
                                                 nint arg, fbr_spawn_options* options);

    [LibraryImport(Library, EntryPoint = "fbr_join")]
    internal static unsafe partial int fbr_join(nint fiber, nint* result);

    [LibraryImport(Library, EntryPoint = "fbr_join_until")]
    internal static unsafe partial int fbr_join_until(nint fiber, nint* result, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_detach")]
    internal static partial int fbr_detach(nint fiber);

    [LibraryImport(Library, EntryPoint = "fbr_sleep_until")]
    internal static partial int fbr_sleep_until(long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_worker_run")]
    internal static unsafe partial int fbr_worker_run(nint* hosted);

    [LibraryImport(Library, EntryPoint = "fbr_yield_hosted")]
    internal static partial int fbr_yield_hosted();

    [LibraryImport(Library, EntryPoint = "fbr_worker_resume_next")]
    internal static unsafe partial int fbr_worker_resume_next(nint hosted, nint* next);

    // One thread-local read in C: no GC transition needed (it neither blocks nor calls back).
    [LibraryImport(Library, EntryPoint = "fbr_worker_hosted_current")]
    [SuppressGCTransition]
    internal static partial int fbr_worker_hosted_current();

    [LibraryImport(Library, EntryPoint = "fbr_sched_current")]
    internal static partial nint fbr_sched_current();

    [LibraryImport(Library, EntryPoint = "fbr_worker_current")]
    internal static partial int fbr_worker_current();

    [LibraryImport(Library, EntryPoint = "fbr_sched_stats_get")]
    internal static unsafe partial int fbr_sched_stats_get(nint scheduler, fbr_sched_stats* stats,
                                                           fbr_worker_stats* perWorker, nuint capacity);
}
