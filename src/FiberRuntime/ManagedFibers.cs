using System;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// How C# fiber bodies run (facts, section 4). Every scheduler made from C# hands its worker threads to
/// <see cref="WorkerMain"/>: the native loop runs native fibers and returns here whenever the next fiber is
/// a C# one, which is then resumed from this one frame, so every managed fiber's frames link to the same
/// transition frame on the worker's own stack. C# fibers never migrate (the native side pins them).
/// Nothing the fiber's frames refer to may move or die while it is suspended: its state and its body's
/// target live in pinned memory, and the frames between the native entry and the body hold nothing else.
/// </summary>
internal static unsafe class ManagedFibers
{
    /// <summary>
    /// Whether the caller is a C# fiber body (a hosted fiber), as the scheduler knows it: false on threads,
    /// on native fibers, and in the completion callbacks a worker runs between fibers (where a thread-static
    /// flag set around each resume would still say "on a fiber").
    /// </summary>
    internal static bool OnManagedFiber => Interop.fbr_worker_hosted_current() != 0;

    internal static delegate* unmanaged<nint, uint, void> WorkerMainPointer => &WorkerMain;

    internal static delegate* unmanaged<nint, nint> EntryPointer => &Entry;

    /// <summary>Context bit: force a compacting GC after every suspension of a C# fiber.</summary>
    internal const nint VerifyFlag = 1;

    [UnmanagedCallersOnly]
    private static void WorkerMain(nint context, uint workerIndex)
    {
        try
        {
            RunWorkerLoop(context);
        }
        catch (Exception e)
        {
            // Nothing may unwind into the native loop; a broken worker loop is not recoverable.
            Environment.FailFast($"FiberRuntime worker {workerIndex} failed", e);
        }
    }

    /// <summary>
    /// No try/catch here, and never inlined into <see cref="WorkerMain"/>'s: inside a try block the 64-bit JIT
    /// calls a P/Invoke through an IL stub, whose transition frame is unlinked only in its epilogue, after a
    /// C# fiber that just suspended has left its own frame on top of the chain. A GC stopping the worker there
    /// walked the suspended fiber and crashed (facts §4; WorkerLoopShapeTests checks this shape).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void RunWorkerLoop(nint context)
    {
        bool verify = (context & VerifyFlag) != 0;
        nint hosted;
        if (Interop.fbr_worker_run(&hosted) != 1)
            return;
        // One call per switch: resume the fiber, then run native fibers until the next C# one (a C# yield took
        // 60 ns with fbr_worker_resume and fbr_worker_run as two calls, 55 ns with one).
        while (Interop.fbr_worker_resume_next(hosted, &hosted) == 1) // only fails for a fiber not handed out
        {
            if (verify)
                CollectWhileSuspended();
        }
    }

    /// <summary>
    /// The fiber that just suspended is invisible to this GC: anything only its frames refer to is freed or
    /// moved now, so a frame that broke the rules fails on its next use instead of some day.
    /// </summary>
    private static void CollectWhileSuspended()
    {
        _ = new byte[64]; // something young for the compaction to move
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        // Reuse what was just freed, so that a stale reference finds something else where its object was.
        for (int i = 0; i < 16; i++)
            Array.Fill(new long[256], unchecked((long)0xDEADBEEFDEADBEEF));
    }

    [UnmanagedCallersOnly]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static nint Entry(nint handle)
    {
        try
        {
            Dispatch(handle);
        }
        catch (Exception e)
        {
            // Handed to the joiner with its stack trace; never to the native caller.
            Start(handle).Failure = ExceptionDispatchInfo.Capture(e);
        }
        Start(handle).Finished();
        return 0;
    }

    private static ManagedStart Start(nint handle) => (ManagedStart)GCHandle.FromIntPtr(handle).Target!;

    /// <summary>
    /// Optimised, so that <c>start</c> is dead (and unreported) once the runner is called: from there on the
    /// frame holds only the pinned state array.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Dispatch(nint handle)
    {
        ManagedStart start = Start(handle);
        object pinnedState = start.PinnedState;
        delegate*<object, void> runner = start.Runner;
        runner(pinnedState);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void Run<TState>(object pinnedState)
    {
        var cell = Unsafe.As<StateCell<TState>[]>(pinnedState);
        cell[0].Body(ref cell[0].State);
    }

    /// <summary>
    /// Under the JIT a body must be compiled optimised from the start: unoptimised (tier-0) code reports every
    /// reference local and temporary as live for the whole method, so a reference left from before a
    /// suspension would be handed to the GC afterwards, pointing where its object used to be. NativeAOT
    /// code is always optimised.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Only reads the flags of a method that is being called.")]
    internal static void CheckBodyIsOptimised(Delegate body)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return;
        if ((body.Method.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization) == 0)
            throw new ArgumentException(
                "under the JIT a fiber body must be marked [MethodImpl(MethodImplOptions.AggressiveOptimization)] " +
                $"({body.Method.Name}): unoptimised code would show the GC references left over from before a suspension",
                nameof(body));
    }

    /// <summary>Throws when C# code is about to suspend a fiber it does not own.</summary>
    internal static void CheckMaySuspend()
    {
        if (OnManagedFiber)
            return;
        if (Interop.fbr_fiber_self() != 0)
            throw new InvalidOperationException(
                "C# code running on a native fiber cannot suspend it (its frames would be invisible to the GC " +
                "from an unknown frame); spawn the code as a C# fiber body with FiberScheduler.Spawn(FiberBody<T>, ...)");
    }
}

/// <summary>A C# fiber body and its state, in a pinned one-element array (the Pinned Object Heap never moves).</summary>
internal struct StateCell<TState>
{
    public FiberBody<TState> Body;
    public TState State;
}

/// <summary>What the native entry of a C# fiber finds through its handle.</summary>
internal sealed unsafe class ManagedStart
{
    private GCHandle _self;
    private GCHandle _pinnedTarget;

    public ManagedStart(object pinnedState, delegate*<object, void> runner, object? bodyTarget)
    {
        PinnedState = pinnedState;
        Runner = runner;
        if (bodyTarget != null)
        {
            try
            {
                // A static lambda's target is the compiler's empty singleton: pin it, since an unoptimised
                // body reports it as live for its whole run.
                _pinnedTarget = GCHandle.Alloc(bodyTarget, GCHandleType.Pinned);
            }
            catch (ArgumentException)
            {
                throw new ArgumentException(
                    "a fiber body must be a static lambda or a static method: a lambda that captures managed objects " +
                    "keeps them in a closure that only the suspended fiber's frames would hold; put them in the state");
            }
        }
        _self = GCHandle.Alloc(this);
    }

    public object PinnedState { get; }

    public delegate*<object, void> Runner { get; }

    public ExceptionDispatchInfo? Failure { get; set; }

    public nint Handle => GCHandle.ToIntPtr(_self);

    private const int Running = 0, Done = 1, Abandoned = 2;
    private int _life; // Running, then Done (the body returned) or Abandoned (detached), then released by the second

    /// <summary>On the fiber, as its body has returned.</summary>
    public void Finished()
    {
        ReleasePins();
        if (Interlocked.CompareExchange(ref _life, Done, Running) == Abandoned)
            Release();
    }

    /// <summary>Nobody will join: the second of body end and detach frees the handle.</summary>
    public void Detach()
    {
        if (Interlocked.CompareExchange(ref _life, Abandoned, Running) == Done)
            Release();
    }

    private void ReleasePins()
    {
        if (_pinnedTarget.IsAllocated)
            _pinnedTarget.Free();
    }

    /// <summary>After the join: nothing native refers to this any more.</summary>
    public void Release()
    {
        ReleasePins();
        if (_self.IsAllocated)
            _self.Free();
    }
}
