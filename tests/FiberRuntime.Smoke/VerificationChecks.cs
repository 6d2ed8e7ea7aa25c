using System;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FiberRuntime.Smoke;

/// <summary>
/// Verification mode must turn a broken rule into a failure every time. The child breaks the rule on
/// purpose: a C# fiber keeps a reference to an object in a local across yields. With verification on, the
/// compacting GC during each suspension moves the object and updates every reference it can see (the one in
/// the fiber's state) but not the invisible local, which is left pointing at the old place.
/// </summary>
internal static partial class ChildChecks
{
    private const long Magic = 0x5EEDF00D_CAFEBABE;

    private sealed class Marked(long stamp)
    {
        public long Stamp = stamp;
    }

    private sealed class BreakerState
    {
        public int Bad;
        public Marked? Kept;
        public Marked[] Neighbours = new Marked[1000];
    }

    private static int BreakTheRule(bool verify)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1, VerifySuspensions = verify });
        var state = new BreakerState();
#pragma warning disable FBR1001, FBR1005 // the breach under test
        Fiber fiber = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref BreakerState s) =>
        {
            // Garbage, then the object, then survivors: a compaction slides the object down over the
            // garbage and its neighbours into the place where it was, so the stale local then reads a
            // neighbour. (Kept in the state, the object itself lives on; only the local is the breach.)
            for (int i = 0; i < 1000; i++)
                _ = new Marked(i);
            var marked = new Marked(Magic);
            s.Kept = marked;
            for (int i = 0; i < s.Neighbours.Length; i++)
                s.Neighbours[i] = new Marked(-i);
            for (int i = 0; i < 100; i++)
            {
                Fiber.Yield();
                // The state's reference is kept up to date by the GC; the local is not.
                if (!ReferenceEquals(s.Kept, marked) || Volatile.Read(ref marked.Stamp) != Magic)
                {
                    s.Bad++;
                    return;
                }
            }
        }, state);
#pragma warning restore FBR1001, FBR1005
        fiber.Join();
        Console.WriteLine(state.Bad == 0 ? "child: the stale reference went unnoticed" : "child: a stale reference was caught");
        return state.Bad == 0 ? 0 : 1;
    }

    private static void VerificationCatchesBreach()
    {
        ChildResult verified = Start("break-rule-verified");
        Expect.True(verified.ExitCode != 0,
            $"with verification on, a reference kept across suspensions went unnoticed: {verified}");
    }
}
