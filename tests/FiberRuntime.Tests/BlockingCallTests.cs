using System;
using System.IO;
using System.Runtime.CompilerServices;
using System.Threading;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>Fiber.RunBlocking: a blocking call leaves the worker free for the other fibers.</summary>
[TestFixture(false)]
[TestFixture(true)]
public class BlockingCallTests(bool verify)
{
    private FiberScheduler _scheduler = null!;

    [SetUp]
    public void StartScheduler()
        => _scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1, VerifySuspensions = verify });

    [TearDown]
    public void StopScheduler() => _scheduler.Dispose();

    private sealed class Gate
    {
        public ManualResetEventSlim Open = new();
        public bool OpenedInTime;
        public int BodyThread, CallThread;
    }

    [Test]
    public void A_blocking_call_runs_on_another_thread_while_the_one_worker_runs_other_fibers()
    {
        var gate = new Gate();
        // The call blocks until a fiber opens the gate; with one worker, that fiber can only run if the
        // call does not hold the worker. Without the gate opening, the wait gives up after 20 s.
        Fiber waiter = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Gate g) =>
        {
            g.BodyThread = Environment.CurrentManagedThreadId;
            Gate shared = g;
            bool opened = Fiber.RunBlocking(() =>
            {
                shared.CallThread = Environment.CurrentManagedThreadId;
                return shared.Open.Wait(TimeSpan.FromSeconds(20));
            });
            g.OpenedInTime = opened;
        }, gate);
        Fiber opener = _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Gate g) =>
        {
            Fiber.Yield();
            g.Open.Set();
        }, gate);
        opener.Join();
        waiter.Join();
        Assert.That(gate.OpenedInTime, Is.True);
        Assert.That(gate.CallThread, Is.Not.EqualTo(gate.BodyThread));
        gate.Open.Dispose();
    }

    private sealed class Reading
    {
        public string Path = "";
        public byte[]? Data;
        public Exception? Failure;
    }

    [Test]
    public void File_reads_and_their_exceptions_come_back_to_the_fiber()
    {
        string path = Path.GetTempFileName();
        File.WriteAllBytes(path, [1, 2, 3, 4, 5]);
        var ok = new Reading { Path = path };
        var missing = new Reading { Path = path + ".missing" };
        foreach (Reading r in new[] { ok, missing })
        {
            _scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Reading s) =>
            {
                string p = s.Path;
                try
                {
                    byte[] data = Fiber.RunBlocking(() => File.ReadAllBytes(p));
                    s.Data = data;
                }
                catch (FileNotFoundException e)
                {
                    s.Failure = e;
                }
            }, r).Join();
        }
        File.Delete(path);
        Assert.That(ok.Data, Is.EqualTo(new byte[] { 1, 2, 3, 4, 5 }));
        Assert.That(missing.Failure, Is.InstanceOf<FileNotFoundException>());
        Assert.That(missing.Failure!.StackTrace, Does.Contain("ReadAllBytes"));
    }

    [Test]
    public void On_a_thread_the_call_simply_runs()
    {
        int caller = Environment.CurrentManagedThreadId;
        Assert.That(Fiber.RunBlocking(() => Environment.CurrentManagedThreadId), Is.EqualTo(caller));
        Assert.Throws<ArgumentNullException>(() => Fiber.RunBlocking<int>(null!));
    }
}
