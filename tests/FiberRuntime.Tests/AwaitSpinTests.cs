using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// The short watch of a pending async channel operation (<see cref="AwaitSpin"/>): how it backs off, and
/// where it never happens. Whether a watch catches an answer is timing and lives in the benchmarks.
/// </summary>
public class AwaitSpinTests
{
    private static int SkippedBeforeNextWatch(ref AwaitSpin spin)
    {
        int skipped = 0;
        while (!spin.ShouldWatch())
            skipped++;
        return skipped;
    }

    [Test]
    public void Each_vain_watch_doubles_the_run_of_skipped_ones_and_an_answered_one_ends_it()
    {
        var spin = new AwaitSpin();
        Assert.That(SkippedBeforeNextWatch(ref spin), Is.EqualTo(0));
        int[] expected = [1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 1023];
        foreach (int skips in expected)
        {
            spin.Record(answered: false);
            Assert.That(SkippedBeforeNextWatch(ref spin), Is.EqualTo(skips));
        }
        spin.Record(answered: true);
        Assert.That(SkippedBeforeNextWatch(ref spin), Is.EqualTo(0));
        spin.Record(answered: false);
        Assert.That(SkippedBeforeNextWatch(ref spin), Is.EqualTo(1), "the run starts over after an answer");
    }

    [Test]
    public async Task An_async_receive_nobody_answers_is_watched_in_vain_and_the_next_is_skipped()
    {
        Assume.That(Environment.ProcessorCount, Is.GreaterThan(1), "nobody watches on one CPU");
        using var ch = new Channel<int>();
        Assert.That(ch.WatchesNextPending, Is.True);
        ValueTask<int> pending = ch.ReceiveAsync();
        Assert.That(pending.IsCompleted, Is.False);
        Assert.That(ch.WatchesNextPending, Is.False);
        ch.Send(7); // a thread's send hands the value to the waiting receive
        Assert.That(await pending, Is.EqualTo(7));
    }

    [Test]
    public async Task An_async_select_nobody_answers_is_watched_in_vain_and_the_next_is_skipped()
    {
        Assume.That(Environment.ProcessorCount, Is.GreaterThan(1), "nobody watches on one CPU");
        using var ch = new Channel<int>();
        var fromCh = SelectCase.Receive(ch);
        // Selects share what they learnt: skip through whatever earlier tests left until the next is watched.
        for (int i = 0; i < 2048 && !ChannelSelect.WatchesNextPending; i++)
        {
            using var cts = new CancellationTokenSource();
            ValueTask<int> skipped = ChannelSelect.WaitAsync(cts.Token, fromCh);
            cts.Cancel();
            Assert.ThrowsAsync<OperationCanceledException>(async () => await skipped);
        }
        Assert.That(ChannelSelect.WatchesNextPending, Is.True);
        ValueTask<int> pending = ChannelSelect.WaitAsync(fromCh);
        Assert.That(pending.IsCompleted, Is.False);
        Assert.That(ChannelSelect.WatchesNextPending, Is.False, "watched in vain: the next one is skipped");
        ch.Send(7);
        Assert.That(await pending, Is.Zero);
        Assert.That(fromCh.Value, Is.EqualTo(7));
    }

    [Test]
    public async Task Code_run_by_a_completion_never_watches()
    {
        Assume.That(Environment.ProcessorCount, Is.GreaterThan(1), "nobody watches on one CPU");
        // A continuation allowed to run synchronously runs inside the completion, on the thread that
        // completed the operation (here the test's own, by sending; in general a scheduler worker).
        using var trigger = new Channel<int>(0, new ChannelOptions { AllowSynchronousContinuations = true });
        using var quiet = new Channel<int>();
        ValueTask<int> quietReceive = default;
        bool watchedInside = true;
        async Task ContinueInsideTheCompletion()
        {
            await trigger.ReceiveAsync().ConfigureAwait(false);
            quietReceive = quiet.ReceiveAsync();
            watchedInside = !quiet.WatchesNextPending;
        }
        Task continuation = ContinueInsideTheCompletion();
        Assert.That(continuation.IsCompleted, Is.False, "waits for the trigger");
        trigger.Send(1);
        Assert.That(continuation.IsCompleted, Is.True, "ran inside the send's completion");
        await continuation;
        Assert.That(quietReceive.IsCompleted, Is.False);
        Assert.That(watchedInside, Is.False);
        quiet.Send(2);
        Assert.That(await quietReceive, Is.EqualTo(2));
    }
}
