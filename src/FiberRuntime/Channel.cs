using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;

namespace FiberRuntime;

/// <summary>How a <see cref="Channel{T}"/> behaves.</summary>
public sealed record ChannelOptions
{
    /// <summary>
    /// Lets the continuation of an awaited <see cref="Channel{T}.SendAsync"/> or <see cref="Channel{T}.ReceiveAsync"/>
    /// run synchronously on the thread that completed the operation, which may be a scheduler worker:
    /// faster (no thread-pool hop), but the worker runs no other fibers until the continuation awaits
    /// something that has to wait. Such an await on a worker may first run the fiber the worker would run
    /// next (usually the one the continuation just woke, which answers), inside the SendAsync or
    /// ReceiveAsync call, so that the answer comes back without another completion. As in
    /// System.Threading.Channels, off by default.
    /// </summary>
    public bool AllowSynchronousContinuations { get; init; }
}

/// <summary>
/// A typed channel with Go's semantics, shared by native fibers, C# threads and async code: values of
/// <typeparamref name="T"/> are copied in and out. Unbuffered (capacity 0: each send meets a receive) or
/// buffered. Shaped like System.Threading.Channels: blocking <see cref="Send(T)"/>/<see cref="Receive()"/>,
/// non-blocking <see cref="TrySend(T)"/>/<see cref="TryReceive(out T)"/>, async <see cref="SendAsync"/>/
/// <see cref="ReceiveAsync"/> that block no thread, <see cref="Close"/> and <see cref="Completion"/>.
/// Closing follows Go: receivers drain what is buffered, then get <see cref="ChannelClosedException"/>;
/// sending on a closed channel or closing twice throws it too.
/// </summary>
/// <example>
/// <code>
/// using var numbers = new Channel&lt;long&gt;(capacity: 64);
/// scheduler.SpawnDetached(&amp;native_producer, numbers.NativeHandle);   // a C fiber calling fbr_chan_send
/// await foreach (long n in numbers.ReadAllAsync()) total += n;         // ends when the producer closes it
/// </code>
/// </example>
public sealed class Channel<T> : IDisposable where T : unmanaged
{
    private readonly CollectedHandle _handle;
    private readonly bool _asyncContinuations;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _closedHere;
    // Whether the last SendAsync found a receiver or room at once: then the next one tries without an
    // operation object first. Races between senders only blur it.
    private bool _sendsCompleteAtOnce;
    private AwaitSpin _awaitSpin;

    /// <summary>Whether the next pending async operation will be watched (<see cref="AwaitSpin"/>).</summary>
    internal bool WatchesNextPending
    {
        get
        {
            AwaitSpin copy = _awaitSpin;
            return copy.ShouldWatch();
        }
    }

    /// <summary>Creates a channel; capacity 0 makes it unbuffered.</summary>
    public unsafe Channel(int capacity = 0, ChannelOptions? options = null)
    {
        if (capacity < 0 || (ulong)capacity > Interop.FBR_CHAN_MAX_CAPACITY)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity,
                $"a channel's capacity must be between 0 and {Interop.FBR_CHAN_MAX_CAPACITY}");
        if ((ulong)sizeof(T) > Interop.FBR_CHAN_MAX_ELEM_SIZE)
            throw new NotSupportedException(
                $"a channel's values must be at most {Interop.FBR_CHAN_MAX_ELEM_SIZE} bytes; {typeof(T).Name} has {sizeof(T)}");
        nint channel;
        FiberErrors.ThrowIfFailed(Interop.fbr_chan_create(&channel, (nuint)sizeof(T), (nuint)capacity));
        _handle = new CollectedHandle(channel, Interop.fbr_chan_destroy, Interop.fbr_chan_check_destroy,
                                      (long)capacity * sizeof(T));
        _asyncContinuations = options?.AllowSynchronousContinuations != true;
        Capacity = capacity;
    }

    /// <summary>The native <c>fbr_chan *</c>, for native fibers; valid until disposal.</summary>
    public nint NativeHandle => _handle.IsClosed ? throw new ObjectDisposedException(GetType().Name) : _handle.DangerousGetHandle();

    /// <summary>Values the buffer holds (0 for an unbuffered channel).</summary>
    public int Capacity { get; }

    /// <summary>Values buffered now.</summary>
    public int Count
    {
        get
        {
            nint ch = _handle.Enter(this);
            try { return (int)Interop.fbr_chan_len(ch); }
            finally { _handle.Exit(); }
        }
    }

    /// <summary>Whether the channel has been closed (by anyone, native code included).</summary>
    public bool IsClosed
    {
        get
        {
            nint ch = _handle.Enter(this);
            try { return Interop.fbr_chan_is_closed(ch) != 0; }
            finally { _handle.Exit(); }
        }
    }

    /// <summary>
    /// Completes once no value will ever be received again: when a receive through this object finds the
    /// channel closed and drained, or when it is closed through this object with nothing buffered.
    /// </summary>
    public Task Completion => _completion.Task;

    // ---- sending -----------------------------------------------------------------------------

    /// <summary>Sends a value, blocking this thread until there is room (or a receiver, if unbuffered).</summary>
    /// <exception cref="ChannelClosedException">The channel is or becomes closed; the value was not sent.</exception>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe void Send(T item)
    {
        if (ManagedFibers.OnManagedFiber)
        {
            SendOnFiber(new Revisit<Channel<T>>(this), _handle.Enter(this), item, Interop.FBR_NO_DEADLINE);
            return;
        }
        ManagedFibers.CheckMaySuspend();
        nint ch = _handle.Enter(this);
        try { FiberErrors.ThrowIfFailed(Interop.fbr_chan_send(ch, &item)); }
        finally { _handle.Exit(); }
    }

    /// <summary>Sends a value, blocking until it is sent or <paramref name="cancellationToken"/> is cancelled.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Send(T item, CancellationToken cancellationToken)
    {
        ThrowIfCancellableOnFiber(cancellationToken);
        if (!cancellationToken.CanBeCanceled)
        {
            Send(item);
            return;
        }
        ValueTask pending = SendAsync(item, cancellationToken);
        if (pending.IsCompletedSuccessfully)
            pending.GetAwaiter().GetResult();
        else
            pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Sends a value if that needs no waiting; false when the channel is full (or unbuffered with no receiver waiting) or closed.</summary>
    public unsafe bool TrySend(T item)
    {
        nint ch = _handle.Enter(this);
        try
        {
            int rc = Interop.fbr_chan_try_send(ch, &item);
            if (rc == Interop.FBR_EAGAIN || rc == Interop.FBR_ECLOSED)
                return false;
            FiberErrors.ThrowIfFailed(rc);
            return true;
        }
        finally { _handle.Exit(); }
    }

    /// <summary>Sends a value, waiting at most <paramref name="timeout"/>; false if it could not be sent in time.</summary>
    /// <exception cref="ChannelClosedException">The channel is or becomes closed.</exception>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe bool TrySend(T item, TimeSpan timeout)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (ManagedFibers.OnManagedFiber)
            return SendOnFiber(new Revisit<Channel<T>>(this), _handle.Enter(this), item, deadline);
        ManagedFibers.CheckMaySuspend();
        nint ch = _handle.Enter(this);
        try
        {
            int rc = Interop.fbr_chan_send_until(ch, &item, deadline);
            if (rc == Interop.FBR_ETIMEDOUT)
                return false;
            FiberErrors.ThrowIfFailed(rc);
            return true;
        }
        finally { _handle.Exit(); }
    }

    /// <summary>
    /// Sends a value without blocking a thread: the ValueTask completes when a receiver (a fiber, a thread
    /// or async code) takes it or the buffer has room. Cancelling withdraws the value.
    /// </summary>
    /// <remarks>
    /// When the send has to wait, the call may watch it for up to two microseconds before returning (only
    /// off the scheduler's workers, and only while that keeps paying off on this channel): a native fiber's
    /// answer in that time completes the ValueTask before the await, which then needs no thread-pool hop.
    /// <see cref="ReceiveAsync"/> does the same.
    /// </remarks>
    public unsafe ValueTask SendAsync(T item, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled(cancellationToken);
        if (_sendsCompleteAtOnce)
        {
            // A send that needs no waiting needs no operation object (and its two atomic swaps).
            nint channel = _handle.Enter(this);
            int first;
            try { first = Interop.fbr_chan_try_send(channel, &item); }
            finally { _handle.Exit(); }
            if (first == Interop.FBR_OK)
                return ValueTask.CompletedTask;
            if (first != Interop.FBR_EAGAIN)
                return ValueTask.FromException(FiberErrors.Create(first));
            _sendsCompleteAtOnce = false;
        }
        SendOperation operation = SendOperation.Rent(this, _asyncContinuations);
        operation.Prepare(cancellationToken);
        nint op = 0;
        nint ch = _handle.Enter(this);
        int rc;
        try { rc = Interop.fbr_chan_send_async(ch, &item, PendingOperation.Callback, operation.State, operation.HandleWanted ? &op : null); }
        finally { _handle.Exit(); }
        if (rc == Interop.FBR_PENDING)
        {
            short version = operation.Version;
            operation.Pending(op);
            if (_asyncContinuations)
                _awaitSpin.Watch(operation, version);
            return new ValueTask(operation, version);
        }
        operation.Return();
        if (rc == Interop.FBR_OK)
        {
            _sendsCompleteAtOnce = true;
            return ValueTask.CompletedTask;
        }
        return ValueTask.FromException(FiberErrors.Create(rc));
    }

    // ---- receiving ---------------------------------------------------------------------------

    /// <summary>Receives the next value, blocking this thread until there is one.</summary>
    /// <exception cref="ChannelClosedException">The channel is closed and drained.</exception>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe T Receive()
    {
        if (ManagedFibers.OnManagedFiber)
        {
            int status = ReceiveOnFiber(new Revisit<Channel<T>>(this), _handle.Enter(this), Interop.FBR_NO_DEADLINE, out T value);
            return status == Interop.FBR_OK ? value : throw FiberErrors.Create(status);
        }
        ManagedFibers.CheckMaySuspend();
        T item;
        int rc;
        nint ch = _handle.Enter(this);
        try { rc = Interop.fbr_chan_recv(ch, &item); }
        finally { _handle.Exit(); }
        return Received(rc, item);
    }

    /// <summary>
    /// Receives the next value, blocking until there is one (true), or until the channel is closed and
    /// drained (false): Go's <c>v, ok := &lt;-ch</c>, without an exception at the end of the stream.
    /// </summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe bool ReceiveOrClosed(out T item)
    {
        if (ManagedFibers.OnManagedFiber)
        {
            int status = ReceiveOnFiber(new Revisit<Channel<T>>(this), _handle.Enter(this), Interop.FBR_NO_DEADLINE, out item);
            return status == Interop.FBR_OK || (status == Interop.FBR_ECLOSED ? false : throw FiberErrors.Create(status));
        }
        ManagedFibers.CheckMaySuspend();
        T value;
        int rc;
        nint ch = _handle.Enter(this);
        try { rc = Interop.fbr_chan_recv(ch, &value); }
        finally { _handle.Exit(); }
        item = value;
        if (rc == Interop.FBR_ECLOSED)
        {
            ObservedClosed();
            return false;
        }
        Received(rc, value);
        return true;
    }

    /// <summary>Receives the next value, blocking until there is one or <paramref name="cancellationToken"/> is cancelled.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public T Receive(CancellationToken cancellationToken)
    {
        ThrowIfCancellableOnFiber(cancellationToken);
        if (!cancellationToken.CanBeCanceled)
            return Receive();
        ValueTask<T> pending = ReceiveAsync(cancellationToken);
        return pending.IsCompleted ? pending.GetAwaiter().GetResult() : pending.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Receives a value if one is ready; false when none is (or the channel is closed and drained).</summary>
    public unsafe bool TryReceive(out T item)
    {
        T value;
        int rc;
        nint ch = _handle.Enter(this);
        try { rc = Interop.fbr_chan_try_recv(ch, &value); }
        finally { _handle.Exit(); }
        item = value;
        if (rc == Interop.FBR_OK)
        {
            AfterReceive();
            return true;
        }
        if (rc == Interop.FBR_ECLOSED)
        {
            ObservedClosed();
            return false;
        }
        if (rc == Interop.FBR_EAGAIN)
            return false;
        throw FiberErrors.Create(rc);
    }

    /// <summary>Receives the next value, waiting at most <paramref name="timeout"/>; false if none came in time.</summary>
    /// <exception cref="ChannelClosedException">The channel is closed and drained.</exception>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe bool TryReceive(out T item, TimeSpan timeout)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (ManagedFibers.OnManagedFiber)
        {
            int status = ReceiveOnFiber(new Revisit<Channel<T>>(this), _handle.Enter(this), deadline, out item);
            return status == Interop.FBR_OK || (status == Interop.FBR_ETIMEDOUT ? false : throw FiberErrors.Create(status));
        }
        ManagedFibers.CheckMaySuspend();
        T value;
        int rc;
        nint ch = _handle.Enter(this);
        try { rc = Interop.fbr_chan_recv_until(ch, &value, deadline); }
        finally { _handle.Exit(); }
        item = default;
        if (rc == Interop.FBR_ETIMEDOUT)
            return false;
        item = Received(rc, value);
        return true;
    }

    /// <summary>
    /// Receives the next value without blocking a thread: completes when a sender (a fiber, a thread or
    /// async code) provides one. Fails with <see cref="ChannelClosedException"/> once the channel is closed
    /// and drained, or with OperationCanceledException when cancelled first.
    /// </summary>
    public unsafe ValueTask<T> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
            return ValueTask.FromCanceled<T>(cancellationToken);
        ReceiveOperation<T> operation = ReceiveOperation<T>.Rent(this, _asyncContinuations);
        operation.Prepare(cancellationToken);
        T item;
        nint op = 0;
        int rc;
        nint ch = _handle.Enter(this);
        try { rc = Interop.fbr_chan_recv_async(ch, &item, PendingOperation.Callback, operation.State, operation.HandleWanted ? &op : null); }
        finally { _handle.Exit(); }
        if (rc == Interop.FBR_PENDING)
        {
            short version = operation.Version;
            operation.Pending(op);
            if (_asyncContinuations)
                _awaitSpin.Watch(operation, version);
            return new ValueTask<T>(operation, version);
        }
        operation.Return();
        if (rc == Interop.FBR_OK)
        {
            AfterReceive();
            return new ValueTask<T>(item);
        }
        if (rc == Interop.FBR_ECLOSED)
            ObservedClosed();
        return ValueTask.FromException<T>(FiberErrors.Create(rc));
    }

    /// <summary>Every value until the channel is closed and drained.</summary>
    public async IAsyncEnumerable<T> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            T item;
            try
            {
                item = await ReceiveAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                yield break;
            }
            yield return item;
        }
    }

    // ---- closing -----------------------------------------------------------------------------

    /// <summary>Closes the channel: waiting senders fail, receivers drain the buffer and then fail.</summary>
    /// <exception cref="ChannelClosedException">It was already closed.</exception>
    public void Close()
    {
        if (!TryClose())
            throw new ChannelClosedException("the channel is already closed");
    }

    /// <summary>Closes the channel; false if it was already closed.</summary>
    public bool TryClose()
    {
        nint ch = _handle.Enter(this);
        try
        {
            int rc = Interop.fbr_chan_close(ch);
            if (rc == Interop.FBR_ECLOSED)
                return false;
            FiberErrors.ThrowIfFailed(rc);
            Volatile.Write(ref _closedHere, 1);
            if (Interop.fbr_chan_len(ch) == 0)
                _completion.TrySetResult();
            return true;
        }
        finally { _handle.Exit(); }
    }

    /// <summary>
    /// Ends the channel's use from .NET: later calls throw ObjectDisposedException. The native channel is
    /// freed once the garbage collector finds that nothing can reach it any more (no call in flight, no
    /// pending operation), which spares every call a reference count. Close it first if others may still
    /// use it: a channel that a fiber or thread is waiting on is refused (InvalidOperationException) and left
    /// to them, since freeing it would pull it from under them.
    /// </summary>
    public void Dispose()
    {
        if (_handle.IsClosed)
            return;
        _handle.Dispose();
        if (_handle.ReleaseResult < 0)
            throw FiberErrors.Create(_handle.ReleaseResult, GetType().Name);
    }

    // ---- plumbing ----------------------------------------------------------------------------

    /// <summary>
    /// A send from a C# fiber: from the native call on, nothing but numbers stays in this frame (the fiber
    /// may be suspended, invisible to the GC, in the middle); the channel comes back through its handle.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool SendOnFiber(Revisit<Channel<T>> self, nint ch, T item, long deadline)
    {
        int rc = deadline == Interop.FBR_NO_DEADLINE ? Interop.fbr_chan_send(ch, &item)
                                                     : Interop.fbr_chan_send_until(ch, &item, deadline);
        self.Take()._handle.Exit();
        if (rc == Interop.FBR_ETIMEDOUT)
            return false;
        FiberErrors.ThrowIfFailed(rc);
        return true;
    }

    /// <summary>A receive from a C# fiber (see <see cref="SendOnFiber"/>); the value lands on the fiber's stack.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int ReceiveOnFiber(Revisit<Channel<T>> self, nint ch, long deadline, out T item)
    {
        T value;
        int rc = deadline == Interop.FBR_NO_DEADLINE ? Interop.fbr_chan_recv(ch, &value)
                                                     : Interop.fbr_chan_recv_until(ch, &value, deadline);
        Channel<T> channel = self.Take();
        channel._handle.Exit();
        if (rc == Interop.FBR_OK)
            channel.AfterReceive();
        else if (rc == Interop.FBR_ECLOSED)
            channel.ObservedClosed();
        item = value;
        return rc;
    }

    /// <summary>
    /// A cancellable wait is built on an async operation and a blocked thread; on a fiber that would block
    /// the worker. Fibers use deadlines (the TimeSpan overloads) instead.
    /// </summary>
    private static void ThrowIfCancellableOnFiber(CancellationToken cancellationToken)
    {
        ManagedFibers.CheckMaySuspend();
        if (cancellationToken.CanBeCanceled && ManagedFibers.OnManagedFiber)
            throw new NotSupportedException("a C# fiber cannot wait with a CancellationToken; use the TimeSpan overloads");
    }

    private T Received(int rc, T item)
    {
        if (rc == Interop.FBR_OK)
        {
            AfterReceive();
            return item;
        }
        if (rc == Interop.FBR_ECLOSED)
            ObservedClosed();
        throw FiberErrors.Create(rc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AfterReceive()
    {
        if (Volatile.Read(ref _closedHere) != 0 && Count == 0)
            _completion.TrySetResult();
    }

    internal nint EnterHandle() => _handle.Enter(this);

    internal void ExitHandle() => _handle.Exit();

    internal void ObservedClosed() => _completion.TrySetResult();
}
