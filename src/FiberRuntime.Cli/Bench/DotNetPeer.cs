using System;
using System.Threading.Tasks;
using FiberRuntime.Cli.Measure;
using ThreadingChannel = System.Threading.Channels.Channel;

namespace FiberRuntime.Cli.Bench;

/// <summary>
/// The workloads written with .NET Tasks and System.Threading.Channels, run in this process, with the
/// sizes of bench_sched.c. They run on the thread pool, which uses every CPU whatever --threads says.
/// </summary>
internal static class DotNetPeer
{
    public const string Name = ".NET Tasks";

    /// <summary>The figure for <paramref name="workload"/> in its unit, or null for an unknown one.</summary>
    public static double? Run(string workload) => workload switch
    {
        "spawn_join" => SpawnJoin(100_000),
        "ping_pong" => Tour.PingPong.Tasks(500_000), // the tour's Tasks row, at bench_sched.c's size
        "buffered" => Buffered(5_000_000).GetAwaiter().GetResult(),
        "skynet" => Skynet(),
        _ => null,
    };

    private static double SpawnJoin(int count)
    {
        var tasks = new Task[count];
        var clock = Clock.Start();
        for (int i = 0; i < count; i++)
            tasks[i] = Task.Run(static () => { });
        Task.WaitAll(tasks);
        return clock.ElapsedNs / count;
    }

    private static async Task<double> Buffered(int items)
    {
        var channel = ThreadingChannel.CreateBounded<long>(new System.Threading.Channels.BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true });
        var clock = Clock.Start();
        Task<long> consumer = Task.Run(async () =>
        {
            long sum = 0;
            await foreach (long v in channel.Reader.ReadAllAsync().ConfigureAwait(false))
                sum += v;
            return sum;
        });
        for (long i = 0; i < items; i++)
            await channel.Writer.WriteAsync(i).ConfigureAwait(false);
        channel.Writer.Complete();
        long total = await consumer.ConfigureAwait(false);
        double elapsed = clock.ElapsedNs;
        if (total != (long)items * (items - 1) / 2)
            throw new InvalidOperationException("the buffered channel lost items");
        return elapsed / items;
    }

    private static double Skynet()
    {
        var clock = Clock.Start();
        long sum = SkynetNode(0, 1_000_000, 10).GetAwaiter().GetResult();
        double elapsed = clock.ElapsedNs;
        if (sum != 499_999_500_000L)
            throw new InvalidOperationException("skynet summed wrong");
        return elapsed / 1e6;
    }

    private static async Task<long> SkynetNode(long num, long size, long div)
    {
        if (size == 1)
            return num;
        var children = new Task<long>[div];
        long part = size / div;
        for (long i = 0; i < div; i++)
        {
            long child = num + i * part;
            children[i] = Task.Run(() => SkynetNode(child, part, div));
        }
        long sum = 0;
        foreach (Task<long> c in children)
            sum += await c.ConfigureAwait(false);
        return sum;
    }
}
