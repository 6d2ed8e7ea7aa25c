using System.Runtime.InteropServices;

namespace FiberRuntime;

internal static partial class Interop
{
    // fiberrt/error.h
    internal const int FBR_OK = 0;
    internal const int FBR_EINVAL = -1;
    internal const int FBR_ENOMEM = -2;
    internal const int FBR_EMAPLIMIT = -3;
    internal const int FBR_ENOTFIBER = -4;
    internal const int FBR_EFINISHED = -5;
    internal const int FBR_ERUNNING = -6;
    internal const int FBR_ESHADOWSTACK = -7;
    internal const int FBR_EBUSY = -8;
    internal const int FBR_ENOTSUP = -9;
    internal const int FBR_ESYSTEM = -10;
    internal const int FBR_ECLOSED = -11;
    internal const int FBR_ETIMEDOUT = -12;
    internal const int FBR_EAGAIN = -13;
    internal const int FBR_EDEADLK = -14;
    internal const int FBR_ESHUTDOWN = -15;
    internal const int FBR_ECANCELED = -16;

    [LibraryImport(Library, EntryPoint = "fbr_strerror")]
    internal static partial nint fbr_strerror(int code);

    [LibraryImport(Library, EntryPoint = "fbr_err_name")]
    internal static partial nint fbr_err_name(int code);

    /// <summary>The calling thread's message for its last failed call (thread-local in C).</summary>
    [LibraryImport(Library, EntryPoint = "fbr_last_error")]
    internal static partial nint fbr_last_error();

    [LibraryImport(Library, EntryPoint = "fbr_last_error_code")]
    internal static partial int fbr_last_error_code();
}
