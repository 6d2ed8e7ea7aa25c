using System;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

public unsafe class WaitGroupTests
{
    [Test]
    public void Native_fibers_and_threads_count_down_together()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });
        using var wg = new WaitGroup();
        wg.Add(1000 + 10);
        for (int i = 0; i < 1000; i++)
            scheduler.SpawnDetached(NativeFibers.WaitGroupDone, wg.NativeHandle);
        Parallel.For(0, 10, _ => wg.Done());
        Assert.That(wg.Wait(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(wg.Count, Is.Zero);
    }

    [Test]
    public void Waiting_times_out_while_work_is_outstanding()
    {
        using var wg = new WaitGroup();
        wg.Add(2);
        Assert.That(wg.Wait(TimeSpan.FromMilliseconds(10)), Is.False);
        wg.Add(-2);
        wg.Wait();
    }

    [Test]
    public void A_negative_count_is_an_invalid_operation_with_the_native_message()
    {
        using var wg = new WaitGroup();
        var error = Assert.Throws<InvalidOperationException>(() => wg.Done())!;
        Assert.That(error.Message, Does.Contain("negative"));
        Assert.That(wg.Count, Is.Zero, "the failed Done changed nothing");
    }

    [Test]
    public void A_disposed_wait_group_throws_ObjectDisposedException()
    {
        var wg = new WaitGroup();
        wg.Dispose();
        Assert.Throws<ObjectDisposedException>(() => wg.Add());
        Assert.Throws<ObjectDisposedException>(() => _ = wg.Count);
    }
}
