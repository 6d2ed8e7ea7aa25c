using System;
using System.Globalization;
using System.IO;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace FiberRuntime;

/// <summary>
/// The one place where libfiberrt's negative error codes become .NET exceptions.
/// Every exception carries the C library's message for the failed call and the
/// code itself under <see cref="ErrorCodeKey"/> in <see cref="Exception.Data"/>.
/// </summary>
public static class FiberErrors
{
    /// <summary>Key of the native error code (an <see cref="int"/>) in <see cref="Exception.Data"/>.</summary>
    public const string ErrorCodeKey = "FiberRuntime.ErrorCode";

    /// <summary>The short name of a native error code, for example <c>FBR_ECLOSED</c>.</summary>
    public static string Name(int code) => Marshal.PtrToStringUTF8(Interop.fbr_err_name(code)) ?? code.ToString(CultureInfo.InvariantCulture);

    /// <summary>The library's description of a native error code.</summary>
    public static string Describe(int code) => Marshal.PtrToStringUTF8(Interop.fbr_strerror(code)) ?? code.ToString(CultureInfo.InvariantCulture);

    /// <summary>Throws the exception for <paramref name="code"/> if it is an error (negative).</summary>
    internal static void ThrowIfFailed(int code, string? objectName = null)
    {
        if (code < 0)
            throw Create(code, objectName);
    }

    /// <summary>Maps a code to its exception; reads the calling thread's last C message, so call it right after the failed call.</summary>
    internal static Exception Create(int code, string? objectName = null, bool timeoutAsSocketError = false)
    {
        string message = LastMessage(code);
        if (code < Interop.FBR_ESYS_BASE)
            return Tagged(SystemError(Interop.FBR_ESYS_BASE - code, message), code);
        if (timeoutAsSocketError && code == Interop.FBR_ETIMEDOUT)
            return Tagged(new SocketException((int)SocketError.TimedOut, message), code);
#pragma warning disable CA2201 // OutOfMemoryException is what .NET code expects when memory runs out
        Exception exception = code switch
        {
            Interop.FBR_EINVAL => new ArgumentException(message),
            Interop.FBR_ENOMEM => new OutOfMemoryException(message),
            Interop.FBR_EMAPLIMIT => new InsufficientMemoryException(message),
            Interop.FBR_ECLOSED => new ChannelClosedException(message),
            Interop.FBR_ETIMEDOUT => new TimeoutException(message),
            Interop.FBR_ECANCELED => new OperationCanceledException(message),
            Interop.FBR_ESHUTDOWN => new ObjectDisposedException(objectName ?? nameof(FiberScheduler), message),
            Interop.FBR_ESHADOWSTACK or Interop.FBR_ENOTSUP => new PlatformNotSupportedException(message),
            Interop.FBR_ENOTFIBER or Interop.FBR_EFINISHED or Interop.FBR_ERUNNING or Interop.FBR_EBUSY
                or Interop.FBR_EDEADLK or Interop.FBR_EAGAIN => new InvalidOperationException(message),
            _ => new FiberRuntimeException(message),
        };
#pragma warning restore CA2201
        return Tagged(exception, code);
    }

    private static Exception Tagged(Exception exception, int code)
    {
        exception.Data[ErrorCodeKey] = code;
        return exception;
    }

    /// <summary>
    /// A failed system call (FBR_SYSERR(errno)): socket errors as the <see cref="SocketException"/> that
    /// System.Net.Sockets would throw, anything else as an <see cref="IOException"/> carrying the errno.
    /// Linux errno values; the same on x86-64 and ARM64.
    /// </summary>
    private static Exception SystemError(int errno, string message)
    {
        SocketError? socketError = errno switch
        {
            104 => SocketError.ConnectionReset,      // ECONNRESET
            32 => SocketError.Shutdown,              // EPIPE
            111 => SocketError.ConnectionRefused,    // ECONNREFUSED
            103 => SocketError.ConnectionAborted,    // ECONNABORTED
            110 => SocketError.TimedOut,             // ETIMEDOUT
            98 => SocketError.AddressAlreadyInUse,   // EADDRINUSE
            99 => SocketError.AddressNotAvailable,   // EADDRNOTAVAIL
            107 => SocketError.NotConnected,         // ENOTCONN
            106 => SocketError.IsConnected,          // EISCONN
            113 => SocketError.HostUnreachable,      // EHOSTUNREACH
            101 => SocketError.NetworkUnreachable,   // ENETUNREACH
            100 => SocketError.NetworkDown,          // ENETDOWN
            24 or 23 => SocketError.TooManyOpenSockets, // EMFILE, ENFILE
            13 => SocketError.AccessDenied,          // EACCES
            88 => SocketError.NotSocket,             // ENOTSOCK
            97 => SocketError.AddressFamilyNotSupported, // EAFNOSUPPORT
            105 => SocketError.NoBufferSpaceAvailable,   // ENOBUFS
            _ => null,
        };
        if (socketError is SocketError error)
            return new SocketException((int)error, message);
        return new IOException(message, errno);
    }

    private static string LastMessage(int code)
    {
        // A failure reported without a message (or through a callback, on another
        // thread) must not borrow an older failure's message.
        string? detail = Interop.fbr_last_error_code() == code ? Marshal.PtrToStringUTF8(Interop.fbr_last_error()) : null;
        string name = Name(code);
        return string.IsNullOrEmpty(detail) ? $"{Describe(code)} ({name})" : $"{detail} ({name})";
    }
}

/// <summary>A failure of the native runtime that no standard .NET exception describes (for example an unexpected system call failure).</summary>
public sealed class FiberRuntimeException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public FiberRuntimeException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public FiberRuntimeException(string message, Exception inner) : base(message, inner) { }

    /// <summary>Creates the exception.</summary>
    public FiberRuntimeException() { }
}
