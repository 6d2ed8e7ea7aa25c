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


    [Test]
    public void An_exception_caught_inside_the_body_stays_there()
    {
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
    public void Thousands_of_allocating_fibers_survive_concurrent_compacting_GCs_for_millions_of_switches()
    {
        // Smaller under emulation (arm64 runs under qemu here), where the full size takes minutes.
        bool emulated = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;
        int fibers = verify ? 40 : emulated ? 300 : 2000, items = verify ? 10 : emulated ? 200 : 1000;
        const int producers = 4;
        long total = (long)fibers * items;
        using var work = new Channel<long>(64);
        using var done = new WaitGroup();
        done.Add(fibers);
        var states = Enumerable.Range(0, fibers)
            .Select(_ => new Churning { Work = work, Done = done, Items = items })
            .ToList();
        long runsBefore = _scheduler.GetStats().PerWorker.Sum(w => w.Runs);
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
        // Native fibers feed the channel: 0 .. total-1, split in ranges.
        var pipes = Enumerable.Range(0, producers)
            .Select(p => new NativeFibers.NativePipe(output: work.NativeHandle, count: total / producers, first: p * (total / producers)))
            .ToList();
        var feeders = pipes.Select(p => NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Produce, p.Address)).ToList();
        done.Wait();
        stop.Cancel();
        collector.Join();
        spawned.ForEach(f => f.Join());
        feeders.ForEach(f => f.Join());
        pipes.ForEach(p => p.Dispose());
        long switches = _scheduler.GetStats().PerWorker.Sum(w => w.Runs) - runsBefore;
        long sent = total * (total - 1) / 2;
        long lengths = states.Sum(st => Enumerable.Range(0, st.Items).Sum(i => (long)(1 + i % 40)));
        Assert.That(states.Sum(st => st.Sum), Is.EqualTo(sent + lengths));
        if (!verify && !emulated)
            Assert.That(switches, Is.GreaterThan(2_000_000), "fiber runs (each a switch in and out) during the churn");
        TestContext.Out.WriteLine($"{switches:N0} fiber runs with {fibers} C# fibers under forced compacting GCs");
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
        var error = Assert.Throws<InvalidOperationException>(Fiber.Yield)!;
        Assert.That(error.Message, Does.Contain("C# fiber body"));
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

    private sealed class Selecting
    {
        public SelectCase[] Cases = [];
        public ReceiveCase<long> FromA = null!, FromB = null!;
        public long Expected;
        public long Sum, CountA, CountB;
        public int TimedOut = 99;
        public bool SawClosed;
        public SelectCase[] Empty = [];
        public SelectCase[] Closed = [];
    }

    [Test]
    public void A_managed_fiber_selects_over_channels_fed_by_native_fibers()
    {
        const long perProducer = 3000;
        using var a = new Channel<long>(4);
        using var b = new Channel<long>();
        using var idle = new Channel<long>();
        using var closed = new Channel<long>();
        closed.Close();
        using var pipeA = new NativeFibers.NativePipe(output: a.NativeHandle, count: perProducer, first: 0);
        using var pipeB = new NativeFibers.NativePipe(output: b.NativeHandle, count: perProducer, first: perProducer);
        var state = new Selecting
        {
            FromA = SelectCase.Receive(a),
            FromB = SelectCase.Receive(b),
            Expected = 2 * perProducer,
            Empty = [SelectCase.Receive(idle)],
            Closed = [SelectCase.Receive(closed)],
        };
        state.Cases = [state.FromA, state.FromB];
        Fiber producerA = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Produce, pipeA.Address);
        Fiber producerB = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Produce, pipeB.Address);
        Fiber fiber = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Selecting s) =>
        {
            for (long i = 0; i < s.Expected; i++)
            {
                int chosen = ChannelSelect.Wait(s.Cases);
                if (chosen == 0)
                {
                    s.Sum += s.FromA.Value;
                    s.CountA++;
                }
                else
                {
                    s.Sum += s.FromB.Value;
                    s.CountB++;
                }
            }
            int timedOut = ChannelSelect.Wait(TimeSpan.FromMilliseconds(5), s.Empty);
            s.TimedOut = timedOut;
            _ = ChannelSelect.Wait(s.Closed);
            s.SawClosed = s.Closed[0].ChannelClosed;
        }, state);
        fiber.Join();
        producerA.Join();
        producerB.Join();
        long n = 2 * perProducer;
        Assert.That(state.Sum, Is.EqualTo(n * (n - 1) / 2), "every value from both producers, once");
        Assert.That(state.CountA, Is.EqualTo(perProducer));
        Assert.That(state.CountB, Is.EqualTo(perProducer));
        Assert.That(state.TimedOut, Is.EqualTo(-1));
        Assert.That(state.SawClosed, Is.True);
    }

    private sealed class SpanSelect
    {
        public ReceiveCase<long> Case = null!;
        public Exception? Refusal;
    }

    [Test]
    public void A_params_span_select_on_a_managed_fiber_is_refused_with_the_array_form_named()
    {
        using var ch = new Channel<long>(1);
        var state = new SpanSelect { Case = SelectCase.Receive(ch) };
        _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref SpanSelect s) =>
        {
            try
            {
                ReadOnlySpan<SelectCase> cases = [s.Case];
                ChannelSelect.Wait(cases);
            }
            catch (NotSupportedException e)
            {
                s.Refusal = e;
            }
        }, state).Join();
        Assert.That(state.Refusal!.Message, Does.Contain("SelectCase[]"));
    }

    private sealed class Completing
    {
        public Channel<long> Channel = null!;
    }

    [Test]
    public async System.Threading.Tasks.Task A_continuation_run_by_a_worker_after_a_managed_fiber_is_not_on_a_fiber()
    {
        // The receive below completes when the C# fiber sends; with synchronous continuations the rest of
        // this method then runs on the worker thread, between fibers, where nothing may suspend.
        using var channel = new Channel<long>(0, new ChannelOptions { AllowSynchronousContinuations = true });
        var state = new Completing { Channel = channel };
        System.Threading.Tasks.ValueTask<long> pending = channel.ReceiveAsync();
        Fiber sender = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Completing s) =>
        {
            s.Channel.Send(42);
        }, state);
        long value = await pending;
        bool onFiber = Fiber.IsOnFiber;
        int worker = Fiber.CurrentWorker;
        sender.Join();
        Assert.That(value, Is.EqualTo(42));
        Assert.That(onFiber, Is.False);
        Assert.That(worker, Is.InRange(-1, 1));
    }
}
