using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// The M:N picture: many fibers over a few worker threads. A crowd of fibers that keep yielding is spread
/// over the workers; the scheduler's own counters say how many fiber runs each worker made, how often an
/// idle worker stole work and how often it slept.
/// </summary>
internal static class MnPicture
{
    public sealed record WorkerShare(int Worker, long Runs, long Steals, long Parks);

    public sealed record Picture(int Workers, long Fibers, long Yields, double ElapsedMs, IReadOnlyList<WorkerShare> PerWorker)
    {
        public JsonObject ToJson() => new()
        {
            ["workers"] = Workers,
            ["fibers"] = Fibers,
            ["yields_each"] = Yields,
            ["elapsed_ms"] = JsonOut.Number(ElapsedMs),
            ["per_worker"] = new JsonArray(PerWorker.Select(w => (JsonNode)new JsonObject
            {
                ["worker"] = w.Worker,
                ["runs"] = w.Runs,
                ["steals"] = w.Steals,
                ["parks"] = w.Parks,
            }).ToArray()),
        };
    }

    public static unsafe Picture Run(TourContext ctx)
    {
        int workers = ctx.Scheduler.WorkerCount;
        long fibers = Math.Min(ctx.Settings.Fibers, 2_000L * workers);
        const long yields = 100;
        IPhase phase = ctx.Board.Begin($"{fibers:N0} fibers over {workers} workers", fibers);
        SchedulerStats before = ctx.Scheduler.GetStats();
        using var data = new NativeArray<ChurnData>(fibers);
        using var done = new WaitGroup();
        var clock = Measure.Clock.Start();
        for (long i = 0; i < fibers; i++)
        {
            data[i].Yields = yields;
            data[i].Done = done.NativeHandle;
            done.Add(1);
            ctx.Scheduler.SpawnDetached(Workloads.Churn, data.Address(i));
        }
        while (!done.Wait(TimeSpan.FromMilliseconds(50)))
            phase.Report(fibers - done.Count);
        double elapsed = clock.ElapsedNs;
        phase.Finish();
        SchedulerStats after = ctx.Scheduler.GetStats();
        var shares = new List<WorkerShare>();
        for (int w = 0; w < after.PerWorker.Count; w++)
        {
            WorkerStats b = w < before.PerWorker.Count ? before.PerWorker[w] : default;
            WorkerStats a = after.PerWorker[w];
            shares.Add(new WorkerShare(w, a.Runs - b.Runs, a.Steals - b.Steals, a.Parks - b.Parks));
        }
        return new Picture(workers, fibers, yields, elapsed / 1e6, shares);
    }
}
