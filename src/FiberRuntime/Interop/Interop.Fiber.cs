using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/fiber.h
    internal const ulong FBR_STACK_DEFAULT_MAX = 1UL << 20;
    internal const ulong FBR_STACK_DEFAULT_INITIAL = 16UL << 10;
    internal const ulong FBR_STACK_MIN = 16UL << 10;
    internal const ulong FBR_STACK_LIMIT = 16UL << 30;
    internal const int FBR_FIBER_NAME_MAX = 32;
    internal const int FBR_YIELDED = 0;
    internal const int FBR_FINISHED = 1;
    internal const int FBR_FIBER_CREATED = 0;
    internal const int FBR_FIBER_SUSPENDED = 1;
    internal const int FBR_FIBER_RUNNING = 2;
    internal const int FBR_FIBER_FINISHED = 3;

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_stack_stats
    {
        public nuint limit;
        public nuint reserved;
        public nuint committed;
        public nuint high_water;
        public ulong growth_faults;
    }

    [LibraryImport(Library, EntryPoint = "fbr_fiber_self")]
    internal static partial nint fbr_fiber_self();

    [LibraryImport(Library, EntryPoint = "fbr_fiber_id")]
    internal static partial ulong fbr_fiber_id(nint fiber);

    [LibraryImport(Library, EntryPoint = "fbr_fiber_name")]
    internal static partial nint fbr_fiber_name(nint fiber);

    [LibraryImport(Library, EntryPoint = "fbr_fiber_status")]
    internal static partial int fbr_fiber_status(nint fiber);

    [LibraryImport(Library, EntryPoint = "fbr_fiber_stack_stats")]
    internal static unsafe partial int fbr_fiber_stack_stats(nint fiber, fbr_stack_stats* stats);
}
