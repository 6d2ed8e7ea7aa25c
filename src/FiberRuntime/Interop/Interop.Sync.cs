using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/sync.h (the wait group; mutex and condition are for fibers, not bound yet)
    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_create")]
    internal static unsafe partial int fbr_waitgroup_create(nint* waitGroup);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_destroy")]
    internal static partial int fbr_waitgroup_destroy(nint waitGroup);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_add")]
    internal static partial int fbr_waitgroup_add(nint waitGroup, long delta);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_done")]
    internal static partial int fbr_waitgroup_done(nint waitGroup);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_wait")]
    internal static partial int fbr_waitgroup_wait(nint waitGroup);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_wait_until")]
    internal static partial int fbr_waitgroup_wait_until(nint waitGroup, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_count")]
    internal static partial long fbr_waitgroup_count(nint waitGroup);
}
