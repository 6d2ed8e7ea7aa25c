using System;
using System.Threading;
using System.Threading.Tasks;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// What it costs to start something that does nothing and wait for it to end: a fiber spawned from inside
/// the scheduler and counted down by a wait group, an OS thread started and joined, a Task.Run awaited.
/// Each is run twice and the warm second figure counts (the first pays for pools and page faults).
/// </summary>
internal static class StartupCost
{
    public static Comparison Run(TourContext ctx)
    {
        long fibers = ctx.Settings.Fibers;
        long threads = Math.Min(ctx.Settings.Threads, 2_000);
        IPhase phase = ctx.Board.Begin("start + finish: fibers, threads, Tasks", 6);
        double fiberNs = double.NaN, threadNs = double.NaN, taskNs = double.NaN;
        for (int pass = 0; pass < 2 && !ctx.Cancel.IsCancellationRequested; pass++)
        {
            fiberNs = Fibers(ctx.Scheduler, fibers);
            phase.Report(pass * 3 + 1);
            threadNs = Threads(threads, ctx.Cancel);
            phase.Report(pass * 3 + 2);
            taskNs = Tasks(fibers);
            phase.Report(pass * 3 + 3);
        }
        phase.Finish();
        return new Comparison("start_cost", "start + finish one (spawn/start + join)", "ns",
            fiberNs, threadNs, taskNs, HigherIsBetter: false,
            Note: $"{fibers:N0} fibers and Tasks, {threads:N0} threads");
    }

    private static unsafe double Fibers(FiberScheduler scheduler, long count)
    {
        using var data = new NativeArray<SpawnJoinData>(1);
        data[0].Count = count;
        scheduler.Spawn(Workloads.SpawnJoin, data.Address(0)).Join();
        if (data[0].Errors != 0)
            throw new InvalidOperationException($"{data[0].Errors} fibers could not be spawned");
        return (double)data[0].ElapsedNs / count;
    }

    private static double Threads(long count, CancellationToken cancel)
    {
        var clock = Clock.Start();
        long done = 0;
        for (; done < count && !cancel.IsCancellationRequested; done++)
        {
            var t = new Thread(static () => { });
            t.Start();
            t.Join();
        }
        return done > 0 ? clock.ElapsedNs / done : double.NaN;
    }

    private static double Tasks(long count)
    {
        var tasks = new Task[count];
        var clock = Clock.Start();
        for (long i = 0; i < count; i++)
            tasks[i] = Task.Run(static () => { });
        Task.WaitAll(tasks);
        return clock.ElapsedNs / count;
    }
}
