using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// A channel's handle, which counts no calls: Dispose frees at once only a channel that never left its thread
/// and is disposed outside any call of its own; every other is freed by the finalizer, never under a call in
/// flight, exactly once; one still waited on is refused and never freed.
/// </summary>
public class CollectedHandleTests
{
    private const nint Object = 0x5678;

    /// <summary>Native release and check functions that count their calls and see whether a call is inside.</summary>
    private sealed class Native
    {
        public int Releases;
        public int Checks;
        public int Inside;
        public bool ReleasedUnderACall;
        public int CheckAnswer = Interop.FBR_OK;

        public int Release(nint handle)
        {
            Assert.That(handle, Is.EqualTo(Object));
            if (Volatile.Read(ref Inside) != 0)
                ReleasedUnderACall = true;
            Interlocked.Increment(ref Releases);
            return Interop.FBR_OK;
        }

        public int Check(nint handle)
        {
            Assert.That(handle, Is.EqualTo(Object));
            Interlocked.Increment(ref Checks);
            return CheckAnswer;
        }

        public CollectedHandle NewHandle() => new(Object, Release, Check, nativeBytes: 64);

        public void CollectUntilReleased()
        {
            for (int i = 0; i < 10 && Volatile.Read(ref Releases) == 0; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }
    }

    [Test]
    public void A_handle_used_by_one_thread_is_freed_by_Dispose_at_once()
    {
        var native = new Native();
        var handle = native.NewHandle();
        for (int i = 0; i < 3; i++)
        {
            Assert.That(handle.Enter(this), Is.EqualTo(Object));
            handle.Exit();
        }
        handle.Dispose();
        Assert.That(handle.IsClosed, Is.True);
        Assert.That(native.Releases, Is.EqualTo(1));
        Assert.That(handle.ReleaseResult, Is.Zero);
        var refused = Assert.Throws<ObjectDisposedException>(() => handle.Enter(this));
        Assert.That(refused!.ObjectName, Is.EqualTo(nameof(CollectedHandleTests)));
        handle.Dispose();
        GC.KeepAlive(handle);
        native.CollectUntilReleased();
        Assert.That(native.Releases, Is.EqualTo(1), "a second Dispose and the finalizer free nothing more");
    }

    [Test]
    public void A_handle_used_by_another_thread_is_freed_by_the_finalizer_only()
    {
        var native = new Native();
        UseElsewhereAndDispose(native);
        Assert.That(native.Releases, Is.Zero, "Dispose cannot know that the other thread's call has ended");
        Assert.That(native.Checks, Is.EqualTo(1), "but it asked whether the free would be refused");
        native.CollectUntilReleased();
        Assert.That(native.Releases, Is.EqualTo(1));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void UseElsewhereAndDispose(Native native)
    {
        var handle = native.NewHandle();
        var other = new Thread(() =>
        {
            handle.Enter(native);
            handle.Exit();
        });
        other.Start();
        other.Join();
        handle.Dispose();
        Assert.Throws<ObjectDisposedException>(() => handle.Enter(native));
    }

    [Test]
    public void Dispose_inside_a_completion_leaves_the_free_to_the_finalizer()
    {
        // A completion callback is how managed code runs inside a native channel call of the same thread.
        var native = new Native();
        DisposeInCompletion(native);
        Assert.That(native.Releases, Is.Zero);
        native.CollectUntilReleased();
        Assert.That(native.Releases, Is.EqualTo(1));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DisposeInCompletion(Native native)
    {
        var handle = native.NewHandle();
        handle.Enter(native);
        bool outer = AwaitSpin.EnterCompletion();
        try { handle.Dispose(); }
        finally { AwaitSpin.ExitCompletion(outer); }
        handle.Exit();
    }

    [Test]
    public void A_handle_still_waited_on_is_refused_and_never_freed()
    {
        var native = new Native { CheckAnswer = Interop.FBR_EBUSY };
        RefuseDispose(native);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.That(native.Releases, Is.Zero, "the native side keeps what Dispose left to it");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RefuseDispose(Native native)
    {
        var handle = native.NewHandle();
        var other = new Thread(() =>
        {
            handle.Enter(native);
            handle.Exit();
        });
        other.Start();
        other.Join();
        handle.Dispose();
        Assert.That(handle.ReleaseResult, Is.EqualTo(Interop.FBR_EBUSY));
        Assert.That(handle.IsClosed, Is.True);
    }

    [Test]
    public void Calls_racing_Dispose_never_see_the_object_freed_under_them()
    {
        // The callers' first calls race the creator's Dispose: each either marks the handle shared before
        // Dispose looks (no free at once) or sees it disposed (no call).
        var natives = Enumerable.Range(0, 40).Select(_ => new Native()).ToArray();
        foreach (var native in natives)
            RaceDispose(native);
        foreach (var native in natives)
            native.CollectUntilReleased();
        Assert.That(natives.Select(n => n.Releases), Is.All.EqualTo(1), "each freed exactly once");
        Assert.That(natives.Count(n => n.ReleasedUnderACall), Is.Zero);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RaceDispose(Native native)
    {
        var handle = native.NewHandle();
        using var ready = new CountdownEvent(2);
        Task[] callers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            ready.Signal();
            ready.Wait();
            while (true)
            {
                try { handle.Enter(native); }
                catch (ObjectDisposedException) { return; }
                Interlocked.Increment(ref native.Inside);
                Thread.SpinWait(20);
                Interlocked.Decrement(ref native.Inside);
                handle.Exit();
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        ready.Wait();
        handle.Dispose();
        Task.WaitAll(callers);
    }

    [Test]
    public void A_channel_used_and_disposed_on_its_thread_refuses_later_calls()
    {
        var channel = new Channel<long>(capacity: 2);
        Assert.That(channel.TrySend(5), Is.True);
        Assert.That(channel.TryReceive(out long v) && v == 5, Is.True);
        channel.Dispose();
        Assert.Throws<ObjectDisposedException>(() => channel.TrySend(1));
        Assert.Throws<ObjectDisposedException>(() => _ = channel.Count);
        channel.Dispose();
    }

    [Test]
    public async Task A_channel_streamed_between_threads_and_disposed_refuses_later_calls()
    {
        var channel = new Channel<long>(capacity: 4);
        long sum = 0;
        Task consumer = Task.Run(() =>
        {
            while (channel.ReceiveOrClosed(out long item))
                sum += item;
        });
        for (long i = 1; i <= 1000; i++)
            await channel.SendAsync(i);
        channel.Close();
        await consumer;
        Assert.That(sum, Is.EqualTo(1000L * 1001 / 2));
        channel.Dispose();
        Assert.Throws<ObjectDisposedException>(() => channel.TrySend(1));
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await channel.ReceiveAsync());
    }
}
