using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;

namespace FiberRuntime;

/// <summary>
/// One arm of a <see cref="ChannelSelect"/>: a send of a value or a receive into <see cref="ReceiveCase{T}.Value"/>.
/// Cases are reusable objects, so a select in a loop allocates nothing but its first cases.
/// </summary>
public abstract class SelectCase
{
    private protected SelectCase() { }

    /// <summary>After a select chose this case: whether the channel was closed (a receive from a closed, drained
    /// channel, or a send to a closed one) instead of the value moving.</summary>
    public bool ChannelClosed { get; internal set; }

    internal abstract nint Enter();
    internal abstract void Exit();
    internal abstract int Operation { get; }
    internal abstract int Size { get; }
    internal abstract unsafe void Write(byte* buffer);
    internal abstract unsafe void Read(byte* buffer);

    /// <summary>A case that sends <paramref name="value"/> on <paramref name="channel"/>.</summary>
    public static SendCase<T> Send<T>(Channel<T> channel, T value) where T : unmanaged => new(channel, value);

    /// <summary>A case that receives from <paramref name="channel"/>.</summary>
    public static ReceiveCase<T> Receive<T>(Channel<T> channel) where T : unmanaged => new(channel);
}

/// <summary>Sends <see cref="Value"/> when chosen.</summary>
public sealed class SendCase<T> : SelectCase where T : unmanaged
{
    private readonly Channel<T> _channel;

    internal SendCase(Channel<T> channel, T value)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
        Value = value;
    }

    /// <summary>The value to send; may be changed between selects.</summary>
    public T Value { get; set; }

    internal override nint Enter() => _channel.EnterHandle();
    internal override void Exit() => _channel.ExitHandle();
    internal override int Operation => Interop.FBR_SELECT_SEND;
    internal override unsafe int Size => sizeof(T);
    internal override unsafe void Write(byte* buffer) => *(T*)buffer = Value;
    internal override unsafe void Read(byte* buffer) { }
}

/// <summary>Receives into <see cref="Value"/> when chosen.</summary>
public sealed class ReceiveCase<T> : SelectCase where T : unmanaged
{
    private readonly Channel<T> _channel;

    internal ReceiveCase(Channel<T> channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        _channel = channel;
    }

    /// <summary>The value received by the last select that chose this case.</summary>
    public T Value { get; private set; }

    internal override nint Enter() => _channel.EnterHandle();
    internal override void Exit() => _channel.ExitHandle();
    internal override int Operation => Interop.FBR_SELECT_RECV;
    internal override unsafe int Size => sizeof(T);
    internal override unsafe void Write(byte* buffer) { }
    internal override unsafe void Read(byte* buffer) => Value = *(T*)buffer;
}

/// <summary>
/// Go's <c>select</c>: waits until one of several channel operations can proceed, performs exactly that one
/// and returns its index. When several are ready, one is chosen uniformly at random.
/// </summary>
/// <remarks>
/// On a C# fiber, pass the cases as an array kept in the fiber's state (<c>ChannelSelect.Wait(s.Cases)</c>):
/// a <c>params</c> span lives in an array on the caller's own frame, which the GC cannot update while the
/// fiber waits. The array overloads copy the cases into native memory, and the fiber waits holding nothing
/// managed. Cancellation tokens are for threads; fibers use the deadline overloads.
/// </remarks>
/// <example>
/// <code>
/// var results = SelectCase.Receive(resultChannel);
/// var errors = SelectCase.Receive(errorChannel);
/// switch (ChannelSelect.Wait(TimeSpan.FromSeconds(1), results, errors))
/// {
///     case 0: Use(results.Value); break;
///     case 1: Report(errors.Value); break;
///     case -1: /* timed out */ break;
/// }
/// </code>
/// </example>
public static class ChannelSelect
{
    /// <summary>The most cases one select takes.</summary>
    public const int MaxCases = 64;

    // Whether watching pending async selects pays off, learnt across all of them (races only blur it).
    private static AwaitSpin s_awaitSpin;

    /// <summary>Whether the next pending async select will be watched (<see cref="AwaitSpin"/>).</summary>
    internal static bool WatchesNextPending
    {
        get
        {
            AwaitSpin copy = s_awaitSpin;
            return copy.ShouldWatch();
        }
    }

    /// <summary>Blocks until one case proceeds; returns its index.</summary>
    [MaySuspend]
    public static int Wait(params ReadOnlySpan<SelectCase> cases) => Run(cases, Interop.FBR_NO_DEADLINE, 0, default);

    /// <summary>Blocks until one case proceeds (its index) or <paramref name="timeout"/> passes (-1).</summary>
    [MaySuspend]
    public static int Wait(TimeSpan timeout, params ReadOnlySpan<SelectCase> cases)
        => Run(cases, Runtime.DeadlineAfter(timeout, nameof(timeout)), 0, default);

    /// <summary>Blocks until one case proceeds (its index); OperationCanceledException if cancelled first.</summary>
    [MaySuspend]
    public static int Wait(CancellationToken cancellationToken, params ReadOnlySpan<SelectCase> cases)
        => Run(cases, Interop.FBR_NO_DEADLINE, 0, cancellationToken);

    /// <summary>Blocks until one case proceeds; returns its index. The form for C# fibers (see the remarks).</summary>
    [MaySuspend]
    public static int Wait(SelectCase[] cases) => Wait(Timeout.InfiniteTimeSpan, cases);

    /// <summary>Blocks until one case proceeds (its index) or <paramref name="timeout"/> passes (-1). The form for C# fibers.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Wait(TimeSpan timeout, SelectCase[] cases)
    {
        ArgumentNullException.ThrowIfNull(cases);
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (!ManagedFibers.OnManagedFiber)
            return Run(cases, deadline, 0, default);
        ManagedFibers.CheckMaySuspend();
        nint block = PrepareNative(cases);
        return WaitOnFiber(new Revisit<SelectCase[]>(cases), block, cases.Length, deadline);
    }

    /// <summary>
    /// Waits without blocking a thread until one case proceeds; its index. The cases are in use until then:
    /// the winner's <see cref="ReceiveCase{T}.Value"/> is set when it ends, and changes to the others' values
    /// after the call are not seen. The continuation runs on the thread pool; as with
    /// <see cref="Channel{T}.ReceiveAsync"/>, a select that has to wait may be watched for up to two
    /// microseconds first, and an end in that time needs no thread-pool hop.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled first.</exception>
    public static ValueTask<int> WaitAsync(CancellationToken cancellationToken, params SelectCase[] cases)
        => Start(cases, timeout: null, cancellationToken);

    /// <summary>Waits without blocking a thread until one case proceeds; its index.</summary>
    public static ValueTask<int> WaitAsync(params SelectCase[] cases) => Start(cases, timeout: null, CancellationToken.None);

    /// <summary>Waits without blocking a thread until one case proceeds (its index) or <paramref name="timeout"/> passes (-1).</summary>
    public static ValueTask<int> WaitAsync(TimeSpan timeout, params SelectCase[] cases)
    {
        _ = Runtime.DeadlineAfter(timeout, nameof(timeout)); // the same range checks as Wait's
        if (timeout == Timeout.InfiniteTimeSpan)
            return Start(cases, timeout: null, CancellationToken.None);
        var expiry = new CancellationTokenSource(timeout);
        return Start(cases, expiry, expiry.Token);
    }

    private static unsafe ValueTask<int> Start(SelectCase[] cases, CancellationTokenSource? timeout, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(cases);
        if (token.IsCancellationRequested && timeout == null)
            return ValueTask.FromCanceled<int>(token);
        nint block;
        try { block = PrepareNative(cases); }
        catch
        {
            timeout?.Dispose();
            throw;
        }
        var operation = new SelectOperation(cases, block, timeout, token);
        nuint chosen;
        nint op = 0;
        int rc = Interop.fbr_select_async((Interop.fbr_select_case*)block, (nuint)cases.Length, SelectOperation.Callback,
                                          operation.State, &chosen, operation.HandleWanted ? &op : null);
        if (rc == Interop.FBR_PENDING)
        {
            short version = operation.Version;
            operation.Pending(op);
            s_awaitSpin.Watch(operation, version);
            return new ValueTask<int>(operation, version);
        }
        operation.Abandon();
        try
        {
            FiberErrors.ThrowIfFailed(rc);
            return new ValueTask<int>(TakeWinner(cases, (Interop.fbr_select_case*)block, chosen));
        }
        catch (Exception error)
        {
            return ValueTask.FromException<int>(error);
        }
        finally
        {
            ReleaseNative(cases, block);
        }
    }

    /// <summary>Performs a case that is ready now (its index), or returns -1 at once (Go's <c>default</c>).</summary>
    public static int TryNow(params ReadOnlySpan<SelectCase> cases)
        => Run(cases, Interop.FBR_NO_DEADLINE, Interop.FBR_SELECT_NONBLOCKING, default);

    private static unsafe int Run(ReadOnlySpan<SelectCase> cases, long deadline, int flags, CancellationToken token)
    {
        CheckCaseCount(cases);
        token.ThrowIfCancellationRequested();
        // The cases, their buffer and the cancellation live in this frame across the wait: safe on a thread,
        // not on a C# fiber whose frames the GC cannot see while it waits.
        if (ManagedFibers.OnManagedFiber && flags == 0)
            throw new NotSupportedException(token.CanBeCanceled
                ? "a C# fiber cannot wait with a CancellationToken; use ChannelSelect.Wait(TimeSpan, SelectCase[])"
                : "on a C# fiber, pass the cases as a SelectCase[] kept in the fiber's state: ChannelSelect.Wait(state.Cases)");
        if (flags == 0)
            ManagedFibers.CheckMaySuspend();
        // Cancellation is one more case: an event channel that the token closes.
        Channel<byte>? cancelled = token.CanBeCanceled ? new Channel<byte>() : null;
        int total = cases.Length + (cancelled != null ? 1 : 0);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(ValueBytes(cases), 1));
        var native = stackalloc Interop.fbr_select_case[total];
        int entered = 0;
        bool cancelEntered = false;
        CancellationTokenRegistration registration = default;
        try
        {
            fixed (byte* values = buffer)
            {
                EnterCases(cases, native, values, ref entered);
                if (cancelled != null)
                {
                    native[cases.Length] = new Interop.fbr_select_case { chan = cancelled.EnterHandle(), op = Interop.FBR_SELECT_RECV };
                    cancelEntered = true;
                    registration = token.UnsafeRegister(static s => ((Channel<byte>)s!).TryClose(), cancelled);
                }
                nuint chosen;
                int rc = Interop.fbr_select(native, (nuint)total, deadline, flags, &chosen);
                if (rc == Interop.FBR_ETIMEDOUT || rc == Interop.FBR_EAGAIN)
                    return -1;
                FiberErrors.ThrowIfFailed(rc);
                if ((int)chosen == cases.Length)
                    throw new OperationCanceledException(token);
                return TakeWinner(cases, native, chosen);
            }
        }
        finally
        {
            registration.Dispose();
            if (cancelled != null)
            {
                if (cancelEntered)
                    cancelled.ExitHandle();
                cancelled.Dispose();
            }
            for (int i = 0; i < entered; i++)
                cases[i].Exit();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The native select's case array and value buffers in one native block, every channel referenced:
    /// what a waiting fiber or a pending async select holds instead of managed memory
    /// (<see cref="ReleaseNative"/> gives it back).
    /// </summary>
    private static unsafe nint PrepareNative(SelectCase[] cases)
    {
        CheckCaseCount(cases);
        int header = SlotBytes(cases.Length * sizeof(Interop.fbr_select_case));
        byte* block = (byte*)NativeMemory.AllocZeroed((nuint)(header + ValueBytes(cases)));
        int entered = 0;
        try
        {
            EnterCases(cases, (Interop.fbr_select_case*)block, block + header, ref entered);
        }
        catch
        {
            for (int i = 0; i < entered; i++)
                cases[i].Exit();
            NativeMemory.Free(block);
            throw;
        }
        return (nint)block;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe int WaitOnFiber(Revisit<SelectCase[]> self, nint block, int count, long deadline)
    {
        nuint chosen;
        int rc = Interop.fbr_select((Interop.fbr_select_case*)block, (nuint)count, deadline, 0, &chosen);
        return Finish(self.Take(), block, rc, chosen);
    }

    private static unsafe int Finish(SelectCase[] cases, nint block, int rc, nuint chosen)
    {
        var native = (Interop.fbr_select_case*)block;
        try
        {
            if (rc == Interop.FBR_ETIMEDOUT)
                return -1;
            FiberErrors.ThrowIfFailed(rc);
            return TakeWinner(cases, native, chosen);
        }
        finally
        {
            ReleaseNative(cases, block);
        }
    }

    /// <summary>Drops the references <see cref="PrepareNative"/> took and frees its block.</summary>
    internal static unsafe void ReleaseNative(SelectCase[] cases, nint block)
    {
        foreach (SelectCase c in cases)
            c.Exit();
        NativeMemory.Free((void*)block);
    }

    // ---- shared by the thread and fiber forms ------------------------------------------------

    private static void CheckCaseCount(ReadOnlySpan<SelectCase> cases)
    {
        if (cases.Length == 0 || cases.Length > MaxCases)
            throw new ArgumentOutOfRangeException(nameof(cases), cases.Length, $"a select takes 1 to {MaxCases} cases");
    }

    /// <summary>Each value's slot in the value buffer, rounded up to 16 bytes.</summary>
    private static int SlotBytes(int size) => (size + 15) & ~15;

    /// <summary>The value buffer's size for <paramref name="cases"/>, none of which may be null.</summary>
    private static int ValueBytes(ReadOnlySpan<SelectCase> cases)
    {
        int bytes = 0;
        foreach (SelectCase c in cases)
        {
            ArgumentNullException.ThrowIfNull(c, nameof(cases));
            bytes += SlotBytes(c.Size);
        }
        return bytes;
    }

    /// <summary>
    /// References each case's channel and lays the cases out for the native select, values in
    /// <paramref name="values"/>; <paramref name="entered"/> counts the channels referenced so far, for the
    /// caller's clean-up if one fails.
    /// </summary>
    private static unsafe void EnterCases(ReadOnlySpan<SelectCase> cases, Interop.fbr_select_case* native, byte* values, ref int entered)
    {
        for (; entered < cases.Length; entered++)
        {
            SelectCase c = cases[entered];
            native[entered] = new Interop.fbr_select_case { chan = c.Enter(), op = c.Operation, elem = (nint)values };
            c.Write(values);
            values += SlotBytes(c.Size);
        }
    }

    /// <summary>Records on the chosen case whether its channel was closed, reads its value if not; its index.</summary>
    private static unsafe int TakeWinner(ReadOnlySpan<SelectCase> cases, Interop.fbr_select_case* native, nuint chosen)
    {
        SelectCase winner = cases[(int)chosen];
        winner.ChannelClosed = native[chosen].result == Interop.FBR_ECLOSED;
        if (!winner.ChannelClosed)
            winner.Read((byte*)native[chosen].elem);
        return (int)chosen;
    }
}
