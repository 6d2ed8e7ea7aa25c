using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>C# fiber bodies. Every body keeps what survives a suspension in its state, as the rules say.</summary>
[TestFixture(false)]
[TestFixture(true)]
public class ManagedFiberTests(bool verify)
{
    private FiberScheduler _scheduler = null!;

    [SetUp]
    public void StartScheduler()
        => _scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2, VerifySuspensions = verify });

    [TearDown]
    public void StopScheduler() => _scheduler.Dispose();

    private sealed class Counting
    {
        public int Yields;
        public long Total;
        public int Worker = -1;
        public bool Moved;
        public List<string> Log = [];
    }

    [Test]
    public void A_body_yields_and_keeps_its_state_on_one_worker()
    {
        var state = new Counting { Yields = verify ? 50 : 2000 };
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Counting s) =>
        {
            s.Worker = Fiber.CurrentWorker;
            for (int i = 0; i < s.Yields; i++)
            {
                s.Log.Add(new string('x', i % 7)); // fresh garbage between suspensions
                s.Total += i;
                Fiber.Yield();
                if (Fiber.CurrentWorker != s.Worker)
                    s.Moved = true;
            }
        }, state);
        Assert.That(fiber.Join(), Is.EqualTo((nint)0));
        Assert.That(state.Total, Is.EqualTo((long)state.Yields * (state.Yields - 1) / 2));
        Assert.That(state.Log, Has.Count.EqualTo(state.Yields));
        Assert.That(state.Worker, Is.InRange(0, 1));
        Assert.That(state.Moved, Is.False, "a C# fiber must never migrate");
    }

    private sealed class Echoing
    {
        public Channel<long> Requests = null!;
        public Channel<long> Replies = null!;
        public int Rounds;
        public long Sum;
    }

    [Test]
    public void Managed_and_native_fibers_talk_over_the_same_channels()
    {
        using var requests = new Channel<long>();
        using var replies = new Channel<long>(4);
        using var pipe = new NativeFibers.NativePipe(requests.NativeHandle, replies.NativeHandle);
        Fiber echo = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.EchoPlusOne, pipe.Address);
        var states = Enumerable.Range(0, 4)
            .Select(_ => new Echoing { Requests = requests, Replies = replies, Rounds = verify ? 30 : 3000 })
            .ToList();
        var fibers = states.Select(st => _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Echoing s) =>
        {
            for (long i = 0; i < s.Rounds; i++)
            {
                s.Requests.Send(i);
                // Receive first, then touch the state: `s.Sum += Receive()` would hold a reference into the
                // state object across the suspension.
                long answer = s.Replies.Receive(); // some other fiber's answer, maybe: the total still adds up
                s.Sum += answer;
            }
        }, st)).ToList();
        fibers.ForEach(f => f.Join());
        requests.Close();
        int rounds = states[0].Rounds;
        Assert.That(echo.Join(), Is.EqualTo((nint)(4 * rounds)));
        Assert.That(states.Sum(s => s.Sum), Is.EqualTo(4 * ((long)rounds * (rounds - 1) / 2 + rounds)));
    }

    private sealed class Failing
    {
        public bool CaughtInside;
        public int Depth;
    }

    /// <summary>
    /// Under qemu-aarch64, CoreCLR crashes (SIGSEGV) when a C# fiber throws after a GC ran while it was
    /// suspended; without that GC, and on x86-64 with it, throwing works. Not yet known whether arm64
    /// hardware does the same: recorded on the issue, skipped visibly here.
    /// </summary>
    private void SkipThrowAfterSuspendedGcOnArm64()
    {
        if (verify && RuntimeInformation.ProcessArchitecture == Architecture.Arm64)
            Assert.Ignore("arm64 (qemu): an exception thrown on a C# fiber after a GC during its suspension crashes CoreCLR");
    }

    [Test]
    public void An_exception_caught_inside_the_body_stays_there()
    {
        SkipThrowAfterSuspendedGcOnArm64();
        var state = new Failing();
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Failing s) =>
        {
            Fiber.Yield();
            try
            {
                throw new FormatException("inside");
            }
            catch (FormatException)
            {
                s.CaughtInside = true;
            }
            Fiber.Yield();
        }, state);
        fiber.Join();
        Assert.That(state.CaughtInside, Is.True);
    }

    [Test]
    public void An_exception_that_escapes_the_body_is_rethrown_by_join_with_its_stack_trace()
    {
        SkipThrowAfterSuspendedGcOnArm64();
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Failing s) =>
        {
            Fiber.Yield();
            ThrowFromHelper(s.Depth);
        }, new Failing { Depth = 3 });
        var error = Assert.Throws<InvalidTimeZoneException>(() => fiber.Join())!;
        Assert.That(error.Message, Is.EqualTo("escaped at depth 3"));
        Assert.That(error.StackTrace, Does.Contain(nameof(ThrowFromHelper)));
        // The worker survived: the scheduler still runs fibers.
        Assert.That(_scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Failing s) => s.CaughtInside = true, new Failing()).Join(), Is.EqualTo((nint)0));
    }

    private static void ThrowFromHelper(int depth) => throw new InvalidTimeZoneException($"escaped at depth {depth}");

    private sealed class Deep
    {
        public int Depth;
        public long Result;
    }

    [Test]
    public void Deep_recursion_in_a_managed_body_grows_the_fiber_stack()
    {
        long faultsBefore = Runtime.GetStats().GrowthFaults;
        var state = new Deep { Depth = 3000 };
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Deep s) =>
        {
            Fiber.Yield();
            int depth = s.Depth;
            long result = Recurse(depth);
            s.Result = result;
        }, state, new FiberOptions { StackSize = 8 << 20 });
        fiber.Join();
        Assert.That(state.Result, Is.EqualTo(Enumerable.Range(1, 3000).Sum(i => (long)i)));
        Assert.That(Runtime.GetStats().GrowthFaults, Is.GreaterThan(faultsBefore));
    }

    private static long Recurse(int n)
    {
        Span<long> frame = stackalloc long[16]; // ~200 bytes a frame on top of the call
        frame[n % 16] = n;
        return n == 0 ? 0 : frame[n % 16] + Recurse(n - 1);
    }

    private sealed class Churning
    {
        public Channel<long> Work = null!;
        public WaitGroup Done = null!;
        public int Items;
        public long Sum;
        public Dictionary<int, string> Scratch = [];
    }

    [Test]
    public void Thousands_of_allocating_fibers_survive_concurrent_compacting_GCs()
    {
        // Smaller under emulation (arm64 runs under qemu here), where the full size takes 20 s.
        bool emulated = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
        int fibers = verify ? 40 : emulated ? 300 : 2000, items = verify ? 10 : 200;
        using var work = new Channel<long>(64);
        using var done = new WaitGroup();
        done.Add(fibers);
        var states = Enumerable.Range(0, fibers)
            .Select(_ => new Churning { Work = work, Done = done, Items = items })
            .ToList();
        var spawned = states.Select(st => _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Churning s) =>
        {
            for (int i = 0; i < s.Items; i++)
            {
                s.Scratch[i % 8] = new string((char)('a' + i % 26), 1 + i % 40);
                long item = s.Work.Receive();
                s.Sum += item + s.Scratch[i % 8].Length;
                if (i % 3 == 0)
                    Fiber.Yield();
            }
            s.Done.Done();
        }, st)).ToList();
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                Thread.Sleep(1);
            }
        });
        collector.Start();
        long sent = 0;
        for (long v = 0; v < (long)fibers * items; v++)
        {
            work.Send(v);
            sent += v;
        }
        done.Wait();
        stop.Cancel();
        collector.Join();
        spawned.ForEach(f => f.Join());
        long lengths = states.Sum(st => Enumerable.Range(0, st.Items).Sum(i => (long)(1 + i % 40)));
        Assert.That(states.Sum(st => st.Sum), Is.EqualTo(sent + lengths));
    }

    private sealed class Box
    {
        public int Value;
    }

    [Test]
    public void An_unoptimised_body_is_refused_under_the_JIT()
    {
#pragma warning disable FBR1006 // the unmarked body under test
        var error = Assert.Throws<ArgumentException>(() => _scheduler.Spawn(static (ref Box s) => s.Value = 1, new Box()))!;
#pragma warning restore FBR1006
        Assert.That(error.Message, Does.Contain("AggressiveOptimization"));
    }

    [Test]
    public void A_capturing_body_is_refused()
    {
        var captured = new Box();
#pragma warning disable FBR1003 // the capture under test
        var error = Assert.Throws<ArgumentException>(() =>
            _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] (ref Box s) => s.Value = captured.Value, new Box()))!;
#pragma warning restore FBR1003
        Assert.That(error.Message, Does.Contain("static lambda"));
    }

    [Test]
    public void Yield_outside_a_fiber_is_an_invalid_operation()
    {
        Assert.Throws<InvalidOperationException>(Fiber.Yield);
        Assert.That(Fiber.IsOnFiber, Is.False);
        Assert.That(Fiber.CurrentWorker, Is.EqualTo(-1));
    }

    private sealed class Joining
    {
        public Fiber? Other;
        public long Seen;
    }

    [Test]
    public void A_managed_fiber_joins_a_native_one_and_sleeps()
    {
        var state = new Joining { Other = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.SleepMs, 5) };
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Joining s) =>
        {
            nint seen = s.Other!.Join();
            s.Seen = seen;
            Fiber.Sleep(TimeSpan.FromMilliseconds(2));
            Assert.That(Fiber.IsOnFiber, Is.True);
        }, state);
        fiber.Join();
        Assert.That(state.Seen, Is.EqualTo(5));
    }
}
