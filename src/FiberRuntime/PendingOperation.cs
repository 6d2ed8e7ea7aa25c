using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks.Sources;

namespace FiberRuntime;

/// <summary>
/// A channel send or receive that had to wait, as seen from .NET: the native operation
/// (<c>fbr_chan_send_async</c> / <c>fbr_chan_recv_async</c>) reports its end through <see cref="OnComplete"/>,
/// which completes a ValueTask. Objects are pooled per channel, so a steady stream of async operations
/// allocates nothing.
/// </summary>
/// <remarks>
/// Starter, completion and cancellation race as <see cref="CompletionRace"/> says. An operation that cannot
/// be cancelled asks for no handle (the native operation then frees itself), which saves a release call.
/// </remarks>
internal abstract class PendingOperation : IWatchedOperation
{
    private GCHandle _self;
    private CompletionRace _race;
    private CancellationToken _token;
    protected ManualResetValueTaskSourceCore<byte> _core; // completion only; values live in subclasses

    protected PendingOperation(bool runContinuationsAsynchronously)
    {
        _self = GCHandle.Alloc(this);
        _core.RunContinuationsAsynchronously = runContinuationsAsynchronously;
    }

    /// <summary>Whether continuations go to the thread pool (the channel's option), for this use.</summary>
    protected bool RunContinuationsAsynchronously
    {
        set => _core.RunContinuationsAsynchronously = value;
    }

    /// <summary>The state passed to native code: a handle to this object.</summary>
    internal nint State => GCHandle.ToIntPtr(_self);

    internal short Version => _core.Version;

    /// <summary>The native result of the operation: FBR_OK, FBR_ECLOSED or FBR_ECANCELED.</summary>
    protected int Result { get; private set; }

    internal unsafe static delegate* unmanaged<nint, int, nint, void> Callback => &OnComplete;

    /// <summary>Whether the start call should return a native handle: only a cancellation needs one.</summary>
    internal bool HandleWanted => _token.CanBeCanceled;

    internal void Prepare(CancellationToken token)
    {
        _token = token;
        _race.Reset();
    }

    /// <summary>The start call returned FBR_PENDING with <paramref name="op"/> (0 if no handle was wanted).</summary>
    internal void Pending(nint op)
    {
        if (_race.Started(op, static s => ((PendingOperation)s!).Cancel(), this, _token))
            Finish();
    }

    private void Cancel() => _ = Interop.fbr_chan_op_cancel(_race.Handle); // FBR_EAGAIN: it is ending anyway

    [UnmanagedCallersOnly]
    private static void OnComplete(nint state, int result, nint value)
    {
        var self = (PendingOperation)GCHandle.FromIntPtr(state).Target!;
        self.Result = result;
        if (result == Interop.FBR_OK && value != 0)
            self.StoreValue(value);
        if (self._race.Completed())
        {
            // A continuation allowed to run here runs on this thread, which may be a worker.
            bool outer = AwaitSpin.EnterCompletion();
            try { self.Finish(); }
            finally { AwaitSpin.ExitCompletion(outer); }
        }
    }

    private unsafe void Finish()
    {
        _race.Disarm(&Interop.fbr_chan_op_release);
        switch (Result)
        {
            case Interop.FBR_OK:
                _core.SetResult(0);
                break;
            case Interop.FBR_ECANCELED:
                _core.SetException(new OperationCanceledException(_token));
                break;
            case Interop.FBR_ECLOSED:
                _core.SetException(new ChannelClosedException());
                break;
            default:
                _core.SetException(FiberErrors.Create(Result));
                break;
        }
    }

    /// <summary>Copies a received value (valid only during the callback).</summary>
    protected abstract void StoreValue(nint value);

    /// <summary>Readies the object for reuse after its result was taken.</summary>
    protected void ResetCore()
    {
        _token = default;
        _core.Reset();
    }

    /// <summary>Frees the handle that keeps this object alive, when it will not be pooled.</summary>
    internal void Free()
    {
        if (_self.IsAllocated)
            _self.Free();
    }

    internal ValueTaskSourceStatus Status(short token) => _core.GetStatus(token);

    public bool IsPending(short token) => Status(token) == ValueTaskSourceStatus.Pending;

    internal void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void ThrowIfFailed(short token) => _core.GetResult(token);
}

/// <summary>A pending receive of a <typeparamref name="T"/>; one spare per thread (<see cref="OperationSpare{TOperation}"/>).</summary>
internal sealed class ReceiveOperation<T> : PendingOperation, IValueTaskSource<T> where T : unmanaged
{
    [ThreadStatic] private static OperationSpare<ReceiveOperation<T>>? t_spare;

    private Channel<T>? _owner;
    private T _value;

    private ReceiveOperation() : base(runContinuationsAsynchronously: false) { }

    /// <summary>This thread's spare, or a new operation, for a receive on <paramref name="owner"/>.</summary>
    internal static ReceiveOperation<T> Rent(Channel<T> owner, bool runContinuationsAsynchronously)
    {
        ReceiveOperation<T> operation = OperationSpare<ReceiveOperation<T>>.Take(t_spare) ?? new ReceiveOperation<T>();
        operation._owner = owner;
        operation.RunContinuationsAsynchronously = runContinuationsAsynchronously;
        return operation;
    }

    /// <summary>The calling thread's spare, if it has one (for tests).</summary>
    internal static ReceiveOperation<T>? CurrentThreadSpare => t_spare?.Operation;

    /// <summary>Keeps this finished operation as the calling thread's spare, or frees it if there is one.</summary>
    internal void Return()
    {
        _owner = null;
        OperationSpare<ReceiveOperation<T>>.Keep(ref t_spare, this);
    }

    protected override unsafe void StoreValue(nint value) => _value = *(T*)value;

    public T GetResult(short token)
    {
        try
        {
            ThrowIfFailed(token);
            return _value;
        }
        catch (ChannelClosedException)
        {
            _owner?.ObservedClosed();
            throw;
        }
        finally
        {
            _value = default;
            ResetCore();
            Return();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => Status(token);

    void IValueTaskSource<T>.OnCompleted(Action<object?> continuation, object? state, short token,
                                         ValueTaskSourceOnCompletedFlags flags)
        => OnCompleted(continuation, state, token, flags);
}

/// <summary>A pending send (the value was copied when it started); one spare per thread (<see cref="OperationSpare{TOperation}"/>).</summary>
internal sealed class SendOperation : PendingOperation, IValueTaskSource
{
    [ThreadStatic] private static OperationSpare<SendOperation>? t_spare;

    private object? _owner; // the channel: kept alive while the send waits, as a receive's is

    private SendOperation() : base(runContinuationsAsynchronously: false) { }

    /// <summary>This thread's spare, or a new operation, for a send on <paramref name="owner"/>.</summary>
    internal static SendOperation Rent(object owner, bool runContinuationsAsynchronously)
    {
        SendOperation operation = OperationSpare<SendOperation>.Take(t_spare) ?? new SendOperation();
        operation._owner = owner;
        operation.RunContinuationsAsynchronously = runContinuationsAsynchronously;
        return operation;
    }

    /// <summary>Keeps this finished operation as the calling thread's spare, or frees it if there is one.</summary>
    internal void Return()
    {
        _owner = null;
        OperationSpare<SendOperation>.Keep(ref t_spare, this);
    }

    protected override void StoreValue(nint value) { }

    public void GetResult(short token)
    {
        try
        {
            ThrowIfFailed(token);
        }
        finally
        {
            ResetCore();
            Return();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => Status(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token,
                                      ValueTaskSourceOnCompletedFlags flags)
        => OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// A thread's spare operation of one kind, for its next operation on any channel: one that completes at once
/// (with synchronous continuations on a worker, every receive of a ping-pong) takes and returns it without an
/// atomic instruction, where a per-channel spare cost two (8-10 ns of a 150-200 ns round trip). The holder
/// sits in a thread-static of the operation's class; once the thread has ended it is unreachable, and its
/// finalizer frees the spare's GCHandle.
/// </summary>
internal sealed class OperationSpare<TOperation> where TOperation : PendingOperation
{
    public TOperation? Operation;

    ~OperationSpare() => Operation?.Free();

    /// <summary>Takes the spare out of <paramref name="spare"/>, if there is one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TOperation? Take(OperationSpare<TOperation>? spare)
    {
        TOperation? operation = spare?.Operation;
        if (operation != null)
            spare!.Operation = null;
        return operation;
    }

    /// <summary>Keeps <paramref name="operation"/> as the spare, or frees it if there already is one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Keep(ref OperationSpare<TOperation>? spare, TOperation operation)
    {
        OperationSpare<TOperation> holder = spare ??= new OperationSpare<TOperation>();
        if (holder.Operation == null)
            holder.Operation = operation;
        else
            operation.Free();
    }
}
