using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

public class ChannelTests
{
    private FiberScheduler _scheduler = null!;

    [SetUp]
    public void StartScheduler() => _scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });

    [TearDown]
    public void StopScheduler() => _scheduler.Dispose();

    private static long SumOfRange(long first, long count) => count * first + count * (count - 1) / 2;

    [Test]
    public void A_buffered_channel_keeps_order_and_drains_after_close()
    {
        using var ch = new Channel<int>(capacity: 8);
        for (int i = 0; i < 8; i++)
            Assert.That(ch.TrySend(i), Is.True);
        Assert.That(ch.TrySend(99), Is.False, "full");
        Assert.That(ch.Count, Is.EqualTo(8));
        ch.Close();
        Assert.That(ch.IsClosed, Is.True);
        Assert.That(ch.Completion.IsCompleted, Is.False, "values are still buffered");
        Assert.Throws<ChannelClosedException>(() => ch.Send(100));
        Assert.That(ch.TrySend(100), Is.False);
        var received = new List<int>();
        for (int i = 0; i < 8; i++)
            received.Add(ch.Receive());
        Assert.That(received, Is.EqualTo(Enumerable.Range(0, 8)));
        Assert.That(ch.Completion.IsCompleted, Is.True);
        Assert.Throws<ChannelClosedException>(() => ch.Receive());
        Assert.That(ch.TryReceive(out _), Is.False);
        Assert.Throws<ChannelClosedException>(() => ch.Close(), "closing twice");
        Assert.That(ch.TryClose(), Is.False);
    }

    [Test]
    public void Closing_wakes_a_blocked_receiver()
    {
        using var ch = new Channel<long>();
        var receiver = Task.Factory.StartNew(() => Assert.Throws<ChannelClosedException>(() => ch.Receive()),
                                             TaskCreationOptions.LongRunning);
        Assert.That(receiver.Wait(TimeSpan.FromMilliseconds(50)), Is.False, "nothing to receive yet");
        ch.Close();
        Assert.That(receiver.Wait(TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(ch.Completion.IsCompleted, Is.True);
    }

    [Test]
    public void Producers_and_consumers_on_threads_lose_and_duplicate_nothing([Values(0, 1, 64)] int capacity)
    {
        using var ch = new Channel<long>(capacity);
        const int Producers = 4, Consumers = 3, PerProducer = 20_000;
        var seen = new int[Producers * PerProducer];
        long receivedSum = 0;
        var producers = Enumerable.Range(0, Producers).Select(p => Task.Factory.StartNew(() =>
        {
            for (int i = 0; i < PerProducer; i++)
                ch.Send((long)p * PerProducer + i);
        }, TaskCreationOptions.LongRunning)).ToArray();
        var consumers = Enumerable.Range(0, Consumers).Select(_ => Task.Factory.StartNew(() =>
        {
            long sum = 0;
            while (true)
            {
                long v;
                try { v = ch.Receive(); }
                catch (ChannelClosedException) { break; }
                Interlocked.Increment(ref seen[v]);
                sum += v;
            }
            Interlocked.Add(ref receivedSum, sum);
        }, TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(producers);
        ch.Close();
        Task.WaitAll(consumers);
        Assert.That(seen, Is.All.EqualTo(1));
        Assert.That(receivedSum, Is.EqualTo(SumOfRange(0, Producers * PerProducer)));
    }

    [Test]
    public void Async_code_ping_pongs_with_a_native_fiber([Values] bool synchronousContinuations, [Values] bool cancellable)
    {
        // A token that can cancel makes each pending operation take a native handle (never used here).
        using var cts = new CancellationTokenSource();
        CancellationToken token = cancellable ? cts.Token : CancellationToken.None;
        var options = new ChannelOptions { AllowSynchronousContinuations = synchronousContinuations };
        using var ping = new Channel<long>(0, options);
        using var pong = new Channel<long>(0, options);
        using var pipe = new NativeFibers.NativePipe(ping.NativeHandle, pong.NativeHandle);
        Fiber echo = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.EchoPlusOne, pipe.Address);
        const int Rounds = 20_000;
        long checksum = Task.Run(async () =>
        {
            long sum = 0;
            for (long i = 0; i < Rounds; i++)
            {
                await ping.SendAsync(i, token);
                long back = await pong.ReceiveAsync(token);
                Assert.That(back, Is.EqualTo(i + 1));
                sum += back;
            }
            return sum;
        }).GetAwaiter().GetResult();
        ping.Close();
        Assert.That(echo.Join(), Is.EqualTo((nint)Rounds));
        Assert.That(checksum, Is.EqualTo(SumOfRange(1, Rounds)));
    }

    [Test]
    public void Native_producers_feed_async_consumers_and_async_producers_feed_native_consumers()
    {
        const int Producers = 4, PerProducer = 10_000;
        using var toCSharp = new Channel<long>(capacity: 16);
        using var toNative = new Channel<long>(capacity: 0);
        var pipes = Enumerable.Range(0, Producers)
            .Select(p => new NativeFibers.NativePipe(output: toCSharp.NativeHandle, count: PerProducer, first: (long)p * PerProducer))
            .ToList();
        using var consumerPipe = new NativeFibers.NativePipe(input: toNative.NativeHandle);
        try
        {
            var producers = pipes.Select(pipe => NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Produce, pipe.Address)).ToList();
            Fiber[] nativeConsumers = Enumerable.Range(0, 3)
                .Select(_ => NativeFibers.Spawn(_scheduler, NativeFibers.Entry.Consume, consumerPipe.Address))
                .ToArray();

            // Two async readers drain the native producers and forward every value to the native consumers.
            long forwarded = 0;
            var seen = new int[Producers * PerProducer];
            Task[] readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            {
                await foreach (long v in toCSharp.ReadAllAsync())
                {
                    Interlocked.Increment(ref seen[v]);
                    await toNative.SendAsync(v);
                    Interlocked.Add(ref forwarded, v);
                }
            })).ToArray();
            long produced = producers.Sum(f => (long)f.Join());
            toCSharp.Close();
            Assert.That(Task.WaitAll(readers, TimeSpan.FromSeconds(60)), Is.True);
            toNative.Close();
            long consumed = nativeConsumers.Sum(f => (long)f.Join());
            long expected = SumOfRange(0, Producers * PerProducer);
            Assert.That(produced, Is.EqualTo(expected));
            Assert.That(seen, Is.All.EqualTo(1));
            Assert.That(forwarded, Is.EqualTo(expected));
            Assert.That(consumed, Is.EqualTo(expected));
            Assert.That(toCSharp.Completion.IsCompleted, Is.True);
        }
        finally
        {
            pipes.ForEach(p => p.Dispose());
        }
    }

    [Test]
    public void Deadlines_expire_and_leave_the_channel_usable()
    {
        using var ch = new Channel<int>();
        Assert.That(ch.TryReceive(out _, TimeSpan.FromMilliseconds(10)), Is.False);
        Assert.That(ch.TrySend(5, TimeSpan.FromMilliseconds(10)), Is.False, "no receiver on an unbuffered channel");
        Assert.That(ch.TryReceive(out _, TimeSpan.Zero), Is.False);
        var receiver = Task.Factory.StartNew(() => ch.TryReceive(out int v, TimeSpan.FromSeconds(30)) ? v : -1,
                                             TaskCreationOptions.LongRunning);
        Assert.That(ch.TrySend(6, TimeSpan.FromSeconds(30)), Is.True);
        Assert.That(receiver.Result, Is.EqualTo(6));
        Assert.Throws<ArgumentOutOfRangeException>(() => ch.TryReceive(out _, TimeSpan.FromSeconds(-2)));
    }

    [Test]
    public void Cancelling_an_async_receive_withdraws_it()
    {
        using var ch = new Channel<int>();
        using var cts = new CancellationTokenSource();
        ValueTask<int> pending = ch.ReceiveAsync(cts.Token);
        Assert.That(pending.IsCompleted, Is.False);
        cts.Cancel();
        var error = Assert.ThrowsAsync<OperationCanceledException>(async () => await pending)!;
        Assert.That(error.CancellationToken, Is.EqualTo(cts.Token));
        // The withdrawn receive must not swallow a later value.
        Assert.That(ch.TrySend(1), Is.False, "no receiver is waiting any more");
        ValueTask<int> next = ch.ReceiveAsync();
        Assert.That(ch.TrySend(2), Is.True);
        Assert.That(next.AsTask().Result, Is.EqualTo(2));
    }

    [Test]
    public void An_async_send_completes_at_once_when_it_can_and_waits_when_it_cannot()
    {
        // After a send that completed at once the next one tries without an operation first; after one that
        // waited it starts one directly. Each step below runs after the other kind, closed channels included.
        using var ch = new Channel<int>(capacity: 1);
        Assert.That(ch.SendAsync(1).IsCompletedSuccessfully, Is.True, "room in the buffer");
        ValueTask full = ch.SendAsync(2);
        Assert.That(full.IsCompleted, Is.False, "the buffer is full");
        Assert.That(ch.TryReceive(out int first) && first == 1, Is.True);
        Assert.That(full.IsCompletedSuccessfully, Is.True, "the receive made room for the waiting value");
        Assert.That(ch.TryReceive(out int second) && second == 2, Is.True);
        Assert.That(ch.SendAsync(3).IsCompletedSuccessfully, Is.True, "room again, after a send that waited");
        ch.Close();
        Assert.ThrowsAsync<ChannelClosedException>(async () => await ch.SendAsync(4), "closed, after a send that did not wait");
        Assert.That(ch.Receive(), Is.EqualTo(3), "what was buffered before the close is still there");

        using var unbuffered = new Channel<int>();
        ValueTask waiting = unbuffered.SendAsync(5);
        Assert.That(waiting.IsCompleted, Is.False, "nobody receives");
        unbuffered.Close();
        Assert.ThrowsAsync<ChannelClosedException>(async () => await waiting);
        Assert.ThrowsAsync<ChannelClosedException>(async () => await unbuffered.SendAsync(6), "closed, after a send that waited");
    }

    [Test]
    public void Receives_on_several_channels_from_one_thread_share_its_spare_operation_safely()
    {
        // A thread keeps one spare receive operation for all channels of an element type: a pending receive
        // holds one while receives on other channels complete at once with another, each value where it belongs.
        using var first = new Channel<long>();
        using var second = new Channel<long>(capacity: 4);
        for (long round = 0; round < 100; round++)
        {
            ValueTask<long> pending = first.ReceiveAsync();
            Assert.That(pending.IsCompleted, Is.False);
            Assert.That(second.TrySend(round * 10), Is.True);
            ValueTask<long> immediate = second.ReceiveAsync();
            Assert.That(immediate.IsCompletedSuccessfully, Is.True);
            Assert.That(immediate.Result, Is.EqualTo(round * 10));
            Assert.That(first.TrySend(round), Is.True, "the pending receive still waits on the first channel");
            Assert.That(pending.AsTask().Result, Is.EqualTo(round));
        }
        ValueTask<long> last = first.ReceiveAsync();
        first.Close();
        Assert.ThrowsAsync<ChannelClosedException>(async () => await last);
        Assert.That(second.TrySend(1) && second.ReceiveAsync().Result == 1, Is.True, "the other channel is untouched");
    }

    [Test]
    public void A_threads_spare_receive_operation_is_freed_after_the_thread_ends()
    {
        WeakReference spare = SpareOfAThreadThatEnded();
        for (int i = 0; i < 10 && spare.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.That(spare.IsAlive, Is.False, "the spare's GCHandle would keep it alive forever");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference SpareOfAThreadThatEnded()
    {
        WeakReference? spare = null;
        var thread = new Thread(() =>
        {
            using var ch = new Channel<long>(capacity: 1);
            Assert.That(ch.TrySend(7), Is.True);
            Assert.That(ch.ReceiveAsync().Result, Is.EqualTo(7));
            spare = new WeakReference(ReceiveOperation<long>.CurrentThreadSpare);
        });
        thread.Start();
        thread.Join();
        Assert.That(spare!.Target, Is.Not.Null, "the receive left its operation as the thread's spare");
        return spare;
    }

    [Test]
    public void Cancelling_an_async_send_withdraws_the_value()
    {
        using var ch = new Channel<int>();
        using var cts = new CancellationTokenSource();
        ValueTask pending = ch.SendAsync(7, cts.Token);
        Assert.That(pending.IsCompleted, Is.False);
        cts.Cancel();
        Assert.ThrowsAsync<OperationCanceledException>(async () => await pending);
        Assert.That(ch.TryReceive(out _), Is.False, "the value was withdrawn");
        Assert.That(ch.SendAsync(1, cts.Token).IsCanceled, Is.True, "an already cancelled token");
    }

    [Test]
    public void Blocking_calls_with_a_token_are_cancelled()
    {
        using var ch = new Channel<int>();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        Assert.That(() => ch.Receive(cts.Token), Throws.InstanceOf<OperationCanceledException>());
        using var cts2 = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        Assert.That(() => ch.Send(3, cts2.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Cancellation_racing_completion_delivers_each_value_exactly_once()
    {
        using var ch = new Channel<long>(capacity: 4);
        const int Rounds = 5000, Block = 250;
        long delivered = 0, cancelled = 0, cancelledWhileEmpty = 0, sentSum = 0, receivedSum = 0;
        // The sender stops after each block until the receiver has seen a cancel of a receive that
        // nothing can complete: whether the random cancels below ever meet a pending receive depends on
        // timing, this part does not.
        using var blockDrained = new SemaphoreSlim(0);
        var sender = Task.Factory.StartNew(() =>
        {
            for (long i = 1; i <= Rounds; i++)
            {
                ch.Send(i);
                sentSum += i;
                if (i % Block == 0)
                    blockDrained.Wait();
            }
            ch.Close();
        }, TaskCreationOptions.LongRunning);
        Task.Run(async () =>
        {
            var random = new Random(1234);
            while (true)
            {
                using var cts = new CancellationTokenSource();
                ValueTask<long> pending = ch.ReceiveAsync(cts.Token);
                if (random.Next(2) == 0)
                    cts.Cancel();
                try
                {
                    receivedSum += await pending;
                    delivered++;
                }
                catch (OperationCanceledException) { cancelled++; }
                catch (ChannelClosedException) { break; }
                if (delivered % Block == 0 && delivered / Block > cancelledWhileEmpty)
                {
                    // The channel is empty and the sender waits for us.
                    using var probe = new CancellationTokenSource();
                    ValueTask<long> stranded = ch.ReceiveAsync(probe.Token);
                    probe.Cancel();
                    Assert.ThrowsAsync<OperationCanceledException>(async () => await stranded);
                    cancelledWhileEmpty++;
                    blockDrained.Release();
                }
            }
        }).GetAwaiter().GetResult();
        sender.GetAwaiter().GetResult();
        Assert.That(delivered, Is.EqualTo(Rounds));
        Assert.That(receivedSum, Is.EqualTo(sentSum));
        Assert.That(cancelledWhileEmpty, Is.EqualTo(Rounds / Block));
        TestContext.Out.WriteLine($"{cancelled} random cancels won against a completion or an empty channel");
    }

    [Test]
    public void Select_performs_exactly_one_ready_case()
    {
        using var a = new Channel<int>(1);
        using var b = new Channel<long>(1);
        var fromA = SelectCase.Receive(a);
        var toB = SelectCase.Send(b, 42L);
        Assert.That(ChannelSelect.TryNow(fromA), Is.EqualTo(-1), "nothing ready");
        Assert.That(ChannelSelect.Wait(fromA, toB), Is.EqualTo(1));
        Assert.That(b.Receive(), Is.EqualTo(42));
        a.Send(5);
        Assert.That(ChannelSelect.Wait(TimeSpan.FromSeconds(30), fromA), Is.Zero);
        Assert.That(fromA.Value, Is.EqualTo(5));
        Assert.That(fromA.ChannelClosed, Is.False);
        Assert.That(ChannelSelect.Wait(TimeSpan.FromMilliseconds(10), fromA), Is.EqualTo(-1), "timed out");
        a.Close();
        Assert.That(ChannelSelect.Wait(fromA), Is.Zero);
        Assert.That(fromA.ChannelClosed, Is.True);
    }

    [Test]
    public void Select_chooses_among_ready_cases_at_random()
    {
        using var a = new Channel<int>(1000);
        using var b = new Channel<int>(1000);
        for (int i = 0; i < 1000; i++)
        {
            a.Send(i);
            b.Send(i);
        }
        var fromA = SelectCase.Receive(a);
        var fromB = SelectCase.Receive(b);
        int[] chosen = new int[2];
        for (int i = 0; i < 1000; i++)
            chosen[ChannelSelect.Wait(fromA, fromB)]++;
        // Binomial(1000, 1/2): 400..600 holds with probability 1 - 2e-10.
        Assert.That(chosen[0], Is.InRange(400, 600));
    }

    [Test]
    public void Select_is_cancelled_by_its_token()
    {
        using var a = new Channel<int>();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        var fromA = SelectCase.Receive(a);
        Assert.That(() => ChannelSelect.Wait(cts.Token, fromA), Throws.InstanceOf<OperationCanceledException>());
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelSelect.Wait());
    }

    [Test]
    public void A_disposed_channel_throws_ObjectDisposedException()
    {
        var ch = new Channel<int>(4);
        ch.Dispose();
        Assert.Throws<ObjectDisposedException>(() => ch.Send(1));
        Assert.Throws<ObjectDisposedException>(() => ch.TryReceive(out _));
        Assert.Throws<ObjectDisposedException>(() => _ = ch.NativeHandle);
        ch.Dispose();
    }

    [Test]
    public void Disposing_a_channel_that_a_fiber_waits_on_refuses_and_keeps_it_alive()
    {
        var gate = new Channel<byte>();
        Fiber waiter = NativeFibers.Spawn(_scheduler, NativeFibers.Entry.WaitForClose, gate.NativeHandle);
        // Suspended with nothing sent and the gate open: it is parked on the gate.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (waiter.State != FiberState.Suspended && DateTime.UtcNow < deadline)
            Thread.Yield();
        Assert.That(waiter.State, Is.EqualTo(FiberState.Suspended));
        nint handle = gate.NativeHandle;
        var error = Assert.Catch<Exception>(() => gate.Dispose());
        Assert.That(error, Is.InstanceOf<InvalidOperationException>());
        Assert.That(error!.Message, Does.Contain("FBR_EBUSY"));
        Assert.That(Interop.fbr_chan_close(handle), Is.Zero, "the native channel is still alive");
        Assert.That(waiter.Join(), Is.EqualTo((nint)7));
        Assert.That(Interop.fbr_chan_destroy(handle), Is.Zero);
    }

    [Test]
    public void Sizes_out_of_range_are_argument_errors()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Channel<int>(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new Channel<int>(int.MaxValue));
        Assert.Throws<NotSupportedException>(() => _ = new Channel<Huge>());
    }

    private unsafe struct Huge
    {
#pragma warning disable CS0649, IDE0051 // only its size matters
        public fixed byte Bytes[70_000];
#pragma warning restore CS0649, IDE0051
    }
}
