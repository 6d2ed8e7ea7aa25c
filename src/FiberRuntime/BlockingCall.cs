using System;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace FiberRuntime;

/// <summary>
/// <see cref="Fiber.RunBlocking{TResult}"/>: a call that would block (file I/O, DNS, a blocking library)
/// runs on one of the runtime's blocking-call threads (<c>fbr_blocking_call</c>) while the C# fiber parks.
/// Across the park the fiber's frame holds only a GC handle to the work.
/// </summary>
internal static unsafe class BlockingCall
{
    private abstract class Work
    {
        public ExceptionDispatchInfo? Failure;
        public abstract void Run();
    }

    private sealed class Work<TResult>(Func<TResult> call) : Work
    {
        public TResult Result = default!;

        public override void Run()
        {
            try
            {
                Result = call();
            }
            catch (Exception e)
            {
                Failure = ExceptionDispatchInfo.Capture(e);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static TResult Run<TResult>(Func<TResult> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (!ManagedFibers.OnManagedFiber)
            return call(); // a thread stalls nobody else
        nint handle = GCHandle.ToIntPtr(GCHandle.Alloc(new Work<TResult>(call)));
        int rc = RunOnPool(handle);
        GCHandle gc = GCHandle.FromIntPtr(handle);
        var work = (Work<TResult>)gc.Target!;
        gc.Free();
        FiberErrors.ThrowIfFailed(rc);
        work.Failure?.Throw();
        return work.Result;
    }

    // Parks the fiber; nothing managed in this frame.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static int RunOnPool(nint handle) => Interop.fbr_blocking_call(&OnPoolThread, handle, null);

    [UnmanagedCallersOnly]
    private static nint OnPoolThread(nint handle)
    {
        ((Work)GCHandle.FromIntPtr(handle).Target!).Run();
        return 0;
    }
}
