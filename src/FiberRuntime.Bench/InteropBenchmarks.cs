using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks;

namespace FiberRuntime.Bench;

/// <summary>
/// What one call into the native library costs, from the bare transition up to a channel operation through
/// the binding (a check that the channel is not disposed around every call), against an empty loop. All on
/// one thread, nothing waits: these are the fixed costs under every figure of the other groups.
/// </summary>
internal static unsafe class InteropBenchmarks
{
    private const string Group = "per call";
    private const string Empty = "interop.empty-loop";

    public static void Run(Context context)
    {
        static long Zero(long n) => 0;

        if (context.Wants(Empty))
            context.Measure(Group, new Benchmark(Empty, "empty loop (sum += i)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += i;
                return sum;
            }, n => n * (n - 1) / 2));
        if (context.Wants("interop.managed-call"))
            Per(context, "interop.managed-call", "a non-inlined C# call", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += ManagedCall(i);
                return sum;
            }, n => n * (n + 1) / 2);
        if (context.Wants("interop.runtime-stackmode"))
            Per(context, "interop.runtime-stackmode", "Runtime.ActiveStackMode (one P/Invoke, no handle)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += (long)Runtime.ActiveStackMode;
                return sum;
            }, null);

        using var channel = new Channel<long>(capacity: 64);
        nint ch = channel.NativeHandle;
        if (context.Wants("interop.raw-pinvoke", diagnostic: true))
            Per(context, "interop.raw-pinvoke", "direct P/Invoke fbr_chan_cap(ptr), no handle check", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += (long)RawNative.fbr_chan_cap(ch);
                return sum;
            }, n => 64 * n);
        if (context.Wants("interop.raw-pinvoke-suppressgc", diagnostic: true))
            Per(context, "interop.raw-pinvoke-suppressgc", "same, [SuppressGCTransition]", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += (long)RawNative.fbr_chan_cap_no_transition(ch);
                return sum;
            }, n => 64 * n);
        if (context.Wants("interop.channel-count"))
            Per(context, "interop.channel-count", "Channel.Count (disposed check + fbr_chan_len)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += channel.Count;
                return sum;
            }, Zero);
        if (context.Wants("interop.raw-chan-len", diagnostic: true))
            Per(context, "interop.raw-chan-len", "direct fbr_chan_len(ptr), no handle check", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += (long)RawNative.fbr_chan_len(ch);
                return sum;
            }, Zero);
        if (context.Wants("interop.safehandle-enter-exit", diagnostic: true))
        {
            using var handle = new DummyHandle();
            Per(context, "interop.safehandle-enter-exit", "SafeHandle AddRef + Release (what each call took at first)", n =>
            {
                for (long i = 0; i < n; i++)
                {
                    bool added = false;
                    handle.DangerousAddRef(ref added);
                    handle.DangerousRelease();
                }
                return 0;
            }, Zero);
        }
        if (context.Wants("interop.trysend-tryreceive"))
            Per(context, "interop.trysend-tryreceive", "Channel TrySend / TryReceive, buffered; per call", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i += 2)
                {
                    channel.TrySend(i);
                    channel.TryReceive(out long v);
                    sum += v;
                }
                return sum;
            }, n => n / 2 * (n - 2) / 2, granularity: 2);
        if (context.Wants("interop.raw-trysend-tryrecv", diagnostic: true))
            Per(context, "interop.raw-trysend-tryrecv", "direct fbr_chan_try_send / try_recv; per call", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i += 2)
                {
                    long v = i;
                    if ((RawNative.fbr_chan_try_send(ch, &v) | RawNative.fbr_chan_try_recv(ch, &v)) != 0)
                        throw new InvalidOperationException("a direct try_send/try_recv failed");
                    sum += v;
                }
                return sum;
            }, n => n / 2 * (n - 2) / 2, granularity: 2);
        if (context.Wants("interop.tryreceive-empty"))
            Per(context, "interop.tryreceive-empty", "Channel.TryReceive on an empty channel (FBR_EAGAIN)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += channel.TryReceive(out _) ? 1 : 0;
                return sum;
            }, Zero);
        if (context.Wants("interop.waitgroup-add-done"))
        {
            using var group = new WaitGroup();
            Per(context, "interop.waitgroup-add-done", "WaitGroup Add(1) / Done(); per call", n =>
            {
                for (long i = 0; i < n; i += 2)
                {
                    group.Add(1);
                    group.Done();
                }
                return group.Count;
            }, Zero, granularity: 2);
        }
        if (context.Wants("interop.channel-create-dispose"))
            Per(context, "interop.channel-create-dispose", "new Channel<long>(), one TrySend, Dispose (a reply channel's life)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                {
                    var reply = new Channel<long>(capacity: 1);
                    sum += reply.TrySend(i) ? 1 : 0;
                    reply.Dispose();
                }
                return sum;
            }, n => n);
        if (context.Wants("interop.gchandle-lookup", diagnostic: true))
        {
            var target = new object();
            var gc = GCHandle.Alloc(target);
            nint p = GCHandle.ToIntPtr(gc);
            Per(context, "interop.gchandle-lookup", "GCHandle.FromIntPtr(p).Target (the callback's lookup)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += ReferenceEquals(GCHandle.FromIntPtr(p).Target, target) ? 1 : 0;
                return sum;
            }, n => n);
            gc.Free();
        }

        // The async machinery without threads or fibers: every completion here runs inline on this thread.
        using var unbuffered = new Channel<long>();
        if (context.Wants("async.receive-completed-by-trysend", diagnostic: true))
            Per(context, "async.receive-completed-by-trysend", "ReceiveAsync pends, TrySend completes it (callback inline)", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                {
                    ValueTask<long> pending = unbuffered.ReceiveAsync();
                    if (!unbuffered.TrySend(i) || !pending.IsCompleted)
                        throw new InvalidOperationException("TrySend did not complete the pending receive");
                    sum += pending.GetAwaiter().GetResult();
                }
                return sum;
            }, n => n * (n - 1) / 2);
        nint raw = unbuffered.NativeHandle;
        if (context.Wants("async.raw-recv-async-callback", diagnostic: true))
            Per(context, "async.raw-recv-async-callback", "same in direct calls: recv_async, try_send, op_release", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                {
                    long slot, value = i;
                    nint op;
                    if (RawNative.fbr_chan_recv_async(raw, &slot, &OnRawComplete, 0, &op) != 1 /* FBR_PENDING */)
                        throw new InvalidOperationException("recv_async did not pend");
                    if ((RawNative.fbr_chan_try_send(raw, &value) | RawNative.fbr_chan_op_release(op)) != 0)
                        throw new InvalidOperationException("a direct try_send/op_release failed");
                    sum += s_lastValue;
                }
                return sum;
            }, n => n * (n - 1) / 2);
        if (context.Wants("async.sendasync-immediate", diagnostic: true))
            Per(context, "async.sendasync-immediate", "SendAsync with room (completes at once) / TryReceive; per call", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i += 2)
                {
                    ValueTask sent = channel.SendAsync(i);
                    if (!sent.IsCompletedSuccessfully)
                        throw new InvalidOperationException("SendAsync with room in the buffer did not complete at once");
                    channel.TryReceive(out long v);
                    sum += v;
                }
                return sum;
            }, n => n / 2 * (n - 2) / 2, granularity: 2);
        if (context.Wants("async.receiveasync-immediate", diagnostic: true))
            Per(context, "async.receiveasync-immediate", "TrySend / ReceiveAsync with a value buffered (completes at once); per call", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i += 2)
                {
                    channel.TrySend(i);
                    ValueTask<long> received = channel.ReceiveAsync();
                    if (!received.IsCompletedSuccessfully)
                        throw new InvalidOperationException("ReceiveAsync with a value buffered did not complete at once");
                    sum += received.Result;
                }
                return sum;
            }, n => n / 2 * (n - 2) / 2, granularity: 2);
    }

    private static void Per(Context context, string id, string description, Func<long, long> run, Func<long, long>? expected, long granularity = 1)
        => context.Measure(Group, new Benchmark(id, description, run, expected, Empty, Comparison.Overhead, granularity));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long ManagedCall(long i) => i + 1;

    private static long s_lastValue;

    [UnmanagedCallersOnly]
    private static void OnRawComplete(nint state, int result, nint value) => s_lastValue = *(long*)value;

    private sealed class DummyHandle : SafeHandle
    {
        public DummyHandle() : base(0, ownsHandle: true) => SetHandle(1);
        public override bool IsInvalid => handle == 0;
        protected override bool ReleaseHandle() => true;
    }
}
