using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// ChannelSelect.WaitAsync: a select that blocks no thread. Ready cases proceed at once; a pending select is
/// ended by whichever side makes one case proceed, by a close, a cancellation or its timeout, and leaves no
/// waiter behind on the other channels.
/// </summary>
public class SelectAsyncTests
{
    private FiberScheduler _scheduler = null!;

    [SetUp]
    public void StartScheduler() => _scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });

    [TearDown]
    public void StopScheduler() => _scheduler.Dispose();

    [Test]
    public void A_ready_case_proceeds_before_the_call_returns()
    {
        using var idle = new Channel<int>();
        using var ready = new Channel<int>(1);
        ready.Send(11);
        var fromIdle = SelectCase.Receive(idle);
        var fromReady = SelectCase.Receive(ready);
        ValueTask<int> select = ChannelSelect.WaitAsync(fromIdle, fromReady);
        Assert.That(select.IsCompletedSuccessfully, Is.True);
        Assert.That(select.Result, Is.EqualTo(1));
        Assert.That(fromReady.Value, Is.EqualTo(11));
        Assert.That(idle.TrySend(1), Is.False, "no receiver was left waiting on the other channel");
    }

    [Test]
    public void A_pending_select_ends_with_the_case_that_proceeds()
    {
        using var a = new Channel<long>();
        using var b = new Channel<long>();
        using var output = new Channel<long>();
        var fromA = SelectCase.Receive(a);
        var toOutput = SelectCase.Send(output, 5L);
        var fromB = SelectCase.Receive(b);
        ValueTask<int> select = ChannelSelect.WaitAsync(fromA, toOutput, fromB);
        Assert.That(select.IsCompleted, Is.False);
        toOutput.Value = -1; // the value to send was copied when the select started
        b.Send(42);
        Assert.That(select.AsTask().GetAwaiter().GetResult(), Is.EqualTo(2));
        Assert.That(fromB.Value, Is.EqualTo(42));
        Assert.That(fromB.ChannelClosed, Is.False);
        Assert.That(a.TrySend(1), Is.False, "the other receive case left no waiter");
        Assert.That(output.TryReceive(out _), Is.False, "nor the send case");

        toOutput.Value = 7;
        Task<int> sending = ChannelSelect.WaitAsync(fromA, toOutput, fromB).AsTask();
        toOutput.Value = -1;
        Assert.That(output.Receive(), Is.EqualTo(7));
        Assert.That(sending.GetAwaiter().GetResult(), Is.EqualTo(1));
    }

    [Test]
    public void A_close_ends_a_pending_select_with_the_closed_case()
    {
        using var a = new Channel<int>();
        using var b = new Channel<int>();
        var fromA = SelectCase.Receive(a);
        var fromB = SelectCase.Receive(b);
        Task<int> select = ChannelSelect.WaitAsync(fromA, fromB).AsTask();
        a.Close();
        Assert.That(select.GetAwaiter().GetResult(), Is.Zero);
        Assert.That(fromA.ChannelClosed, Is.True);
        Assert.That(b.TrySend(1), Is.False);
    }

    [Test]
    public void Cancellation_and_timeouts_end_a_pending_select_and_leave_no_waiters()
    {
        using var a = new Channel<int>();
        var fromA = SelectCase.Receive(a);
        using var cts = new CancellationTokenSource();
        ValueTask<int> cancelled = ChannelSelect.WaitAsync(cts.Token, fromA);
        Assert.That(cancelled.IsCompleted, Is.False);
        cts.Cancel();
        var error = Assert.ThrowsAsync<OperationCanceledException>(async () => await cancelled);
        Assert.That(error!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(ChannelSelect.WaitAsync(cts.Token, fromA).IsCanceled, Is.True, "an already cancelled token");

        Assert.That(ChannelSelect.WaitAsync(TimeSpan.FromMilliseconds(20), fromA).AsTask().GetAwaiter().GetResult(),
                    Is.EqualTo(-1), "timed out");
        Assert.That(a.TrySend(1), Is.False, "neither left a waiter");
    }

    [Test]
    public async Task Async_selects_over_native_producers_receive_every_value_once()
    {
        const int PerProducer = 5_000;
        Channel<long>[] channels = [new Channel<long>(), new Channel<long>(4), new Channel<long>()];
        var pipes = channels.Select((ch, i) => new NativeFibers.NativePipe(output: ch.NativeHandle, count: PerProducer,
                                                                             first: (long)i * PerProducer)).ToList();
        try
        {
            var producers = pipes.Select(p => NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Produce, p.Address)).ToList();
            ReceiveCase<long>[] cases = channels.Select(SelectCase.Receive).ToArray();
            var seen = new int[channels.Length * PerProducer];
            long sum = 0;
            for (int i = 0; i < seen.Length; i++)
            {
                int chosen = await ChannelSelect.WaitAsync(cases);
                Assert.That(cases[chosen].ChannelClosed, Is.False);
                long v = cases[chosen].Value;
                Assert.That(v / PerProducer, Is.EqualTo(chosen), "each value comes from its own channel");
                seen[v]++;
                sum += v;
            }
            Assert.That(seen, Is.All.EqualTo(1));
            Assert.That(sum, Is.EqualTo((long)seen.Length * (seen.Length - 1) / 2));
            foreach (Fiber producer in producers)
                Assert.That(producer.Join(), Is.Not.EqualTo((nint)(-1)));
        }
        finally
        {
            foreach (Channel<long> ch in channels)
                ch.Dispose(); // throws if a select left a waiter behind
            pipes.ForEach(p => p.Dispose());
        }
    }

    [Test]
    public void Bad_async_selects_are_errors()
    {
        Assert.Throws<ArgumentNullException>(() => ChannelSelect.WaitAsync(null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelSelect.WaitAsync());
        var disposed = new Channel<int>();
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ChannelSelect.WaitAsync(SelectCase.Receive(disposed)));
        using var ch = new Channel<int>();
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelSelect.WaitAsync(TimeSpan.FromSeconds(-2), SelectCase.Receive(ch)));
    }
}
