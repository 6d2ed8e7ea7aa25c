using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/version.h
    internal const int FBR_VERSION_MAJOR = 0;
    internal const int FBR_VERSION_MINOR = 1;
    internal const int FBR_VERSION_PATCH = 0;

    [LibraryImport(Library, EntryPoint = "fbr_version")]
    internal static partial int fbr_version();

    [LibraryImport(Library, EntryPoint = "fbr_version_string")]
    internal static partial nint fbr_version_string();

    // fiberrt/runtime.h
    internal const int FBR_EXIT_STACK_OVERFLOW = 86;
    internal const int FBR_STACK_MODE_AUTO = 0;
    internal const int FBR_STACK_MODE_GUARD_MARKERS = 1;
    internal const int FBR_STACK_MODE_MPROTECT = 2;

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_runtime_config
    {
        public int stack_mode;
        public nuint stack_guard_size;
        public nuint pool_keep_committed;
        public nuint pool_max_cached;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_runtime_stats
    {
        public int stack_mode;
        public ulong stacks_in_use;
        public ulong stacks_cached;
        public ulong bytes_reserved;
        public ulong bytes_committed;
        public ulong growth_faults;
        public ulong stack_regions;
        public ulong fibers_created;
    }

    [LibraryImport(Library, EntryPoint = "fbr_runtime_configure")]
    internal static unsafe partial int fbr_runtime_configure(fbr_runtime_config* config);

    [LibraryImport(Library, EntryPoint = "fbr_runtime_init")]
    internal static partial int fbr_runtime_init();

    [LibraryImport(Library, EntryPoint = "fbr_stack_mode_active")]
    internal static partial int fbr_stack_mode_active();

    [LibraryImport(Library, EntryPoint = "fbr_stack_mode_name")]
    internal static partial nint fbr_stack_mode_name(int mode);

    [LibraryImport(Library, EntryPoint = "fbr_thread_prepare")]
    internal static partial int fbr_thread_prepare();

    [LibraryImport(Library, EntryPoint = "fbr_runtime_stats_get")]
    internal static unsafe partial int fbr_runtime_stats_get(fbr_runtime_stats* stats);

    // fiberrt/time.h
    internal const long FBR_NO_DEADLINE = long.MaxValue;

    [LibraryImport(Library, EntryPoint = "fbr_now")]
    [SuppressGCTransition] // reads the monotonic clock through the vDSO: no syscall, no blocking
    internal static partial long fbr_now();

    [LibraryImport(Library, EntryPoint = "fbr_deadline_in")]
    [SuppressGCTransition]
    internal static partial long fbr_deadline_in(long ns);
}
