using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FiberRuntime.Bench;

/// <summary>Direct calls into libfiberrt with raw pointers: the binding's floor, for comparison only.</summary>
internal static unsafe partial class RawNative
{
    private const string Library = "fiberrt";

    [LibraryImport(Library)]
    internal static partial nuint fbr_chan_cap(nint channel);

    // Safe for a call that neither blocks nor calls back: it only reads a field.
    [LibraryImport(Library, EntryPoint = "fbr_chan_cap"), SuppressGCTransition]
    internal static partial nuint fbr_chan_cap_no_transition(nint channel);

    [LibraryImport(Library)]
    internal static partial nuint fbr_chan_len(nint channel);

    [LibraryImport(Library)]
    internal static partial int fbr_chan_try_send(nint channel, void* elem);

    [LibraryImport(Library)]
    internal static partial int fbr_chan_try_recv(nint channel, void* elem);

    [LibraryImport(Library)]
    internal static partial int fbr_chan_recv_async(nint channel, void* elem, delegate* unmanaged<nint, int, nint, void> callback,
                                                    nint state, nint* op);

    [LibraryImport(Library)]
    internal static partial int fbr_chan_op_release(nint op);
}
