using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>What a fiber is doing (<c>fbr_fiber_state</c>).</summary>
public enum FiberState
{
    /// <summary>Spawned, not yet run.</summary>
    Created = Interop.FBR_FIBER_CREATED,
    /// <summary>Parked on a channel, a wait group, a join or a sleep, or runnable and waiting for a worker.</summary>
    Suspended = Interop.FBR_FIBER_SUSPENDED,
    /// <summary>Running on a worker.</summary>
    Running = Interop.FBR_FIBER_RUNNING,
    /// <summary>Returned; its result waits for the join.</summary>
    Finished = Interop.FBR_FIBER_FINISHED,
}

/// <summary>
/// A joinable fiber started by <see cref="FiberScheduler.Spawn"/>. Join it (or detach it) exactly once:
/// joining returns the entry function's result and frees the fiber. A fiber that is neither joined nor
/// detached is detached when this object is collected, so it frees itself when it returns.
/// </summary>
public sealed class Fiber
{
    private const int Joinable = 0, Busy = 1, Released = 2;
    private readonly nint _fiber;
    private readonly ManagedStart? _managed; // a C# body: its failure is rethrown by the join
    private int _state; // Joinable -> Busy (a join in progress) -> Released, or back to Joinable on timeout

    internal Fiber(nint fiber, ManagedStart? managed = null)
    {
        _fiber = fiber;
        _managed = managed;
        Id = Interop.fbr_fiber_id(fiber);
    }

    /// <summary>
    /// Lets the other runnable fibers of this worker run; the calling C# fiber continues afterwards.
    /// InvalidOperationException outside a C# fiber body.
    /// </summary>
    [MaySuspend]
    public static void Yield()
    {
        int rc = Interop.fbr_yield_hosted();
        if (rc != 0)
            ThrowYieldFailed(rc);
    }

    private static void ThrowYieldFailed(int rc)
    {
        if (rc == Interop.FBR_ENOTFIBER)
            throw new InvalidOperationException("Fiber.Yield must be called from a C# fiber body (FiberScheduler.Spawn with a FiberBody)");
        FiberErrors.ThrowIfFailed(rc);
    }

    /// <summary>Parks the calling C# fiber for <paramref name="duration"/> (its worker runs others); a thread sleeps.</summary>
    [MaySuspend]
    public static void Sleep(TimeSpan duration)
    {
        long deadline = Runtime.DeadlineAfter(duration, nameof(duration));
        ManagedFibers.CheckMaySuspend();
        FiberErrors.ThrowIfFailed(Interop.fbr_sleep_until(deadline));
    }

    /// <summary>
    /// Runs <paramref name="call"/>, which may block its thread (file I/O, DNS, a blocking library), without
    /// stalling the worker: on a C# fiber it runs on one of the runtime's blocking-call threads while the
    /// fiber parks, and its result or exception comes back here; elsewhere it simply runs. The call runs on
    /// another thread: thread-local state is not the fiber's.
    /// </summary>
    /// <example><code>byte[] data = Fiber.RunBlocking(() =&gt; File.ReadAllBytes(path));</code></example>
    [MaySuspend]
    public static TResult RunBlocking<TResult>(Func<TResult> call) => BlockingCall.Run(call);

    /// <summary>Whether the caller is running as a C# fiber body.</summary>
    public static bool IsOnFiber => ManagedFibers.OnManagedFiber;

    /// <summary>The index of the scheduler worker running the caller, or -1 on a plain thread.</summary>
    public static int CurrentWorker => Interop.fbr_worker_current();

    /// <summary>The id of the fiber running the caller, or 0 on a plain thread.</summary>
    public static ulong CurrentId => Interop.fbr_fiber_id(Interop.fbr_fiber_self());

    /// <summary>Destructor: detaches a fiber nobody joined, so its record is freed when it returns.</summary>
    ~Fiber()
    {
        if (_state == Joinable && Interop.fbr_detach(_fiber) == Interop.FBR_OK)
            _managed?.Detach(); // a failure of a body nobody joins is lost, as with an unobserved Task
    }

    /// <summary>The fiber's id, unique in the process.</summary>
    public ulong Id { get; }

    /// <summary>
    /// What the fiber is doing now: Created (not yet run), Running, Suspended (parked or waiting for its
    /// turn) or Finished. A snapshot: it may change as soon as it is read. InvalidOperationException once
    /// joined or detached.
    /// </summary>
    public FiberState State
    {
        get
        {
            if (Volatile.Read(ref _state) == Released)
                throw new InvalidOperationException($"fiber {Id} has been joined or detached");
            int status = Interop.fbr_fiber_status(_fiber);
            FiberErrors.ThrowIfFailed(status);
            return (FiberState)status;
        }
    }

    /// <summary>
    /// Waits for the fiber to return and gives its result (0 for a C# body). A thread blocks; a C# fiber
    /// parks. An exception that escaped a C# body is rethrown here with its original stack trace.
    /// </summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe nint Join()
    {
        if (ManagedFibers.OnManagedFiber)
        {
            Begin();
            // `this` must not be touched after the join: the fiber may have been suspended in it.
            _ = JoinOnFiber(new Revisit<Fiber>(this), _fiber, Interop.FBR_NO_DEADLINE, out nint joined);
            return joined;
        }
        ManagedFibers.CheckMaySuspend();
        Begin();
        nint result;
        int rc = Interop.fbr_join(_fiber, &result);
        End(rc);
        AfterJoin();
        return result;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/>; false if the fiber is still running then (it stays joinable).
    /// </summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public unsafe bool TryJoin(TimeSpan timeout, out nint result)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (ManagedFibers.OnManagedFiber)
        {
            Begin();
            return JoinOnFiber(new Revisit<Fiber>(this), _fiber, deadline, out result);
        }
        ManagedFibers.CheckMaySuspend();
        Begin();
        nint value;
        int rc = Interop.fbr_join_until(_fiber, &value, deadline);
        if (rc == Interop.FBR_ETIMEDOUT)
        {
            Volatile.Write(ref _state, Joinable);
            result = 0;
            return false;
        }
        End(rc);
        AfterJoin();
        result = value;
        return true;
    }

    /// <summary>A join from a C# fiber: nothing managed stays in this frame across the native call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool JoinOnFiber(Revisit<Fiber> self, nint fiber, long deadline, out nint result)
    {
        nint value;
        int rc = Interop.fbr_join_until(fiber, &value, deadline);
        Fiber joined = self.Take();
        result = 0;
        if (rc == Interop.FBR_ETIMEDOUT)
        {
            Volatile.Write(ref joined._state, Joinable);
            return false;
        }
        joined.End(rc);
        joined.AfterJoin();
        result = value;
        return true;
    }

    /// <summary>Lets the fiber free itself when it returns; it can no longer be joined.</summary>
    public void Detach()
    {
        Begin();
        End(Interop.fbr_detach(_fiber));
        _managed?.Detach();
    }

    private void Begin()
    {
        int previous = Interlocked.CompareExchange(ref _state, Busy, Joinable);
        if (previous == Busy)
            throw new InvalidOperationException($"fiber {Id} is being joined by another thread");
        if (previous == Released)
            throw new InvalidOperationException($"fiber {Id} has already been joined or detached");
    }

    private void End(int rc)
    {
        if (rc < 0)
        {
            Volatile.Write(ref _state, Joinable);
            throw FiberErrors.Create(rc);
        }
        Volatile.Write(ref _state, Released);
#pragma warning disable CA1816 // joined or detached: the finalizer has nothing left to do
        GC.SuppressFinalize(this);
#pragma warning restore CA1816
    }

    /// <summary>After a successful join: a C# body's handles go, and what it threw comes back.</summary>
    private void AfterJoin()
    {
        if (_managed == null)
            return;
        _managed.Release();
        _managed.Failure?.Throw();
    }

    /// <inheritdoc/>
    public override string ToString() => $"Fiber {Id}";
}
