using System;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// A TCP socket whose blocking calls park the calling fiber instead of its worker: a server is one
/// straight-line fiber per connection. Called from a plain thread the same calls block the thread, like
/// <see cref="Socket"/>'s synchronous methods.
/// </summary>
/// <remarks>
/// From a C# fiber body, pass buffers as <c>byte[]</c> (with offset and count): while the fiber waits the
/// GC may move the array, so the socket waits first and only then pins the array for the non-blocking
/// system call. The <see cref="Span{T}"/> overloads are for threads. Keep the socket in the fiber's
/// state object, like every managed object that must outlive a suspension. Failures of the system calls
/// are <see cref="SocketException"/>s with the usual <see cref="SocketException.SocketErrorCode"/>; a
/// timeout is <see cref="SocketError.TimedOut"/>; an operation ended by <see cref="Dispose"/> throws
/// <see cref="ObjectDisposedException"/> and one ended by <see cref="Cancel"/>
/// <see cref="OperationCanceledException"/>.
/// </remarks>
/// <example>
/// <code>
/// sealed class Connection { public FiberSocket Socket = null!; public byte[] Buffer = new byte[4096]; }
///
/// static void Echo(ref Connection c)
/// {
///     int n;
///     while ((n = c.Socket.Receive(c.Buffer, 0, c.Buffer.Length)) > 0)   // parks this fiber only
///         c.Socket.Send(c.Buffer, 0, n);
///     c.Socket.Dispose();
/// }
/// </code>
/// </example>
public sealed class FiberSocket : IDisposable
{
    private readonly NativeHandle _handle;
    private int _disposed;

    private FiberSocket(nint io)
    {
        _handle = new NativeHandle(io, Interop.fbr_io_close);
    }

    /// <summary>Takes ownership of a native <c>fbr_io *</c> (for example one a native fiber accepted).</summary>
    public static FiberSocket FromNativeHandle(nint io)
    {
        if (io == 0)
            throw new ArgumentException("the handle is null", nameof(io));
        return new FiberSocket(io);
    }

    /// <summary>A socket listening on <paramref name="address"/>:<paramref name="port"/> (port 0: any free one, see <see cref="LocalPort"/>).</summary>
    public static unsafe FiberSocket ListenTcp(IPAddress address, int port, int backlog = 512)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        nint io;
        Check(Interop.fbr_io_listen_tcp(&io, address.ToString(), (ushort)port, backlog));
        return new FiberSocket(io);
    }

    /// <summary>Connects to <paramref name="address"/>:<paramref name="port"/>, waiting at most <paramref name="timeout"/>.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe FiberSocket ConnectTcp(IPAddress address, int port, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, ushort.MaxValue);
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        ManagedFibers.CheckMaySuspend();
        return ConnectCore(address.ToString(), (ushort)port, deadline);
    }

    /// <summary>Connects to <paramref name="address"/>:<paramref name="port"/>.</summary>
    [MaySuspend]
    public static FiberSocket ConnectTcp(IPAddress address, int port) => ConnectTcp(address, port, Timeout.InfiniteTimeSpan);

    // Only the host string is managed here, and it is dead once the native call has it: the marshaller
    // copies it into native memory before the call that may suspend.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe FiberSocket ConnectCore(string host, ushort port, long deadline)
    {
        nint io;
        Check(Interop.fbr_io_connect_tcp(&io, host, port, deadline));
        return new FiberSocket(io);
    }

    /// <summary>The port the socket is bound to.</summary>
    public int LocalPort
    {
        get
        {
            nint io = _handle.Enter(this);
            try { return Check(Interop.fbr_io_local_port(io)); }
            finally { _handle.Exit(); }
        }
    }

    /// <summary>The native <c>fbr_io *</c>, for native fibers; valid until this socket is disposed.</summary>
    public nint NativeHandle => _handle.IsClosed ? throw new ObjectDisposedException(nameof(FiberSocket)) : _handle.DangerousGetHandle();

    /// <summary>
    /// Hands the native <c>fbr_io *</c> over to native code (a native fiber that will serve and close the
    /// connection): this object no longer owns or closes it. Call it while no operation is in progress.
    /// </summary>
    public nint ReleaseNativeHandle()
    {
        nint io = _handle.Enter(this);
        _handle.Exit();
        ObjectDisposedException.ThrowIf(Interlocked.Exchange(ref _disposed, 1) != 0, this);
        _handle.SetHandleAsInvalid();
        return io;
    }

    /// <summary>The time limit of <see cref="Receive(byte[], int, int)"/> and the other calls without one.</summary>
    public TimeSpan ReceiveTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>The time limit of <see cref="Send(byte[], int, int)"/> and the other calls without one.</summary>
    public TimeSpan SendTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    // ---- accepting --------------------------------------------------------------------------------

    /// <summary>Waits for the next connection (within <see cref="ReceiveTimeout"/>).</summary>
    [MaySuspend]
    public FiberSocket Accept() => Accept(ReceiveTimeout);

    /// <summary>Waits at most <paramref name="timeout"/> for the next connection.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public FiberSocket Accept(TimeSpan timeout)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        ManagedFibers.CheckMaySuspend();
        // Nothing here may touch `this` after the wait: a C# fiber's frame is not updated if the GC moves it.
        return AcceptCore(new Revisit<FiberSocket>(this), _handle.Enter(this), deadline);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe FiberSocket AcceptCore(Revisit<FiberSocket> self, nint listener, long deadline)
    {
        nint io;
        int rc = Interop.fbr_io_accept(listener, &io, null, null, deadline);
        FiberSocket socket = self.Take();
        socket._handle.Exit();
        if (rc < 0)
            throw socket.Failure(rc);
        return new FiberSocket(io);
    }

    // ---- receiving --------------------------------------------------------------------------------

    /// <summary>Receives up to <paramref name="count"/> bytes into <paramref name="buffer"/>; 0 once the peer has closed its side.</summary>
    [MaySuspend]
    public int Receive(byte[] buffer, int offset, int count) => Receive(buffer, offset, count, ReceiveTimeout);

    /// <summary>Receives into all of <paramref name="buffer"/>.</summary>
    [MaySuspend]
    public int Receive(byte[] buffer) => Receive(buffer, 0, buffer?.Length ?? 0, ReceiveTimeout);

    /// <summary>Receives up to <paramref name="count"/> bytes, waiting at most <paramref name="timeout"/>.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public int Receive(byte[] buffer, int offset, int count, TimeSpan timeout)
    {
        CheckRange(buffer, offset, count);
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (!ManagedFibers.OnManagedFiber)
            return Receive(buffer.AsSpan(offset, count), deadline);
        long rc = TransferOnFiber(new Revisit<FiberSocket>(this), new Revisit<byte[]>(buffer), _handle.Enter(this),
                                  offset, count, deadline, Interop.FBR_IO_READABLE);
        return (int)rc;
    }

    /// <summary>Receives into <paramref name="buffer"/> from a thread (not a C# fiber: see the remarks).</summary>
    [MaySuspend]
    public int Receive(Span<byte> buffer) => Receive(buffer, Runtime.DeadlineAfter(ReceiveTimeout, nameof(ReceiveTimeout)));

    private unsafe int Receive(Span<byte> buffer, long deadline)
    {
        ThrowIfOnManagedFiber();
        nint io = _handle.Enter(this);
        try
        {
            fixed (byte* p = buffer)
            {
                nint rc = Interop.fbr_io_read(io, p, (nuint)buffer.Length, deadline);
                return rc < 0 ? throw Failure((int)rc) : (int)rc;
            }
        }
        finally { _handle.Exit(); }
    }

    private static void CheckRange(byte[] buffer, int offset, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, buffer.Length - offset);
    }

    // ---- sending ----------------------------------------------------------------------------------

    /// <summary>Sends all <paramref name="count"/> bytes, waiting for room as often as needed.</summary>
    [MaySuspend]
    public void Send(byte[] buffer, int offset, int count) => Send(buffer, offset, count, SendTimeout);

    /// <summary>Sends all of <paramref name="buffer"/>.</summary>
    [MaySuspend]
    public void Send(byte[] buffer) => Send(buffer, 0, buffer?.Length ?? 0, SendTimeout);

    /// <summary>Sends all <paramref name="count"/> bytes within <paramref name="timeout"/>.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Send(byte[] buffer, int offset, int count, TimeSpan timeout)
    {
        CheckRange(buffer, offset, count);
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (!ManagedFibers.OnManagedFiber)
        {
            Send(buffer.AsSpan(offset, count), deadline);
            return;
        }
        _ = TransferOnFiber(new Revisit<FiberSocket>(this), new Revisit<byte[]>(buffer), _handle.Enter(this),
                            offset, count, deadline, Interop.FBR_IO_WRITABLE);
    }

    /// <summary>Sends all of <paramref name="buffer"/> from a thread (not a C# fiber: see the remarks).</summary>
    [MaySuspend]
    public void Send(ReadOnlySpan<byte> buffer) => Send(buffer, Runtime.DeadlineAfter(SendTimeout, nameof(SendTimeout)));

    private unsafe void Send(ReadOnlySpan<byte> buffer, long deadline)
    {
        ThrowIfOnManagedFiber();
        nint io = _handle.Enter(this);
        try
        {
            fixed (byte* p = buffer)
            {
                // A failure after some bytes went out comes back as a short count; the next call reports it.
                for (int sent = 0; sent < buffer.Length;)
                {
                    nint rc = Interop.fbr_io_write(io, p + sent, (nuint)(buffer.Length - sent), deadline);
                    if (rc < 0)
                        throw Failure((int)rc);
                    sent += (int)rc;
                }
            }
        }
        finally { _handle.Exit(); }
    }

    /// <summary>
    /// A receive or a send from a C# fiber. Across the wait, which may suspend the fiber, this frame holds
    /// only numbers and GC handles; the array is reached and pinned again for each non-blocking attempt.
    /// Receives return after the first bytes; sends go on until all are out. Returns the bytes moved.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static long TransferOnFiber(Revisit<FiberSocket> self, Revisit<byte[]> buffer, nint io, int offset,
                                        int count, long deadline, int direction)
    {
        long done = 0;
        int failure = 0;
        while (failure == 0)
        {
            long rc = TryTransfer(buffer, io, offset + (int)done, count - (int)done, direction);
            if (rc >= 0)
            {
                done += rc;
                if (direction == Interop.FBR_IO_READABLE || done == count)
                    break;
                continue;
            }
            if (rc != Interop.FBR_EAGAIN)
            {
                failure = (int)rc;
                break;
            }
            int waited = Interop.fbr_io_wait(io, direction, deadline);
            if (waited < 0)
                failure = waited;
        }
        FiberSocket socket = self.Take();
        buffer.Take();
        socket._handle.Exit();
        if (failure != 0)
            throw socket.Failure(failure);
        return done;
    }

    // Never suspends: the array is pinned only for the duration of one system call.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe long TryTransfer(Revisit<byte[]> buffer, nint io, int offset, int count, int direction)
    {
        byte[] array = buffer.Peek();
        fixed (byte* p = &MemoryMarshal.GetArrayDataReference(array))
        {
            return direction == Interop.FBR_IO_READABLE
                ? Interop.fbr_io_try_read(io, p + offset, (nuint)count)
                : Interop.fbr_io_try_write(io, p + offset, (nuint)count);
        }
    }

    // ---- ending -----------------------------------------------------------------------------------

    /// <summary>Shuts down receiving, sending or both (the peer sees the end of the stream).</summary>
    public void Shutdown(SocketShutdown how)
    {
        nint io = _handle.Enter(this);
        try { Check(Interop.fbr_io_shutdown(io, (int)how)); }
        finally { _handle.Exit(); }
    }

    /// <summary>
    /// Cancels the socket for good, from any thread or fiber: operations waiting on it now, and all later
    /// ones, throw <see cref="OperationCanceledException"/>. How a server stops its accept loop, or a
    /// watchdog aborts a connection. The socket still needs <see cref="Dispose"/>.
    /// </summary>
    public void Cancel()
    {
        nint io = _handle.Enter(this);
        try { Check(Interop.fbr_io_cancel(io)); }
        finally { _handle.Exit(); }
    }

    /// <summary>Closes the socket. Operations waiting on it in other fibers or threads end with ObjectDisposedException.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        // Waiting operations hold references to the handle: end them, so that the close can happen.
        try
        {
            nint io = _handle.Enter(this);
            try { _ = Interop.fbr_io_cancel(io); }
            finally { _handle.Exit(); }
        }
        catch (ObjectDisposedException)
        {
        }
        _handle.Dispose();
    }

    // ---- errors -----------------------------------------------------------------------------------

    private static void ThrowIfOnManagedFiber()
    {
        ManagedFibers.CheckMaySuspend();
        if (ManagedFibers.OnManagedFiber)
            throw new NotSupportedException(
                "on a C# fiber, pass a byte[] with offset and count: a Span may point into an array the GC moves while the fiber waits");
    }

    private static int Check(int rc) => rc < 0 ? throw Failure(rc, null) : rc;

    private Exception Failure(int rc) => Failure(rc, Volatile.Read(ref _disposed) != 0 ? this : null);

    private static Exception Failure(int rc, FiberSocket? disposed)
    {
        if (disposed != null && rc is Interop.FBR_ECANCELED or Interop.FBR_ECLOSED)
            return new ObjectDisposedException(nameof(FiberSocket));
        // Socket's synchronous calls report a timeout as a SocketException, not a TimeoutException.
        return FiberErrors.Create(rc, nameof(FiberSocket), timeoutAsSocketError: true);
    }
}
