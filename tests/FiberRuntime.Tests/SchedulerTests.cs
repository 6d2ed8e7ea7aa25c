using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using NUnit.Framework;

namespace FiberRuntime.Tests;

public unsafe class SchedulerTests
{
    private static readonly string[] BlockedNames = ["blocked-0", "blocked-1", "blocked-2"];

    [Test]
    public void Spawned_fiber_returns_its_result_to_join()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });
        Assert.That(scheduler.WorkerCount, Is.EqualTo(2));
        Fiber fiber = scheduler.Spawn(NativeFibers.AddOne, 41);
        Assert.That(fiber.Join(), Is.EqualTo((nint)42));
    }

    [Test]
    public void Thousands_of_fibers_are_joined_from_several_threads()
    {
        using var scheduler = new FiberScheduler();
        const int PerThread = 2000;
        long total = 0;
        var threads = Enumerable.Range(0, 4).Select(t => new Thread(() =>
        {
            var fibers = new List<Fiber>();
            for (int i = 0; i < PerThread; i++)
                fibers.Add(scheduler.Spawn(NativeFibers.AddOne, t * PerThread + i));
            long sum = fibers.Sum(f => (long)f.Join());
            Interlocked.Add(ref total, sum);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        long n = 4 * PerThread;
        Assert.That(total, Is.EqualTo(n * (n - 1) / 2 + n));
        SchedulerStats stats = scheduler.GetStats();
        Assert.That(stats.Spawned, Is.EqualTo(n));
        Assert.That(stats.Finished, Is.EqualTo(n));
        Assert.That(stats.LiveFibers, Is.Zero);
        Assert.That(stats.PerWorker, Has.Count.EqualTo(scheduler.WorkerCount));
        Assert.That(stats.PerWorker.Sum(w => w.Runs), Is.GreaterThanOrEqualTo(n));
    }

    [Test]
    public void TryJoin_times_out_while_the_fiber_runs_and_succeeds_later()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        using var gate = new Channel<byte>();
        Fiber fiber = scheduler.Spawn(NativeFibers.WaitForClose, gate.NativeHandle, new FiberOptions { Name = "gated" });
        Assert.That(fiber.TryJoin(TimeSpan.FromMilliseconds(20), out _), Is.False);
        gate.Close();
        Assert.That(fiber.TryJoin(Timeout.InfiniteTimeSpan, out nint result), Is.True);
        Assert.That(result, Is.EqualTo((nint)7));
    }

    [Test]
    public void Joining_twice_is_an_error()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        Fiber fiber = scheduler.Spawn(NativeFibers.AddOne, 1);
        fiber.Join();
        Assert.Throws<InvalidOperationException>(() => fiber.Join());
        Assert.Throws<InvalidOperationException>(() => fiber.Detach());
    }

    [Test]
    public void Detached_fibers_run_to_the_end()
    {
        using var scheduler = new FiberScheduler();
        using var done = new WaitGroup();
        done.Add(500);
        for (int i = 0; i < 500; i++)
            scheduler.SpawnDetached(NativeFibers.WaitGroupDone, done.NativeHandle);
        Assert.That(done.Wait(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(done.Count, Is.Zero);
    }

    [Test]
    public void Bad_arguments_are_rejected_before_reaching_native_code()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        Assert.Throws<ArgumentNullException>(() => scheduler.Spawn((delegate* unmanaged<nint, nint>)null, 0));
        Assert.Throws<ArgumentNullException>(() => scheduler.Spawn<object>(null!, new object()));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Spawn(NativeFibers.AddOne, 0, new FiberOptions { StackSize = 1024 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Spawn(NativeFibers.AddOne, 0, new FiberOptions { StackSize = 1L << 40 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new FiberScheduler(new FiberSchedulerOptions { Workers = 5000 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new FiberScheduler(new FiberSchedulerOptions { Workers = -1 }));
    }

    [Test]
    public void A_long_name_is_cut_to_whole_characters_and_reported()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1, DisposeTimeout = TimeSpan.FromMilliseconds(50) });
        using var gate = new Channel<byte>();
        using var started = new Channel<long>();
        using var pipe = new NativeFibers.NativePipe();
        string name = new string('é', 40); // two bytes each: 15 fit in 31 bytes
        Fiber fiber = NativeFibers.SpawnBlocked(scheduler, gate, started, pipe, 1, name)[0];
        var failure = Assert.Throws<FiberSchedulerShutdownException>(() => scheduler.Dispose())!;
        Assert.That(failure.Alive, Is.EqualTo(1));
        Assert.That(failure.StillRunning.Single().Name, Is.EqualTo(new string('é', 15)));
        Assert.That(failure.StillRunning.Single().Id, Is.EqualTo(fiber.Id));
        gate.Close();
        Assert.That(fiber.Join(), Is.EqualTo((nint)7));
    }

    private sealed class Hog
    {
        public volatile bool Started, Released;
    }

    [Test]
    public void Dispose_counts_fibers_not_started_yet_but_names_only_those_that_have()
    {
        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1, DisposeTimeout = TimeSpan.FromMilliseconds(50) });
        var hog = new Hog();
        // Holds the only worker without parking, so that the next fiber cannot start.
        Fiber holding = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Hog h) =>
        {
            h.Started = true;
            while (!h.Released)
                Thread.SpinWait(20);
        }, hog, new FiberOptions { Name = "hog" });
        Assert.That(SpinWait.SpinUntil(() => hog.Started, TimeSpan.FromSeconds(30)), Is.True, "the hog never ran");
        Fiber waiting = scheduler.Spawn(NativeFibers.AddOne, 41, new FiberOptions { Name = "waiting" });
        var failure = Assert.Throws<FiberSchedulerShutdownException>(() => scheduler.Dispose())!;
        Assert.That(failure.Alive, Is.EqualTo(2));
        FiberInfo started = failure.StillRunning.Single();
        Assert.That(started.Name, Is.EqualTo("hog"));
        Assert.That(started.Id, Is.EqualTo(holding.Id));
        hog.Released = true;
        Assert.That(waiting.Join(), Is.EqualTo((nint)42));
        holding.Join();
        scheduler.Dispose();
    }

    [Test]
    public void Dispose_while_fibers_run_reports_them_and_keeps_them_alive()
    {
        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2, DisposeTimeout = TimeSpan.FromMilliseconds(100) });
        using var gate = new Channel<byte>();
        using var started = new Channel<long>();
        using var pipe = new NativeFibers.NativePipe();
        List<Fiber> fibers = NativeFibers.SpawnBlocked(scheduler, gate, started, pipe, 3, "blocked-");
        var failure = Assert.Throws<FiberSchedulerShutdownException>(() => scheduler.Dispose())!;
        Assert.That(failure.Alive, Is.EqualTo(3));
        Assert.That(failure.Message, Does.Contain("3 fiber(s) still running"));
        Assert.That(failure.StillRunning.Select(f => f.Name), Is.EquivalentTo(BlockedNames));
        // Refuses new work from outside, but the running fibers go on and can finish.
        Assert.Throws<ObjectDisposedException>(() => scheduler.Spawn(NativeFibers.AddOne, 0));
        gate.Close();
        Assert.That(fibers.Select(f => f.Join()), Is.All.EqualTo((nint)7));
        scheduler.Dispose();
        Assert.Throws<ObjectDisposedException>(() => scheduler.GetStats());
        scheduler.Dispose(); // idempotent
    }

    [Test]
    public void Many_schedulers_are_created_and_disposed_in_one_process()
    {
        for (int round = 0; round < 50; round++)
        {
            using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 + round % 3 });
            var fibers = Enumerable.Range(0, 20).Select(i => scheduler.Spawn(NativeFibers.AddOne, i)).ToList();
            Assert.That(fibers.Sum(f => (long)f.Join()), Is.EqualTo(Enumerable.Range(1, 20).Sum()));
        }
    }

    [Test]
    public void Deep_recursion_grows_a_fiber_stack_and_every_frame_survives()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });
        const int Depth = 2000; // ~600 KiB of frames on a stack that starts at 16 KiB
        long faultsBefore = Runtime.GetStats().GrowthFaults;
        var fibers = Enumerable.Range(0, 8)
            .Select(_ => scheduler.Spawn(NativeFibers.DeepRecursion, Depth, new FiberOptions { StackSize = 4 << 20 }))
            .ToList();
        ulong expected = NativeFibers.fbrtest_recursion_checksum(Depth);
        Assert.That(fibers.Select(f => (ulong)f.Join()), Is.All.EqualTo(expected));
        Assert.That(Runtime.GetStats().GrowthFaults, Is.GreaterThan(faultsBefore));
    }

    [Test]
    public void Sleeping_fibers_finish_after_their_time()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        var started = System.Diagnostics.Stopwatch.StartNew();
        var fibers = Enumerable.Range(0, 100).Select(_ => scheduler.Spawn(NativeFibers.SleepMs, 30)).ToList();
        Assert.That(fibers.Select(f => f.Join()), Is.All.EqualTo((nint)30));
        Assert.That(started.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(30)));
    }
}
