using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// The reference count that keeps a native object alive while calls use it: freed exactly once, never under
/// a call in flight, by the last call out when disposed during one, and by the finalizer when never disposed.
/// </summary>
public class NativeHandleTests
{
    private const nint Object = 0x1234;

    /// <summary>A release function that counts its calls and checks nobody is inside a call.</summary>
    private sealed class Native
    {
        public int Releases;
        public int Inside;
        public bool ReleasedUnderACall;

        public int Release(nint handle)
        {
            Assert.That(handle, Is.EqualTo(Object));
            if (Volatile.Read(ref Inside) != 0)
                ReleasedUnderACall = true;
            Interlocked.Increment(ref Releases);
            return handle == Object ? Interop.FBR_OK : Interop.FBR_EINVAL;
        }
    }

    [Test]
    public void Dispose_frees_once_and_later_calls_are_refused()
    {
        var native = new Native();
        var handle = new NativeHandle(Object, native.Release);
        Assert.That(handle.Enter(this), Is.EqualTo(Object));
        handle.Exit();
        Assert.That(handle.IsClosed, Is.False);
        handle.Dispose();
        Assert.That(handle.IsClosed, Is.True);
        Assert.That(native.Releases, Is.EqualTo(1));
        Assert.That(handle.ReleaseResult, Is.EqualTo(Interop.FBR_OK));
        var refused = Assert.Throws<ObjectDisposedException>(() => handle.Enter(this));
        Assert.That(refused!.ObjectName, Is.EqualTo(nameof(NativeHandleTests)));
        handle.Dispose();
        Assert.That(native.Releases, Is.EqualTo(1), "a refused call and a second Dispose free nothing");
    }

    [Test]
    public void Dispose_during_a_call_leaves_the_free_to_the_last_call_out()
    {
        var native = new Native();
        var handle = new NativeHandle(Object, native.Release);
        handle.Enter(this);
        handle.Enter(this);
        handle.Dispose();
        Assert.That(handle.IsClosed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => handle.Enter(this));
        handle.Exit();
        Assert.That(native.Releases, Is.Zero, "one call is still in flight");
        handle.Exit();
        Assert.That(native.Releases, Is.EqualTo(1));
    }

    [Test]
    public void A_handle_given_away_is_never_freed()
    {
        var native = new Native();
        var handle = new NativeHandle(Object, native.Release);
        handle.SetHandleAsInvalid();
        Assert.That(handle.IsClosed, Is.True);
        Assert.Throws<ObjectDisposedException>(() => handle.Enter(this));
        handle.Dispose();
        Assert.That(native.Releases, Is.Zero);
    }

    [Test]
    public void Calls_racing_Dispose_never_see_the_object_freed_under_them()
    {
        for (int round = 0; round < 20; round++)
        {
            var native = new Native();
            var handle = new NativeHandle(Object, native.Release);
            using var started = new CountdownEvent(4);
            long calls = 0;
            Task[] callers = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
            {
                started.Signal();
                while (true)
                {
                    try { handle.Enter(this); }
                    catch (ObjectDisposedException) { return; }
                    Interlocked.Increment(ref native.Inside);
                    Interlocked.Increment(ref calls);
                    Interlocked.Decrement(ref native.Inside);
                    handle.Exit();
                }
            }, TaskCreationOptions.LongRunning)).ToArray();
            started.Wait();
            while (Interlocked.Read(ref calls) < 1000)
                Thread.SpinWait(10);
            handle.Dispose();
            Task.WaitAll(callers);
            Assert.That(native.Releases, Is.EqualTo(1), "freed exactly once");
            Assert.That(native.ReleasedUnderACall, Is.False);
        }
    }

    [Test]
    public void A_handle_never_disposed_is_freed_by_the_finalizer()
    {
        var native = new Native();
        Abandon(native);
        for (int i = 0; i < 10 && Volatile.Read(ref native.Releases) == 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.That(native.Releases, Is.EqualTo(1));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Abandon(Native native)
    {
        var handle = new NativeHandle(Object, native.Release);
        handle.Enter(native);
        handle.Exit();
    }
}
