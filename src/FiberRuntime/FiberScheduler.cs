using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// An M:N scheduler: fibers multiplexed over one worker thread per core, with work stealing. A fiber that
/// waits on a channel, a wait group, a join or a sleep parks and its worker runs others; an idle worker
/// sleeps and uses no CPU.
/// </summary>
/// <remarks>
/// Fiber bodies here are native functions (<c>void *(*)(void *)</c>, for example from a C library). A C#
/// thread talks to them through <see cref="Channel{T}"/>, <see cref="WaitGroup"/> and <see cref="Fiber.Join()"/>:
/// those block the calling thread, and their async forms block nothing.
/// </remarks>
/// <example>
/// <code>
/// using var scheduler = new FiberScheduler();                 // one worker per core
/// Fiber fiber = scheduler.Spawn(&amp;native_entry, argument);   // delegate* unmanaged&lt;nint, nint&gt;
/// nint result = fiber.Join();                                  // blocks this thread until it returns
/// </code>
/// </example>
public sealed class FiberScheduler : IDisposable
{
    private readonly NativeHandle _handle;
    private readonly TimeSpan _disposeTimeout;
    private int _shutDown;

    /// <summary>Starts a scheduler and its worker threads.</summary>
    public unsafe FiberScheduler(FiberSchedulerOptions? options = null)
    {
        options ??= new FiberSchedulerOptions();
        if (options.Workers < 0 || options.Workers > Interop.FBR_SCHED_MAX_WORKERS)
            throw new ArgumentOutOfRangeException(nameof(options), options.Workers,
                $"workers must be between 0 (one per CPU) and {Interop.FBR_SCHED_MAX_WORKERS}");
        if (options.DisposeTimeout < TimeSpan.Zero && options.DisposeTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(options), options.DisposeTimeout, "DisposeTimeout must be non-negative or infinite");
        _disposeTimeout = options.DisposeTimeout;
        Runtime.Initialize();
        var native = new Interop.fbr_sched_options
        {
            workers = (uint)options.Workers,
            // Every worker runs its loop through C#, so that C# fibers can be resumed from one fixed frame.
            worker_main = ManagedFibers.WorkerMainPointer,
            worker_context = options.VerifySuspensions ? ManagedFibers.VerifyFlag : 0,
        };
        VerifySuspensions = options.VerifySuspensions;
        nint scheduler;
        FiberErrors.ThrowIfFailed(Interop.fbr_sched_create(&scheduler, &native));
        _handle = new NativeHandle(scheduler, Interop.fbr_sched_destroy);
        WorkerCount = GetStats().Workers;
    }

    /// <summary>Number of worker threads.</summary>
    public int WorkerCount { get; }

    /// <summary>Whether C# fiber suspensions are verified with a compacting GC (see <see cref="FiberSchedulerOptions.VerifySuspensions"/>).</summary>
    public bool VerifySuspensions { get; }

    /// <summary>
    /// Starts <paramref name="body"/> as a C# fiber on this scheduler, with <paramref name="state"/> kept
    /// where the GC neither moves nor loses it for the fiber's whole life (see <see cref="FiberBody{TState}"/>
    /// for the rules). The fiber stays on the worker it starts on. Join it to learn that it finished and to
    /// get back what it threw.
    /// </summary>
    public unsafe Fiber Spawn<TState>(FiberBody<TState> body, TState state, FiberOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        ManagedFibers.CheckBodyIsOptimised(body);
        StateCell<TState>[] cell = GC.AllocateArray<StateCell<TState>>(1, pinned: true);
        cell[0].Body = body;
        cell[0].State = state;
        var start = new ManagedStart(cell, &ManagedFibers.Run<TState>, body.Target);
        try
        {
            nint fiber = SpawnCore(ManagedFibers.EntryPointer, start.Handle, options, joinable: true, hosted: true);
            return new Fiber(fiber, start);
        }
        catch
        {
            start.Release();
            throw;
        }
    }

    /// <summary>The native <c>fbr_sched *</c>, for passing to native code; valid until disposal.</summary>
    public nint NativeHandle => _handle.IsClosed ? throw new ObjectDisposedException(nameof(FiberScheduler)) : _handle.DangerousGetHandle();

    /// <summary>
    /// Starts <paramref name="entry"/>(<paramref name="argument"/>) as a fiber and returns it for joining.
    /// Callable from any thread. ObjectDisposedException once the scheduler is shut down.
    /// </summary>
    public unsafe Fiber Spawn(delegate* unmanaged<nint, nint> entry, nint argument = 0, FiberOptions? options = null)
    {
        nint fiber = SpawnCore(entry, argument, options, joinable: true, hosted: false);
        return new Fiber(fiber);
    }

    /// <summary>Starts a fiber that frees itself when it returns (no join).</summary>
    public unsafe void SpawnDetached(delegate* unmanaged<nint, nint> entry, nint argument = 0, FiberOptions? options = null)
        => SpawnCore(entry, argument, options, joinable: false, hosted: false);

    private unsafe nint SpawnCore(delegate* unmanaged<nint, nint> entry, nint argument, FiberOptions? options, bool joinable,
                                  bool hosted)
    {
        if (entry == null)
            throw new ArgumentNullException(nameof(entry));
        options?.Validate();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _shutDown) != 0, this);
        var native = new Interop.fbr_spawn_options
        {
            stack_max = (nuint)(options?.StackSize ?? 0),
            stack_initial = (nuint)(options?.InitialStackSize ?? 0),
            pinned = options?.Pinned == true ? 1 : 0,
            hosted = hosted ? 1 : 0,
        };
        // fbr_spawn copies the name, so a stack buffer suffices.
        Span<byte> name = stackalloc byte[Interop.FBR_FIBER_NAME_MAX];
        nint fiber = 0;
        nint scheduler = _handle.Enter(this);
        try
        {
            fixed (byte* namePtr = name)
            {
                if (options?.Name is { } text)
                {
                    int length = Utf8Prefix(text, name[..^1]);
                    name[length] = 0;
                    native.name = (nint)namePtr;
                }
                int rc = Interop.fbr_spawn(scheduler, joinable ? &fiber : null, entry, argument, &native);
                FiberErrors.ThrowIfFailed(rc, nameof(FiberScheduler));
            }
        }
        finally
        {
            _handle.Exit();
        }
        return fiber;
    }

    /// <summary>Copies as much of <paramref name="text"/> as fits, never splitting a character.</summary>
    private static int Utf8Prefix(string text, Span<byte> destination)
    {
        Encoding.UTF8.GetEncoder().Convert(text, destination, flush: true, out _, out int bytes, out _);
        return bytes;
    }

    /// <summary>The scheduler's figures, with each worker's.</summary>
    public unsafe SchedulerStats GetStats()
    {
        nint scheduler = _handle.Enter(this);
        try
        {
            Interop.fbr_sched_stats stats;
            var perWorker = new Interop.fbr_worker_stats[Interop.FBR_SCHED_MAX_WORKERS];
            fixed (Interop.fbr_worker_stats* p = perWorker)
                FiberErrors.ThrowIfFailed(Interop.fbr_sched_stats_get(scheduler, &stats, p, (nuint)perWorker.Length));
            var workers = perWorker.Take((int)stats.workers)
                .Select(w => new WorkerStats((long)w.runs, (long)w.steals, (long)w.parks, (long)w.runnable))
                .ToArray();
            return new SchedulerStats((int)stats.workers, (long)stats.live_fibers, (long)stats.spawned,
                                      (long)stats.finished, workers);
        }
        finally
        {
            _handle.Exit();
        }
    }

    /// <summary>
    /// Stops accepting fibers from outside and waits up to <paramref name="timeout"/> for every fiber to
    /// finish. Returns true when all finished (the workers have exited); false with the fibers still
    /// running otherwise (those that have started; <see cref="StillAlive"/> counts the others too), in
    /// which case they keep running and shutdown may be tried again.
    /// </summary>
    public unsafe bool Shutdown(TimeSpan timeout, out IReadOnlyList<FiberInfo> stillRunning)
    {
        long deadline = Runtime.DeadlineAfter(timeout, nameof(timeout));
        stillRunning = Array.Empty<FiberInfo>();
        if (_handle.IsClosed)
            return true;
        Volatile.Write(ref _shutDown, 1);
        nint scheduler = _handle.Enter(this);
        try
        {
            const int Reported = 64;
            var infos = stackalloc Interop.fbr_fiber_info[Reported];
            nuint count;
            int rc = Interop.fbr_sched_shutdown(scheduler, deadline, infos, Reported, &count);
            if (rc == Interop.FBR_ETIMEDOUT)
            {
                var list = new List<FiberInfo>();
                for (int i = 0; i < Math.Min((int)count, Reported); i++)
                    if (infos[i].id != 0) // id 0: a fiber that has not started yet, counted in StillAlive only
                        list.Add(new FiberInfo(infos[i].id, Marshal.PtrToStringUTF8((nint)infos[i].name) ?? ""));
                stillRunning = list;
                StillAlive = (long)count;
                return false;
            }
            FiberErrors.ThrowIfFailed(rc, nameof(FiberScheduler));
            StillAlive = 0;
            return true;
        }
        finally
        {
            _handle.Exit();
        }
    }

    /// <summary>Fibers alive when the last <see cref="Shutdown"/> gave up (the report lists those that have started).</summary>
    public long StillAlive { get; private set; }

    /// <summary>
    /// Shuts the scheduler down, waiting up to <see cref="FiberSchedulerOptions.DisposeTimeout"/> for its
    /// fibers, then frees it. If fibers are still running then, throws <see cref="FiberSchedulerShutdownException"/>
    /// naming them; the scheduler stays alive (nothing is freed under a running fiber) and Dispose may be
    /// called again.
    /// </summary>
    public void Dispose()
    {
        if (_handle.IsClosed)
            return;
        if (!Shutdown(_disposeTimeout, out var stillRunning))
            throw new FiberSchedulerShutdownException(StillAlive, stillRunning);
        _handle.Dispose();
    }
}

/// <summary>Disposing a scheduler gave up waiting for fibers that are still running.</summary>
public sealed class FiberSchedulerShutdownException : TimeoutException
{
    /// <summary>Creates the report.</summary>
    public FiberSchedulerShutdownException(long alive, IReadOnlyList<FiberInfo> stillRunning)
        : base(Describe(alive, stillRunning))
    {
        Alive = alive;
        StillRunning = stillRunning;
    }

    /// <summary>Fibers alive when the wait ended.</summary>
    public long Alive { get; }

    /// <summary>Those of them that had started running (up to 64).</summary>
    public IReadOnlyList<FiberInfo> StillRunning { get; }

    private static string Describe(long alive, IReadOnlyList<FiberInfo> stillRunning)
    {
        var text = new StringBuilder($"the scheduler could not shut down: {alive} fiber(s) still running");
        if (stillRunning.Count > 0)
            text.Append(": ").AppendJoin(", ", stillRunning.Select(f => f.Name.Length > 0 ? $"{f.Id} ({f.Name})" : f.Id.ToString(CultureInfo.InvariantCulture)));
        return text.ToString();
    }
}
