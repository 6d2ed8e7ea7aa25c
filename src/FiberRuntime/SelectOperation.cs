using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using System.Threading.Tasks.Sources;

namespace FiberRuntime;

/// <summary>
/// A <see cref="ChannelSelect.WaitAsync(CancellationToken, SelectCase[])"/> that had to wait, as seen from .NET:
/// the native select (<c>fbr_select_async</c>) reports its end through <see cref="OnComplete"/>, which records
/// the winning case (its value read into the case) and completes a ValueTask with its index.
/// </summary>
/// <remarks>
/// Until the end the operation owns what the select uses: a reference on every case's channel and the
/// native block of cases and values. Starter, completion and cancellation race as
/// <see cref="CompletionRace"/> says. Not pooled: a select allocates its cases anyway.
/// </remarks>
internal sealed class SelectOperation : IValueTaskSource<int>, IWatchedOperation
{
    private readonly SelectCase[] _cases;
    private readonly nint _block;
    private readonly CancellationToken _token;
    private readonly CancellationTokenSource? _timeout;
    private GCHandle _self;
    private CompletionRace _race;
    private int _result;
    private int _chosen;
    private ManualResetValueTaskSourceCore<int> _core;

    /// <param name="cases">The cases, whose channels <paramref name="block"/> references.</param>
    /// <param name="block">The native cases and values (ChannelSelect.PrepareNative), freed at the end.</param>
    /// <param name="timeout">When set, its cancellation ends the select with -1 instead of an exception.</param>
    /// <param name="token">The caller's cancellation, or <paramref name="timeout"/>'s token.</param>
    public SelectOperation(SelectCase[] cases, nint block, CancellationTokenSource? timeout, CancellationToken token)
    {
        _cases = cases;
        _block = block;
        _token = token;
        _timeout = timeout;
        _core.RunContinuationsAsynchronously = true;
        _self = GCHandle.Alloc(this);
    }

    internal nint State => GCHandle.ToIntPtr(_self);

    internal short Version => _core.Version;

    internal bool HandleWanted => _token.CanBeCanceled;

    internal unsafe static delegate* unmanaged<nint, int, nuint, nint, void> Callback => &OnComplete;

    /// <summary>The start call returned FBR_PENDING with <paramref name="op"/> (0 if no handle was wanted).</summary>
    internal void Pending(nint op)
    {
        if (_race.Started(op, static s => ((SelectOperation)s!).Cancel(), this, _token))
            Finish();
    }

    /// <summary>The start call failed or ended at once: undo what the constructor took.</summary>
    internal void Abandon()
    {
        _self.Free();
        _timeout?.Dispose();
    }

    /// <summary>A timeout that fired is left to the collector: disposing it here could race its own Cancel.</summary>
    private void DisposeTimeout()
    {
        if (_timeout is { IsCancellationRequested: false })
            _timeout.Dispose();
    }

    private void Cancel() => _ = Interop.fbr_select_async_cancel(_race.Handle); // FBR_EAGAIN: it is ending anyway

    [UnmanagedCallersOnly]
    private static unsafe void OnComplete(nint state, int result, nuint chosen, nint value)
    {
        var self = (SelectOperation)GCHandle.FromIntPtr(state).Target!;
        self._result = result;
        if (result is Interop.FBR_OK or Interop.FBR_ECLOSED)
        {
            self._chosen = (int)chosen;
            SelectCase winner = self._cases[(int)chosen];
            winner.ChannelClosed = result == Interop.FBR_ECLOSED;
            if (value != 0)
                winner.Read((byte*)value);
        }
        if (self._race.Completed())
            self.Finish();
    }

    private unsafe void Finish()
    {
        _race.Disarm(&Interop.fbr_select_async_release);
        ChannelSelect.ReleaseNative(_cases, _block);
        _self.Free();
        DisposeTimeout();
        switch (_result)
        {
            case Interop.FBR_OK:
            case Interop.FBR_ECLOSED:
                _core.SetResult(_chosen);
                break;
            case Interop.FBR_ECANCELED when _timeout != null:
                _core.SetResult(-1);
                break;
            case Interop.FBR_ECANCELED:
                _core.SetException(new OperationCanceledException(_token));
                break;
            default:
                _core.SetException(FiberErrors.Create(_result));
                break;
        }
    }

    public bool IsPending(short version) => _core.GetStatus(version) == ValueTaskSourceStatus.Pending;

    public int GetResult(short token) => _core.GetResult(token);

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
