using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/io.h
    internal const int FBR_IO_READABLE = 1;
    internal const int FBR_IO_WRITABLE = 2;
    internal const int FBR_ESYS_BASE = -1000;

    [LibraryImport(Library, EntryPoint = "fbr_io_open")]
    internal static unsafe partial int fbr_io_open(nint* io, int fd);

    [LibraryImport(Library, EntryPoint = "fbr_io_listen_tcp", StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int fbr_io_listen_tcp(nint* io, string? host, ushort port, int backlog);

    [LibraryImport(Library, EntryPoint = "fbr_io_connect_tcp", StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int fbr_io_connect_tcp(nint* io, string host, ushort port, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_io_local_port")]
    internal static partial int fbr_io_local_port(nint io);

    [LibraryImport(Library, EntryPoint = "fbr_io_fd")]
    internal static partial int fbr_io_fd(nint io);

    [LibraryImport(Library, EntryPoint = "fbr_io_close")]
    internal static partial int fbr_io_close(nint io);

    [LibraryImport(Library, EntryPoint = "fbr_io_cancel")]
    internal static partial int fbr_io_cancel(nint io);

    [LibraryImport(Library, EntryPoint = "fbr_io_wait")]
    internal static partial int fbr_io_wait(nint io, int events, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_io_read")]
    internal static unsafe partial nint fbr_io_read(nint io, byte* buffer, nuint length, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_io_write")]
    internal static unsafe partial nint fbr_io_write(nint io, byte* buffer, nuint length, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_io_try_read")]
    internal static unsafe partial nint fbr_io_try_read(nint io, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "fbr_io_try_write")]
    internal static unsafe partial nint fbr_io_try_write(nint io, byte* buffer, nuint length);

    [LibraryImport(Library, EntryPoint = "fbr_io_accept")]
    internal static unsafe partial int fbr_io_accept(nint listener, nint* io, void* address, uint* addressLength, long deadline);

    [LibraryImport(Library, EntryPoint = "fbr_blocking_call")]
    internal static unsafe partial int fbr_blocking_call(delegate* unmanaged<nint, nint> fn, nint argument, nint* result);

    [LibraryImport(Library, EntryPoint = "fbr_io_shutdown")]
    internal static partial int fbr_io_shutdown(nint io, int how);
}
