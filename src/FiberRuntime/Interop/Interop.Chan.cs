using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/chan.h
    internal const ulong FBR_CHAN_MAX_ELEM_SIZE = 1UL << 16;
    internal const ulong FBR_CHAN_MAX_CAPACITY = 1UL << 30;
    internal const int FBR_SELECT_SEND = 1;
    internal const int FBR_SELECT_RECV = 2;
    internal const int FBR_SELECT_NONBLOCKING = 1;
    internal const int FBR_PENDING = 1;

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_select_case
    {
        public nint chan;
        public int op;
        public nint elem;
        public int result;
    }

    [LibraryImport(Library, EntryPoint = "fbr_chan_create")]
    internal static unsafe partial int fbr_chan_create(nint* channel, nuint elemSize, nuint capacity);

    [LibraryImport(Library, EntryPoint = "fbr_chan_destroy")]
    internal static partial int fbr_chan_destroy(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_check_destroy")]
    internal static partial int fbr_chan_check_destroy(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_send")]
    internal static unsafe partial int fbr_chan_send(nint channel, void* elem);

    [LibraryImport(Library, EntryPoint = "fbr_chan_send_until")]
    internal static unsafe partial int fbr_chan_send_until(nint channel, void* elem, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_chan_try_send")]
    internal static unsafe partial int fbr_chan_try_send(nint channel, void* elem);

    [LibraryImport(Library, EntryPoint = "fbr_chan_recv")]
    internal static unsafe partial int fbr_chan_recv(nint channel, void* elem);

    [LibraryImport(Library, EntryPoint = "fbr_chan_recv_until")]
    internal static unsafe partial int fbr_chan_recv_until(nint channel, void* elem, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_chan_try_recv")]
    internal static unsafe partial int fbr_chan_try_recv(nint channel, void* elem);

    [LibraryImport(Library, EntryPoint = "fbr_chan_close")]
    internal static partial int fbr_chan_close(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_len")]
    internal static partial nuint fbr_chan_len(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_cap")]
    internal static partial nuint fbr_chan_cap(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_elem_size")]
    internal static partial nuint fbr_chan_elem_size(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_is_closed")]
    internal static partial int fbr_chan_is_closed(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_select")]
    internal static unsafe partial int fbr_select(fbr_select_case* cases, nuint count, long deadline, int flags,
                                                  nuint* chosen);

    [LibraryImport(Library, EntryPoint = "fbr_chan_send_async")]
    internal static unsafe partial int fbr_chan_send_async(nint channel, void* elem,
                                                           delegate* unmanaged<nint, int, nint, void> callback,
                                                           nint state, nint* op);

    [LibraryImport(Library, EntryPoint = "fbr_chan_recv_async")]
    internal static unsafe partial int fbr_chan_recv_async(nint channel, void* elem,
                                                           delegate* unmanaged<nint, int, nint, void> callback,
                                                           nint state, nint* op);

    [LibraryImport(Library, EntryPoint = "fbr_chan_op_cancel")]
    internal static partial int fbr_chan_op_cancel(nint op);

    [LibraryImport(Library, EntryPoint = "fbr_chan_op_release")]
    internal static partial int fbr_chan_op_release(nint op);

    [LibraryImport(Library, EntryPoint = "fbr_select_async")]
    internal static unsafe partial int fbr_select_async(fbr_select_case* cases, nuint count,
                                                        delegate* unmanaged<nint, int, nuint, nint, void> callback,
                                                        nint state, nuint* chosen, nint* op);

    [LibraryImport(Library, EntryPoint = "fbr_select_async_cancel")]
    internal static partial int fbr_select_async_cancel(nint op);

    [LibraryImport(Library, EntryPoint = "fbr_select_async_release")]
    internal static partial int fbr_select_async_release(nint op);
}
