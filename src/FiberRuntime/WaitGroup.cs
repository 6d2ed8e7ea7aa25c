using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// Go's sync.WaitGroup, shared by fibers and threads: <see cref="Add"/> before starting work,
/// <see cref="Done"/> when each part ends, <see cref="Wait()"/> until the count is zero (a fiber parks; a
/// thread blocks). Pass <see cref="NativeHandle"/> to native fibers that call <c>fbr_waitgroup_done</c>.
/// </summary>
/// <example>
/// <code>
/// using var done = new WaitGroup();
/// done.Add(workers);
/// for (int i = 0; i &lt; workers; i++) scheduler.SpawnDetached(&amp;work, done.NativeHandle);
/// done.Wait();
/// </code>
/// </example>
public sealed class WaitGroup : IDisposable
{
    private readonly NativeHandle _handle;

    /// <summary>Creates a wait group with a count of zero.</summary>
    public unsafe WaitGroup()
    {
        nint wg;
        FiberErrors.ThrowIfFailed(Interop.fbr_waitgroup_create(&wg));
        _handle = new NativeHandle(wg, Interop.fbr_waitgroup_destroy);
    }

    /// <summary>The native <c>fbr_waitgroup *</c>; valid until disposal.</summary>
    public nint NativeHandle => _handle.IsClosed ? throw new ObjectDisposedException(nameof(WaitGroup)) : _handle.DangerousGetHandle();

    /// <summary>The count now.</summary>
    public long Count
    {
        get
        {
            nint wg = _handle.Enter(this);
            try { return Interop.fbr_waitgroup_count(wg); }
            finally { _handle.Exit(); }
        }
    }

    /// <summary>Adds <paramref name="delta"/> (may be negative). InvalidOperationException if the count would go below zero.</summary>
    public void Add(long delta = 1)
    {
        nint wg = _handle.Enter(this);
        try { Check(Interop.fbr_waitgroup_add(wg, delta)); }
        finally { _handle.Exit(); }
    }

    /// <summary>Subtracts one.</summary>
    public void Done()
    {
        nint wg = _handle.Enter(this);
        try { Check(Interop.fbr_waitgroup_done(wg)); }
        finally { _handle.Exit(); }
    }

    /// <summary>Blocks until the count is zero.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Wait()
    {
        if (ManagedFibers.OnManagedFiber)
        {
            WaitOnFiber(new Revisit<WaitGroup>(this), _handle.Enter(this), Interop.FBR_NO_DEADLINE);
            return;
        }
        ManagedFibers.CheckMaySuspend();
        nint wg = _handle.Enter(this);
        try { FiberErrors.ThrowIfFailed(Interop.fbr_waitgroup_wait(wg)); }
        finally { _handle.Exit(); }
    }

    /// <summary>Blocks until the count is zero or <paramref name="timeout"/> passes; false on timeout.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Wait(TimeSpan timeout)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        if (ManagedFibers.OnManagedFiber)
            return WaitOnFiber(new Revisit<WaitGroup>(this), _handle.Enter(this), deadline);
        ManagedFibers.CheckMaySuspend();
        nint wg = _handle.Enter(this);
        try
        {
            int rc = Interop.fbr_waitgroup_wait_until(wg, deadline);
            if (rc == Interop.FBR_ETIMEDOUT)
                return false;
            FiberErrors.ThrowIfFailed(rc);
            return true;
        }
        finally { _handle.Exit(); }
    }

    /// <summary>A wait from a C# fiber: nothing managed stays in this frame across the native call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool WaitOnFiber(Revisit<WaitGroup> self, nint wg, long deadline)
    {
        int rc = Interop.fbr_waitgroup_wait_until(wg, deadline);
        self.Take()._handle.Exit();
        if (rc == Interop.FBR_ETIMEDOUT)
            return false;
        FiberErrors.ThrowIfFailed(rc);
        return true;
    }

    private static void Check(int rc)
    {
        // A negative count is a caller's mistake, not a bad argument value.
        if (rc == Interop.FBR_EINVAL)
        {
            var e = FiberErrors.Create(rc);
            throw new InvalidOperationException(e.Message);
        }
        FiberErrors.ThrowIfFailed(rc);
    }

    /// <summary>Frees the wait group. InvalidOperationException if someone is still waiting on it.</summary>
    public void Dispose()
    {
        _handle.Dispose();
        if (_handle.ReleaseResult < 0)
            throw FiberErrors.Create(_handle.ReleaseResult, nameof(WaitGroup));
    }
}
