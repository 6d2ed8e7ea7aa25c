using System;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Channels;
using System.Threading.Tasks;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// One value handed back and forth: two fibers over unbuffered fiberrt channels, two OS threads over a
/// lock and a condition (Monitor.Wait/Pulse, what a blocking hand-off between threads comes down to), and
/// two async Tasks over System.Threading.Channels. Each round trip is two hand-offs that wake the other side.
/// </summary>
internal static class PingPong
{
    /// <summary>The same round trip between two C# fiber bodies, next to the native fibers' row.</summary>
    public static Comparison RunCSharpBodies(TourContext ctx, Comparison native)
    {
        double managed = CSharpBodies(ctx.Scheduler, ctx.Settings.Rounds);
        return new Comparison("ping_pong_csharp", "ping-pong round trip, C# fiber bodies", "ns",
            managed, native.Threads, native.Tasks, HigherIsBetter: false,
            Note: "two C# fiber bodies (FiberScheduler.Spawn(FiberBody<T>, ...)) over unbuffered channels; threads and Tasks as above");
    }

    private sealed class Side
    {
        public FiberRuntime.Channel<long> Ping = null!;
        public FiberRuntime.Channel<long> Pong = null!;
        public long Rounds;
        public long Sum;
    }

    private static double CSharpBodies(FiberScheduler scheduler, long rounds)
    {
        using var ping = new FiberRuntime.Channel<long>();
        using var pong = new FiberRuntime.Channel<long>();
        var pinger = new Side { Ping = ping, Pong = pong, Rounds = rounds };
        var ponger = new Side { Ping = ping, Pong = pong, Rounds = rounds };
        Clock clock = Clock.Start();
        Fiber echo = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Side s) =>
        {
            for (long i = 0; i < s.Rounds; i++)
            {
                long v = s.Ping.Receive();
                s.Pong.Send(v + 1);
            }
        }, ponger);
        Fiber ask = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Side s) =>
        {
            for (long i = 0; i < s.Rounds; i++)
            {
                s.Ping.Send(i);
                long back = s.Pong.Receive();
                s.Sum += back;
            }
        }, pinger);
        ask.Join();
        echo.Join();
        double elapsed = clock.ElapsedNs;
        if (pinger.Sum != rounds * (rounds + 1) / 2)
            throw new InvalidOperationException($"ping-pong between C# fibers lost values: sum {pinger.Sum}");
        return elapsed / rounds;
    }

    public static Comparison Run(TourContext ctx)
    {
        long rounds = ctx.Settings.Rounds;
        // A thread round trip costs tens of microseconds on a VM: a tenth of the rounds says as much.
        long threadRounds = Math.Max(rounds / 10, 100);
        IPhase phase = ctx.Board.Begin("ping-pong: fibers, threads, Tasks", 3);
        double fibers = Fibers(ctx.Scheduler, rounds);
        phase.Report(1);
        double threads = ctx.Cancel.IsCancellationRequested ? double.NaN : Threads(threadRounds);
        phase.Report(2);
        double tasks = ctx.Cancel.IsCancellationRequested ? double.NaN : Tasks(rounds);
        phase.Finish();
        return new Comparison("ping_pong", "ping-pong round trip", "ns",
            fibers, threads, tasks, HigherIsBetter: false,
            Note: $"fibers: unbuffered channel; threads: Monitor hand-off ({threadRounds:N0} rounds); Tasks: System.Threading.Channels");
    }

    public static unsafe double Fibers(FiberScheduler scheduler, long rounds)
    {
        using var data = new NativeArray<PingPongData>(1);
        data[0].Rounds = rounds;
        scheduler.Spawn(Workloads.PingPong, data.Address(0)).Join();
        if (data[0].Errors != 0)
            throw new InvalidOperationException($"ping-pong between fibers went wrong {data[0].Errors} times");
        return (double)data[0].ElapsedNs / rounds;
    }

    /// <summary>A one-slot mailbox per direction, guarded by one lock.</summary>
    private sealed class Handoff
    {
        public long Value;
        public bool Full;
    }

    public static double Threads(long rounds)
    {
        var ping = new Handoff();
        var pong = new Handoff();
        var partner = new Thread(() =>
        {
            for (long i = 0; i < rounds; i++)
                Put(pong, Take(ping) + 1);
        }) { IsBackground = true };
        partner.Start();
        var clock = Clock.Start();
        for (long i = 0; i < rounds; i++)
        {
            Put(ping, i);
            if (Take(pong) != i + 1)
                throw new InvalidOperationException("the thread hand-off returned a wrong value");
        }
        double elapsed = clock.ElapsedNs;
        partner.Join();
        return elapsed / rounds;
    }

    private static void Put(Handoff box, long value)
    {
        lock (box)
        {
            while (box.Full)
                Monitor.Wait(box);
            box.Value = value;
            box.Full = true;
            Monitor.PulseAll(box);
        }
    }

    private static long Take(Handoff box)
    {
        lock (box)
        {
            while (!box.Full)
                Monitor.Wait(box);
            box.Full = false;
            Monitor.PulseAll(box);
            return box.Value;
        }
    }

    /// <summary>Nanoseconds per round trip between two async Tasks (also the bench command's .NET peer).</summary>
    public static double Tasks(long rounds) => TasksAsync(rounds).GetAwaiter().GetResult();

    private static async Task<double> TasksAsync(long rounds)
    {
        // Capacity 1 is the closest System.Threading.Channels has to an unbuffered channel.
        var options = new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true };
        var ping = System.Threading.Channels.Channel.CreateBounded<long>(options);
        var pong = System.Threading.Channels.Channel.CreateBounded<long>(options);
        Task partner = Task.Run(async () =>
        {
            await foreach (long v in ping.Reader.ReadAllAsync().ConfigureAwait(false))
                await pong.Writer.WriteAsync(v + 1).ConfigureAwait(false);
        });
        var clock = Clock.Start();
        for (long i = 0; i < rounds; i++)
        {
            await ping.Writer.WriteAsync(i).ConfigureAwait(false);
            if (await pong.Reader.ReadAsync().ConfigureAwait(false) != i + 1)
                throw new InvalidOperationException("the Channels ping-pong returned a wrong value");
        }
        double elapsed = clock.ElapsedNs;
        ping.Writer.Complete();
        await partner.ConfigureAwait(false);
        return elapsed / rounds;
    }
}
