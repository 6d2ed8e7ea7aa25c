using System;
using System.Threading.Tasks;
using FiberRuntime.Tests;
using Stc = System.Threading.Channels;

namespace FiberRuntime.Bench;

/// <summary>
/// A round trip whose answer is awaited with a select over two channels (the answer's and one that stays
/// idle): ChannelSelect.WaitAsync against a native echo fiber, and System.Threading.Channels' own idiom
/// between two async Tasks (TryRead, else Task.WhenAny of WaitToReadAsync). One operation is one round
/// trip; after n of them the value is n.
/// </summary>
internal static class SelectBenchmarks
{
    private const string Group = "select";
    private const string StcReference = "select.stc-whenany";

    public static void Run(Context context)
    {
        static long Identity(long n) => n;
        if (context.Wants(StcReference))
        {
            using var echo = new PingPongBenchmarks.StcEcho(Stc.Channel.CreateUnbounded<long>);
            var idle = Stc.Channel.CreateUnbounded<long>();
            context.Measure(Group, new Benchmark(StcReference,
                "STC: await WriteAsync; TryRead, else await WhenAny(WaitToReadAsync x2)",
                n => DriveStcAsync(echo.Ping.Writer, echo.Pong.Reader, idle.Reader, n).GetAwaiter().GetResult(), Identity));
        }
        if (context.Wants("select.fiber-async"))
        {
            using var scheduler = context.NewScheduler();
            using var echo = new PingPongBenchmarks.FiberEcho(scheduler, synchronousContinuations: false);
            using var idle = new Channel<long>();
            context.Measure(Group, new Benchmark("select.fiber-async",
                "ours: await SendAsync; await ChannelSelect.WaitAsync(pong, idle) vs native fiber",
                n => DriveAsync(echo.Ping, echo.Pong, idle, n).GetAwaiter().GetResult(), Identity, StcReference, Comparison.Speedup));
        }
    }

    private static async Task<long> DriveAsync(Channel<long> ping, Channel<long> pong, Channel<long> idle, long rounds)
    {
        var fromPong = SelectCase.Receive(pong);
        SelectCase[] cases = [fromPong, SelectCase.Receive(idle)];
        long v = 0;
        for (long i = 0; i < rounds; i++)
        {
            await ping.SendAsync(v);
            if (await ChannelSelect.WaitAsync(cases) != 0)
                throw new InvalidOperationException("the idle channel was chosen");
            v = fromPong.Value;
        }
        return v;
    }

    private static async Task<long> DriveStcAsync(Stc.ChannelWriter<long> ping, Stc.ChannelReader<long> pong,
                                                  Stc.ChannelReader<long> idle, long rounds)
    {
        long v = 0;
        for (long i = 0; i < rounds; i++)
        {
            await ping.WriteAsync(v);
            while (!pong.TryRead(out v))
            {
                if (idle.TryRead(out _))
                    throw new InvalidOperationException("the idle channel had a value");
                await Task.WhenAny(pong.WaitToReadAsync().AsTask(), idle.WaitToReadAsync().AsTask());
            }
        }
        return v;
    }
}
