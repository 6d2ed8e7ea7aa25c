using System;
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
    private int _state; // Joinable -> Busy (a join in progress) -> Released, or back to Joinable on timeout

    internal Fiber(nint fiber)
    {
        _fiber = fiber;
        Id = Interop.fbr_fiber_id(fiber);
    }

    /// <summary>Destructor: detaches a fiber nobody joined, so its record is freed when it returns.</summary>
    ~Fiber()
    {
        if (_state == Joinable)
            _ = Interop.fbr_detach(_fiber); // nothing to report to from a finalizer
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

    /// <summary>Waits for the fiber to return (blocking this thread) and gives its result.</summary>
    public unsafe nint Join()
    {
        Begin();
        nint result;
        int rc = Interop.fbr_join(_fiber, &result);
        End(rc);
        return result;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/>; false if the fiber is still running then (it stays joinable).
    /// </summary>
    public unsafe bool TryJoin(TimeSpan timeout, out nint result)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
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
        result = value;
        return true;
    }

    /// <summary>Lets the fiber free itself when it returns; it can no longer be joined.</summary>
    public void Detach()
    {
        Begin();
        End(Interop.fbr_detach(_fiber));
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

    /// <inheritdoc/>
    public override string ToString() => $"Fiber {Id}";
}
