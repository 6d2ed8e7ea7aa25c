using System;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using FiberRuntime.Tests;
using Stc = System.Threading.Channels;

namespace FiberRuntime.Bench;

/// <summary>
/// One value back and forth: C# code sends v, a native fiber (or an async Task, for System.Threading.Channels)
/// answers v + 1. One operation is one round trip; after n of them v == n, which checks every run.
/// </summary>
internal static class PingPongBenchmarks
{
    private const string Group = "ping-pong";
    /// <summary>The figure the target (3x the round trips per second) is set against.</summary>
    internal const string StcReference = "pingpong.stc-unbounded";
    /// <summary>The reference's cost when its two Tasks never leave one thread (a stricter yardstick).</summary>
    internal const string StcOneThread = "pingpong.stc-one-thread";

    public static void Run(Context context)
    {
        static long Identity(long n) => n;
        void Describe(bool ours) => context.Environment[ours ? "ping-pong channels (ours)" : "ping-pong channels (STC)"] = ours
            ? "unbuffered Channel<long>, native echo fiber (echo_plus_one)"
            : "System.Threading.Channels, default options unless named; echo is an async Task";

        if (Environment.ProcessorCount > 1 && context.Wants("pingpong.core-to-core", diagnostic: true))
        {
            // First: the rows after it run in the same phase of the VM, and this says which one it is.
            context.Measure(Group, new Benchmark("pingpong.core-to-core",
                "floor of any round trip between CPUs: one cache line, two spinning threads", CoreToCore, Identity));
        }
        if (context.Wants(StcReference))
        {
            Describe(ours: false);
            using var echo = new StcEcho(Stc.Channel.CreateUnbounded<long>);
            context.Measure(Group, new Benchmark(StcReference,
                "STC unbounded: await WriteAsync; await ReadAsync (two async Tasks)",
                n => StcEcho.DriveAsync(echo.Ping.Writer, echo.Pong.Reader, n).GetAwaiter().GetResult(), Identity));
        }
        if (context.Wants("pingpong.stc-bounded1"))
        {
            Describe(ours: false);
            using var echo = new StcEcho(() => Stc.Channel.CreateBounded<long>(1));
            context.Measure(Group, new Benchmark("pingpong.stc-bounded1",
                "STC bounded(1): same", n => StcEcho.DriveAsync(echo.Ping.Writer, echo.Pong.Reader, n).GetAwaiter().GetResult(),
                Identity, StcReference, Comparison.Speedup));
        }
        if (context.Wants(StcOneThread, diagnostic: true))
        {
            // The reference swings between two modes on few CPUs: the pool keeps both Tasks on one thread
            // (a third to a half of its usual time here) or bounces them between two. This is the first mode alone.
            Describe(ours: false);
            using var loop = new OneThreadContext("stc one-thread loop");
            using var echo = new StcEcho(Stc.Channel.CreateUnbounded<long>, loop);
            context.Measure(Group, new Benchmark(StcOneThread,
                "STC unbounded, both Tasks on one thread (never crossing CPUs)",
                n => loop.Run(() => StcEcho.DriveAsync(echo.Ping.Writer, echo.Pong.Reader, n)).GetAwaiter().GetResult(),
                Identity, StcReference, Comparison.Speedup));
        }
        if (context.Wants("pingpong.stc-unbounded-sync", diagnostic: true))
        {
            // The fair partner of our AllowSynchronousContinuations=true row: STC may then also run the
            // continuation on the thread that completed the operation.
            Describe(ours: false);
            using var echo = new StcEcho(() => Stc.Channel.CreateUnbounded<long>(new Stc.UnboundedChannelOptions { AllowSynchronousContinuations = true }));
            context.Measure(Group, new Benchmark("pingpong.stc-unbounded-sync",
                "STC unbounded, AllowSynchronousContinuations", n => StcEcho.DriveAsync(echo.Ping.Writer, echo.Pong.Reader, n).GetAwaiter().GetResult(),
                Identity, StcReference, Comparison.Speedup));
        }

        using var scheduler = context.NewScheduler();
        if (context.Wants("pingpong.fiber-async"))
        {
            Describe(ours: true);
            using var echo = new FiberEcho(scheduler, synchronousContinuations: false);
            context.Measure(Group, new Benchmark("pingpong.fiber-async",
                "ours: await SendAsync; await ReceiveAsync vs native fiber",
                n => FiberEcho.DriveAsync(echo.Ping, echo.Pong, n).GetAwaiter().GetResult(), Identity, StcReference, Comparison.Speedup));
        }
        if (context.Wants("pingpong.fiber-async-sync"))
        {
            Describe(ours: true);
            using var echo = new FiberEcho(scheduler, synchronousContinuations: true);
            context.Measure(Group, new Benchmark("pingpong.fiber-async-sync",
                "ours: same, AllowSynchronousContinuations",
                n => FiberEcho.DriveAsync(echo.Ping, echo.Pong, n).GetAwaiter().GetResult(), Identity, StcReference, Comparison.Speedup));
        }
        if (context.Wants("pingpong.native-callbacks", diagnostic: true))
        {
            // The same flow without .NET: what the -sync row costs beyond it is the binding's.
            Describe(ours: true);
            using var echo = new FiberEcho(scheduler, synchronousContinuations: true);
            context.Measure(Group, new Benchmark("pingpong.native-callbacks",
                "floor of -sync: the same calls from C callbacks on the worker",
                n => NativeFibers.fbrtest_callback_ping_pong(echo.Ping.NativeHandle, echo.Pong.NativeHandle, n), Identity,
                StcReference, Comparison.Speedup));
        }
        if (context.Wants("pingpong.fiber-blocking"))
        {
            Describe(ours: true);
            using var echo = new FiberEcho(scheduler, synchronousContinuations: false);
            context.Measure(Group, new Benchmark("pingpong.fiber-blocking",
                "ours: Send; Receive from a C# thread vs native fiber",
                n => FiberEcho.DriveBlocking(echo.Ping, echo.Pong, n), Identity, StcReference, Comparison.Speedup));
        }
        if (context.Wants("pingpong.native-pipeline", diagnostic: true))
        {
            // The floor without .NET in the loop: produce -> echo -> consume, three native fibers and two
            // unbuffered hand-offs per value, like the two of a round trip.
            context.Measure(Group, new Benchmark("pingpong.native-pipeline",
                "floor: native produce->echo->consume, per value", n => NativePipeline(scheduler, n),
                n => n * (n + 1) / 2, StcReference, Comparison.Speedup));
        }
    }

    /// <summary>
    /// One cache line handed back and forth n times between this thread and a spinning partner: the least
    /// any round trip between threads on different CPUs can cost (416-580 ns in one day's runs on these
    /// VMs). Figures that cross CPUs move with it. STC's reference also swings with where the pool runs its
    /// two Tasks (324 ns one day, 650-1000 ns on others; 250 ns confined to one CPU), which the
    /// stc-one-thread row isolates; a round trip that stays on one worker (the -sync row) barely moves.
    /// </summary>
    private static long CoreToCore(long n)
    {
        var line = new SharedLine();
        var partner = new Thread(() =>
        {
            for (long i = 1; i <= n; i++)
            {
                while (Volatile.Read(ref line.Value) != 2 * i - 1)
                    Thread.SpinWait(1);
                Volatile.Write(ref line.Value, 2 * i);
            }
        }) { IsBackground = true, Name = "core-to-core partner" };
        partner.Start();
        for (long i = 1; i <= n; i++)
        {
            Volatile.Write(ref line.Value, 2 * i - 1);
            while (Volatile.Read(ref line.Value) != 2 * i)
                Thread.SpinWait(1);
        }
        partner.Join();
        return line.Value / 2;
    }

    /// <summary>A value alone on its cache line (and the next, which adjacent-line prefetching pulls in).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private sealed class SharedLine
    {
        [FieldOffset(128)] public long Value;
    }

    private static unsafe long NativePipeline(FiberScheduler scheduler, long n)
    {
        using var first = new Channel<long>();
        using var second = new Channel<long>();
        using var producer = new NativeFibers.NativePipe();
        using var echoer = new NativeFibers.NativePipe();
        using var consumer = new NativeFibers.NativePipe();
        *producer.Pointer = new NativeFibers.Pipe { Out = first.NativeHandle, Count = n, First = 0 };
        *echoer.Pointer = new NativeFibers.Pipe { In = first.NativeHandle, Out = second.NativeHandle };
        *consumer.Pointer = new NativeFibers.Pipe { In = second.NativeHandle };
        Fiber consume = scheduler.Spawn(NativeFibers.Consume, consumer.Address);
        Fiber echo = scheduler.Spawn(NativeFibers.EchoPlusOne, echoer.Address);
        Fiber produce = scheduler.Spawn(NativeFibers.Produce, producer.Address);
        // Each channel closes even if a join fails, so the fibers after it end and are joined before their
        // pipes are freed.
        try { produce.Join(); }
        finally { first.TryClose(); }
        try { echo.Join(); }
        finally { second.TryClose(); }
        return consume.Join();
    }

    /// <summary>An unbuffered ping/pong channel pair served by the native echo_plus_one fiber.</summary>
    internal sealed class FiberEcho : IDisposable
    {
        private readonly NativeFibers.NativePipe _pipe = new();
        private readonly Fiber _fiber;

        public unsafe FiberEcho(FiberScheduler scheduler, bool synchronousContinuations)
        {
            var options = new ChannelOptions { AllowSynchronousContinuations = synchronousContinuations };
            Ping = new Channel<long>(0, options);
            Pong = new Channel<long>(0, options);
            _pipe.Pointer->In = Ping.NativeHandle;
            _pipe.Pointer->Out = Pong.NativeHandle;
            _fiber = scheduler.Spawn(NativeFibers.EchoPlusOne, _pipe.Address);
        }

        public Channel<long> Ping { get; }
        public Channel<long> Pong { get; }

        public static async Task<long> DriveAsync(Channel<long> ping, Channel<long> pong, long rounds)
        {
            long v = 0;
            for (long i = 0; i < rounds; i++)
            {
                await ping.SendAsync(v);
                v = await pong.ReceiveAsync();
            }
            return v;
        }

        public static long DriveBlocking(Channel<long> ping, Channel<long> pong, long rounds)
        {
            long v = 0;
            for (long i = 0; i < rounds; i++)
            {
                ping.Send(v);
                v = pong.Receive();
            }
            return v;
        }

        public void Dispose()
        {
            // The fiber ends when its input closes (or, if a run broke off mid-round, when its send fails);
            // only then may the channels and the pipe go.
            Ping.TryClose();
            Pong.TryClose();
            _fiber.Join();
            Pong.Dispose();
            Ping.Dispose();
            _pipe.Dispose();
        }
    }

    /// <summary>The same shape with System.Threading.Channels: an async Task answers v + 1.</summary>
    internal sealed class StcEcho : IDisposable
    {
        private readonly Task _echo;

        /// <summary>The echo runs on the thread pool, or on <paramref name="loop"/> if given.</summary>
        public StcEcho(Func<Stc.Channel<long>> create, OneThreadContext? loop = null)
        {
            Ping = create();
            Pong = create();
            _echo = loop is null
                ? Task.Run(() => EchoAsync(Ping.Reader, Pong.Writer))
                : loop.Run(() => EchoAsync(Ping.Reader, Pong.Writer));
        }

        public Stc.Channel<long> Ping { get; }
        public Stc.Channel<long> Pong { get; }

        private static async Task EchoAsync(Stc.ChannelReader<long> input, Stc.ChannelWriter<long> output)
        {
            while (await input.WaitToReadAsync())
                while (input.TryRead(out long v))
                    await output.WriteAsync(v + 1);
        }

        public static async Task<long> DriveAsync(Stc.ChannelWriter<long> ping, Stc.ChannelReader<long> pong, long rounds)
        {
            long v = 0;
            for (long i = 0; i < rounds; i++)
            {
                await ping.WriteAsync(v);
                v = await pong.ReadAsync();
            }
            return v;
        }

        public void Dispose()
        {
            Ping.Writer.Complete();
            _echo.GetAwaiter().GetResult();
        }
    }
}
