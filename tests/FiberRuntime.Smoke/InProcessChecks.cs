using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using FiberRuntime.Tests;

namespace FiberRuntime.Smoke;

/// <summary>The checks that run inside this process, against one shared scheduler unless a check needs its own.</summary>
internal static class InProcessChecks
{
    public static void RunAll(Report report, FiberScheduler scheduler)
    {
        report.Run("spawn-join-results", () => SpawnJoin(scheduler));
        report.Run("join-with-timeout", () => JoinWithTimeout(scheduler));
        report.Run("channel-threads-through-native-echo", () => ThreadsThroughNativeEcho(scheduler));
        report.Run("channel-native-producers-to-thread", () => NativeProducersToThread(scheduler));
        report.Run("channel-threads-to-native-consumers", () => ThreadsToNativeConsumers(scheduler));
        report.Run("async-send-receive-native-echo", () => AsyncThroughNativeEcho(scheduler));
        report.Run("async-read-all-from-native-producer", () => AsyncReadAllFromNativeProducer(scheduler));
        report.Run("async-select-native-producers", () => AsyncSelectFromNativeProducers(scheduler));
        report.Run("deadline-try-receive-timeout", DeadlineTryReceive);
        report.Run("deadline-try-send-timeout", DeadlineTrySend);
        report.Run("cancel-receive-async-precancelled", CancelReceivePrecancelled);
        report.Run("cancel-receive-async-pending", () => CancelReceivePending(scheduler));
        report.Run("cancel-send-async-pending", CancelSendPending);
        report.Run("error-double-close", DoubleClose);
        report.Run("error-send-on-closed", SendOnClosed);
        report.Run("error-receive-closed-drained", ReceiveClosedDrained);
        report.Run("waitgroup-native-fibers", () => WaitGroupNative(scheduler));
        report.Run("waitgroup-threads-and-timeout", WaitGroupThreads);
        report.Run("dispose-while-fiber-runs", DisposeWhileFiberRuns);
        report.Run("error-spawn-after-dispose", SpawnAfterDispose);
        NullReferenceChecks(report);
    }

    // ---- spawn and join --------------------------------------------------------------------

    private static void SpawnJoin(FiberScheduler scheduler)
    {
        const int Count = 500;
        var fibers = new Fiber[Count];
        for (int i = 0; i < Count; i++)
            fibers[i] = NativeFibers.Spawn(scheduler, NativeFibers.Entry.AddOne, i * 3);
        var ids = new HashSet<ulong>();
        for (int i = 0; i < Count; i++)
        {
            Expect.Equal((nint)(i * 3 + 1), fibers[i].Join(), $"result of fiber {i}");
            Expect.True(ids.Add(fibers[i].Id), $"fiber id {fibers[i].Id} given twice");
        }
        Expect.Throws<InvalidOperationException>(() => fibers[0].Join(), "joining a fiber twice");
    }

    private static void JoinWithTimeout(FiberScheduler scheduler)
    {
        Fiber sleeper = NativeFibers.Spawn(scheduler, NativeFibers.Entry.SleepMs, 300);
        Expect.True(!sleeper.TryJoin(TimeSpan.FromMilliseconds(20), out _), "TryJoin(20 ms) on a fiber sleeping 300 ms returned true");
        Expect.True(sleeper.TryJoin(TimeSpan.FromSeconds(30), out nint result), "TryJoin(30 s) gave up");
        Expect.Equal((nint)300, result, "the sleeper's result");
    }

    // ---- channels between C# threads and native fibers ---------------------------------------

    /// <summary>
    /// Three C# threads send disjoint ranges into one channel, four native fibers echo each value + 1 into
    /// another, and a C# thread receives: every value must arrive exactly once.
    /// </summary>
    private static void ThreadsThroughNativeEcho(FiberScheduler scheduler)
    {
        const int Senders = 3, PerSender = 5_000, Echoes = 4;
        const int Total = Senders * PerSender;
        using var input = new Channel<long>(capacity: 16);
        using var output = new Channel<long>(capacity: 16);
        using var pipe = new NativeFibers.NativePipe(input.NativeHandle, output.NativeHandle);
        var echoes = new List<Fiber>();
        for (int i = 0; i < Echoes; i++)
            echoes.Add(NativeFibers.Spawn(scheduler, NativeFibers.Entry.EchoPlusOne, pipe.Address, new FiberOptions { Name = $"echo{i}" }));

        var seen = new bool[Total];
        long sum = 0;
        string? receiveFailure = null;
        var receiver = new Thread(() =>
        {
            try
            {
                for (int i = 0; i < Total; i++)
                {
                    long v = output.Receive() - 1; // the echo added one
                    if (v < 1 || v > Total || seen[v - 1])
                    {
                        receiveFailure = $"value {v} is out of range or came twice";
                        return;
                    }
                    seen[v - 1] = true;
                    sum += v;
                }
            }
            catch (Exception e)
            {
                receiveFailure = Report.Describe(e);
            }
        });
        receiver.Start();
        var senders = new List<Thread>();
        for (int s = 0; s < Senders; s++)
        {
            long first = s * PerSender + 1;
            var sender = new Thread(() =>
            {
                for (long v = first; v < first + PerSender; v++)
                    input.Send(v);
            });
            senders.Add(sender);
            sender.Start();
        }
        foreach (Thread sender in senders)
            sender.Join();
        input.Close();
        long echoed = 0;
        foreach (Fiber echo in echoes)
            echoed += echo.Join();
        Expect.True(receiver.Join(TimeSpan.FromSeconds(60)), "the receiving thread did not finish");
        Expect.True(receiveFailure is null, $"receiver: {receiveFailure}");
        Expect.Equal((long)Total, echoed, "values the echo fibers report");
        Expect.Equal((long)Total * (Total + 1) / 2, sum, "checksum of the received values");
    }

    /// <summary>Four native producers send disjoint ranges; one C# thread receives them all.</summary>
    private static void NativeProducersToThread(FiberScheduler scheduler)
    {
        const int Producers = 4, PerProducer = 5_000;
        const int Total = Producers * PerProducer;
        using var channel = new Channel<long>(capacity: 64);
        var pipes = new List<NativeFibers.NativePipe>();
        var producers = new List<Fiber>();
        try
        {
            for (int p = 0; p < Producers; p++)
            {
                var pipe = new NativeFibers.NativePipe(0, channel.NativeHandle, PerProducer, p * PerProducer + 1);
                pipes.Add(pipe);
                producers.Add(NativeFibers.Spawn(scheduler, NativeFibers.Entry.Produce, pipe.Address));
            }
            var seen = new bool[Total];
            long sum = 0;
            for (int i = 0; i < Total; i++)
            {
                long v = channel.Receive();
                Expect.True(v >= 1 && v <= Total && !seen[v - 1], $"value {v} is out of range or came twice");
                seen[v - 1] = true;
                sum += v;
            }
            long reported = 0;
            foreach (Fiber producer in producers)
                reported += producer.Join();
            Expect.Equal((long)Total * (Total + 1) / 2, sum, "checksum of the received values");
            Expect.Equal(sum, reported, "sum of what the producers say they sent");
            Expect.True(!channel.TryReceive(out long extra), $"an extra value {extra} arrived");
        }
        finally
        {
            foreach (NativeFibers.NativePipe pipe in pipes)
                pipe.Dispose();
        }
    }

    /// <summary>Two C# threads send; two native consumers receive until the channel closes.</summary>
    private static void ThreadsToNativeConsumers(FiberScheduler scheduler)
    {
        const int Senders = 2, PerSender = 5_000;
        const long Total = Senders * PerSender;
        using var channel = new Channel<long>(capacity: 8);
        using var pipe = new NativeFibers.NativePipe(channel.NativeHandle, 0);
        var consumers = new[] { NativeFibers.Spawn(scheduler, NativeFibers.Entry.Consume, pipe.Address), NativeFibers.Spawn(scheduler, NativeFibers.Entry.Consume, pipe.Address) };
        var senders = new List<Thread>();
        for (int s = 0; s < Senders; s++)
        {
            long first = s * PerSender + 1;
            var sender = new Thread(() =>
            {
                for (long v = first; v < first + PerSender; v++)
                    channel.Send(v);
            });
            senders.Add(sender);
            sender.Start();
        }
        foreach (Thread sender in senders)
            sender.Join();
        channel.Close();
        long sum = 0;
        foreach (Fiber consumer in consumers)
            sum += consumer.Join();
        Expect.Equal(Total * (Total + 1) / 2, sum, "checksum of what the consumers received");
    }

    // ---- async ---------------------------------------------------------------------------------

    /// <summary>Unbuffered channels, so every await meets a native fiber: send, then receive the echo.</summary>
    private static async Task AsyncThroughNativeEcho(FiberScheduler scheduler)
    {
        const int Rounds = 2_000;
        using var input = new Channel<long>();
        using var output = new Channel<long>();
        using var pipe = new NativeFibers.NativePipe(input.NativeHandle, output.NativeHandle);
        Fiber echo = NativeFibers.Spawn(scheduler, NativeFibers.Entry.EchoPlusOne, pipe.Address);
        for (long i = 1; i <= Rounds; i++)
        {
            await input.SendAsync(i).ConfigureAwait(false);
            long back = await output.ReceiveAsync().ConfigureAwait(false);
            Expect.Equal(i + 1, back, $"echo of {i}");
        }
        // Pipelined: the sends and the receives overlap, and the order must still hold.
        Task sending = Task.Run(async () =>
        {
            for (long i = 1; i <= Rounds; i++)
                await input.SendAsync(i).ConfigureAwait(false);
        });
        for (long i = 1; i <= Rounds; i++)
            Expect.Equal(i + 1, await output.ReceiveAsync().ConfigureAwait(false), $"pipelined echo of {i}");
        await sending.ConfigureAwait(false);
        input.Close();
        Expect.Equal((nint)(2 * Rounds), echo.Join(), "values the echo fiber reports");
    }

    /// <summary>ReadAllAsync ends when the channel is closed, after a native producer filled it.</summary>
    private static async Task AsyncReadAllFromNativeProducer(FiberScheduler scheduler)
    {
        const long Count = 10_000, First = 1_000_000;
        using var channel = new Channel<long>(capacity: 32);
        using var pipe = new NativeFibers.NativePipe(0, channel.NativeHandle, Count, First);
        Fiber producer = NativeFibers.Spawn(scheduler, NativeFibers.Entry.Produce, pipe.Address);
        Task closer = Task.Run(() =>
        {
            producer.Join();
            channel.Close();
        });
        long sum = 0, count = 0, previous = First - 1;
        await foreach (long v in channel.ReadAllAsync().ConfigureAwait(false))
        {
            Expect.Equal(previous + 1, v, "the value after " + previous); // one producer: in order
            previous = v;
            sum += v;
            count++;
        }
        await closer.ConfigureAwait(false);
        Expect.Equal(Count, count, "values read");
        Expect.Equal(Count * First + Count * (Count - 1) / 2, sum, "checksum");
        Expect.True(channel.Completion.IsCompleted, "Completion did not complete after the channel was drained");
    }

    /// <summary>Two native producers, one async select loop taking every value; then a pending select cancelled.</summary>
    private static async Task AsyncSelectFromNativeProducers(FiberScheduler scheduler)
    {
        const long Count = 5_000;
        using var a = new Channel<long>();
        using var b = new Channel<long>(capacity: 8);
        using var pipeA = new NativeFibers.NativePipe(0, a.NativeHandle, Count, 0);
        using var pipeB = new NativeFibers.NativePipe(0, b.NativeHandle, Count, Count);
        Fiber producerA = NativeFibers.Spawn(scheduler, NativeFibers.Entry.Produce, pipeA.Address);
        Fiber producerB = NativeFibers.Spawn(scheduler, NativeFibers.Entry.Produce, pipeB.Address);
        SelectCase[] cases = [SelectCase.Receive(a), SelectCase.Receive(b)];
        long sum = 0;
        for (long i = 0; i < 2 * Count; i++)
        {
            int chosen = await ChannelSelect.WaitAsync(cases).ConfigureAwait(false);
            long v = ((ReceiveCase<long>)cases[chosen]).Value;
            Expect.Equal(chosen, (int)(v / Count), "the case the value came through");
            sum += v;
        }
        Expect.Equal(2 * Count * (2 * Count - 1) / 2, sum, "checksum");
        Expect.Equal((nint)(Count * (Count - 1) / 2), producerA.Join(), "producer A's sum");
        producerB.Join();

        using var cts = new CancellationTokenSource();
        ValueTask<int> pending = ChannelSelect.WaitAsync(cts.Token, cases);
        Expect.True(!pending.IsCompleted, "a select over two idle channels completed at once");
        await cts.CancelAsync().ConfigureAwait(false);
        await Expect.ThrowsAsync<OperationCanceledException>(async () => await pending.ConfigureAwait(false),
                                                             "a pending select when cancelled").ConfigureAwait(false);
        Expect.True(!a.TrySend(1), "the cancelled select left a receiver behind");
    }

    // ---- deadlines and cancellation ------------------------------------------------------------

    private static void DeadlineTryReceive()
    {
        using var channel = new Channel<long>(capacity: 1);
        var clock = Stopwatch.StartNew();
        bool got = channel.TryReceive(out _, TimeSpan.FromMilliseconds(100));
        TimeSpan waited = clock.Elapsed;
        Expect.True(!got, "TryReceive on an empty channel returned a value");
        // Lower bound with 5 ms of slack for clock granularity; the upper bound only catches "never woke".
        Expect.True(waited >= TimeSpan.FromMilliseconds(95), $"gave up after {waited.TotalMilliseconds:0} ms, before the 100 ms deadline");
        Expect.True(waited < TimeSpan.FromSeconds(10), $"took {waited.TotalMilliseconds:0} ms to notice a 100 ms deadline");
        channel.Send(5);
        Expect.True(channel.TryReceive(out long v, TimeSpan.FromMilliseconds(100)) && v == 5, "a ready value was not received in time");
    }

    private static void DeadlineTrySend()
    {
        using var channel = new Channel<long>(); // unbuffered, nobody receiving
        var clock = Stopwatch.StartNew();
        Expect.True(!channel.TrySend(1, TimeSpan.FromMilliseconds(50)), "TrySend without a receiver succeeded");
        Expect.True(clock.Elapsed >= TimeSpan.FromMilliseconds(45), $"gave up after {clock.Elapsed.TotalMilliseconds:0} ms");
        Expect.True(!channel.TryReceive(out _), "the timed-out value was left in the channel");
    }

    private static async Task CancelReceivePrecancelled()
    {
        using var channel = new Channel<long>(capacity: 4);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync().ConfigureAwait(false);
        await Expect.ThrowsAsync<OperationCanceledException>(async () => await channel.ReceiveAsync(cancelled.Token).ConfigureAwait(false),
                                                             "ReceiveAsync with a cancelled token").ConfigureAwait(false);
    }

    /// <summary>A pending receive is cancelled, and the value sent after it goes to the next receiver, not to the cancelled one.</summary>
    private static async Task CancelReceivePending(FiberScheduler scheduler)
    {
        using var channel = new Channel<long>();
        using var cts = new CancellationTokenSource();
        ValueTask<long> pending = channel.ReceiveAsync(cts.Token);
        Expect.True(!pending.IsCompleted, "ReceiveAsync on an empty channel completed at once");
        cts.CancelAfter(TimeSpan.FromMilliseconds(30));
        await Expect.ThrowsAsync<OperationCanceledException>(async () => await pending.ConfigureAwait(false), "a pending ReceiveAsync when cancelled")
                    .ConfigureAwait(false);

        using var pipe = new NativeFibers.NativePipe(0, channel.NativeHandle, count: 1, first: 42);
        Fiber producer = NativeFibers.Spawn(scheduler, NativeFibers.Entry.Produce, pipe.Address);
        Expect.True(channel.TryReceive(out long v, TimeSpan.FromSeconds(30)), "the value sent after the cancellation never came");
        Expect.Equal(42L, v, "the value sent after the cancellation");
        Expect.Equal((nint)42, producer.Join(), "the producer's sum");

        using var blocking = new CancellationTokenSource(TimeSpan.FromMilliseconds(30));
        Expect.Throws<OperationCanceledException>(() => channel.Receive(blocking.Token), "a blocking Receive when cancelled");
    }

    /// <summary>A cancelled SendAsync withdraws its value.</summary>
    private static async Task CancelSendPending()
    {
        using var channel = new Channel<long>();
        using var cts = new CancellationTokenSource();
        ValueTask pending = channel.SendAsync(9, cts.Token);
        Expect.True(!pending.IsCompleted, "SendAsync on an unbuffered channel without a receiver completed at once");
        await cts.CancelAsync().ConfigureAwait(false);
        await Expect.ThrowsAsync<OperationCanceledException>(async () => await pending.ConfigureAwait(false), "a pending SendAsync when cancelled")
                    .ConfigureAwait(false);
        Expect.True(!channel.TryReceive(out long v), $"the withdrawn value {v} was received");
    }

    // ---- errors mapped to exceptions -------------------------------------------------------------

    private static void DoubleClose()
    {
        using var channel = new Channel<long>();
        channel.Close();
        var e = Expect.Throws<System.Threading.Channels.ChannelClosedException>(channel.Close, "closing twice");
        Expect.Equal(typeof(System.Threading.Channels.ChannelClosedException), e.GetType(), "exception type");
        Expect.True(!channel.TryClose(), "TryClose on a closed channel returned true");
    }

    private static void SendOnClosed()
    {
        using var channel = new Channel<long>(capacity: 4);
        channel.Close();
        var e = Expect.Throws<System.Threading.Channels.ChannelClosedException>(() => channel.Send(1), "Send on a closed channel");
        Expect.True(e.Data.Contains(FiberErrors.ErrorCodeKey), "the exception does not carry the native error code");
        Expect.True(!channel.TrySend(1), "TrySend on a closed channel returned true");
    }

    private static void ReceiveClosedDrained()
    {
        using var channel = new Channel<long>(capacity: 4);
        channel.Send(1);
        channel.Send(2);
        channel.Close();
        Expect.Equal(1L, channel.Receive(), "first buffered value after close");
        Expect.Equal(2L, channel.Receive(), "second buffered value after close");
        Expect.Throws<System.Threading.Channels.ChannelClosedException>(() => channel.Receive(), "Receive on a closed, drained channel");
        Expect.True(channel.Completion.IsCompleted, "Completion did not complete");
    }

    // ---- wait groups ---------------------------------------------------------------------------

    private static void WaitGroupNative(FiberScheduler scheduler)
    {
        const int Fibers = 64;
        using var group = new WaitGroup();
        group.Add(Fibers);
        for (int i = 0; i < Fibers; i++)
            NativeFibers.SpawnDetached(scheduler, NativeFibers.Entry.WaitGroupDone, group.NativeHandle);
        Expect.True(group.Wait(TimeSpan.FromSeconds(30)), "Wait gave up before every fiber was done");
        Expect.Equal(0L, group.Count, "count after Wait");
    }

    private static void WaitGroupThreads()
    {
        using var group = new WaitGroup();
        group.Add(2);
        Expect.True(!group.Wait(TimeSpan.FromMilliseconds(20)), "Wait returned true with a count of 2");
        var threads = new[] { new Thread(group.Done), new Thread(group.Done) };
        foreach (Thread t in threads)
            t.Start();
        group.Wait();
        foreach (Thread t in threads)
            t.Join();
        Expect.Equal(0L, group.Count, "count after Wait");
        Expect.Throws<InvalidOperationException>(group.Done, "Done below zero");
    }

    // ---- shutdown -------------------------------------------------------------------------------

    /// <summary>
    /// Dispose must refuse to free a scheduler under a running fiber and say which one, and succeed once
    /// the fiber has finished.
    /// </summary>
    private static void DisposeWhileFiberRuns()
    {
        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1, DisposeTimeout = TimeSpan.FromMilliseconds(200) });
        using var gate = new Channel<byte>();
        using var started = new Channel<long>(capacity: 1);
        using var pipe = new NativeFibers.NativePipe(gate.NativeHandle, started.NativeHandle);
        Fiber blocked = NativeFibers.Spawn(scheduler, NativeFibers.Entry.AnnounceThenWaitForClose, pipe.Address, new FiberOptions { Name = "smoke-blocked" });
        try
        {
            Expect.Equal(1L, started.Receive(), "the blocked fiber's announcement");
            var e = Expect.Throws<FiberSchedulerShutdownException>(scheduler.Dispose, "Dispose while a fiber waits");
            Expect.True(e.Alive >= 1, $"the exception says {e.Alive} fibers are alive");
            Expect.True(e.Message.Contains("smoke-blocked", StringComparison.Ordinal), $"the message does not name the fiber: {e.Message}");
        }
        finally
        {
            gate.TryClose(); // also on failure: the channels cannot be freed while the fiber waits on them
        }
        Expect.Equal((nint)7, blocked.Join(), "the blocked fiber's result");
        scheduler.Dispose();
        scheduler.Dispose(); // idempotent
    }

    private static void SpawnAfterDispose()
    {
        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        scheduler.Dispose();
        Expect.Throws<ObjectDisposedException>(() => NativeFibers.Spawn(scheduler, NativeFibers.Entry.AddOne, 1), "Spawn after Dispose");
    }

    // ---- .NET's own fault handling with libfiberrt's SIGSEGV handler installed --------------------

    private sealed class Box
    {
        public int Value { get; set; }
    }

    /// <summary>
    /// A load through null: .NET turns the hardware fault (SIGSEGV) into NullReferenceException, which now
    /// only works if libfiberrt's handler passes faults that are not about fiber stacks on to .NET's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int ReadThrough(Box? box) => box!.Value;

    private static string? NullReferenceOnThisThread()
    {
        try
        {
            _ = ReadThrough(null);
            return "reading through null did not throw";
        }
        catch (NullReferenceException)
        {
            return null;
        }
        catch (Exception e)
        {
            return $"expected NullReferenceException, got {e.GetType().FullName}";
        }
    }

    private static void NullReferenceChecks(Report report)
    {
        // The caller created a scheduler first, so Runtime.Initialize has installed the handler.
        report.Record("null-reference-main-thread", NullReferenceOnThisThread());
        string? onThread = "the thread did not run";
        var thread = new Thread(() => onThread = NullReferenceOnThisThread());
        thread.Start();
        thread.Join();
        report.Record("null-reference-new-thread", onThread);
        report.Run("null-reference-thread-pool", () =>
        {
            string? failure = NullReferenceOnThisThread();
            Expect.True(failure is null, failure ?? "");
        });
    }
}
