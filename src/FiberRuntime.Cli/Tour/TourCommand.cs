using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Linq;
using System.Text.Json.Nodes;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;
using Spectre.Console;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// The default command: measures, in one run on this machine, each thing the runtime exists for, next to
/// OS threads and .NET Tasks doing the same, and ends with a summary table.
/// </summary>
internal static class TourCommand
{
    private static readonly Option<long> FibersOption = new("--fibers")
    {
        Description = "Bound on fibers (and Tasks) kept alive at once; also the spawn count",
        DefaultValueFactory = _ => 100_000,
    };

    private static readonly Option<long> ThreadsOption = new("--threads")
    {
        Description = "Bound on OS threads kept alive at once",
        DefaultValueFactory = _ => 10_000,
    };

    private static readonly Option<long> DivesOption = new("--dives")
    {
        Description = "Fibers recursing to random depths at once",
        DefaultValueFactory = _ => 10_000,
    };

    private static readonly Option<int> MaxDepthOption = new("--max-depth-kib")
    {
        Description = "Deepest recursion, in KiB of stack (1 KiB frames)",
        DefaultValueFactory = _ => 512,
    };

    private static readonly Option<long> RoundsOption = new("--rounds")
    {
        Description = "Ping-pong round trips (threads do a tenth)",
        DefaultValueFactory = _ => 100_000,
    };

    /// <summary>Adds the tour's options and action to the root command.</summary>
    public static void Attach(RootCommand root)
    {
        root.Options.Add(FibersOption);
        root.Options.Add(ThreadsOption);
        root.Options.Add(DivesOption);
        root.Options.Add(MaxDepthOption);
        root.Options.Add(RoundsOption);
        root.SetAction(parse => Cli.Run(parse, (ui, interrupt) =>
        {
            var settings = new TourSettings
            {
                Fibers = parse.GetValue(FibersOption),
                Threads = parse.GetValue(ThreadsOption),
                Dives = parse.GetValue(DivesOption),
                MaxDepthKib = parse.GetValue(MaxDepthOption),
                Rounds = parse.GetValue(RoundsOption),
                Workers = parse.GetValue(Cli.WorkersOption),
            };
            string? error = Validate(settings);
            if (error != null)
                return Cli.UsageError(error);
            return Run(ui, interrupt, settings);
        }));
    }

    private static string? Validate(TourSettings s)
    {
        if (s.Fibers < 1 || s.Threads < 1 || s.Dives < 1 || s.Rounds < 1)
            return "--fibers, --threads, --dives and --rounds must be positive";
        if (s.MaxDepthKib is < 1 or > 65536)
            return "--max-depth-kib must be between 1 and 65536";
        return null;
    }

    private static int Run(Ui ui, Interrupt interrupt, TourSettings settings)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = settings.Workers });
        ui.Line($"[bold]FiberRuntime {Markup.Escape(Runtime.Version)}[/]: fibers vs OS threads vs .NET Tasks on this machine " +
                $"({Environment.ProcessorCount} CPUs, {scheduler.WorkerCount} workers, stacks in {Runtime.ActiveStackMode} mode)");

        var rows = new List<Comparison>();
        DiveBatchResult? dives = null;
        long threadCorruption = 0;
        MnPicture.Picture? picture = null;
        ui.WithProgress(board =>
        {
            var ctx = new TourContext(scheduler, settings, board, interrupt.Token);
            var alive = AliveAtOnce.Run(ctx);
            rows.Add(alive.Count);
            rows.Add(alive.Memory);
            if (interrupt.Requested) return 0;
            rows.Add(StartupCost.Run(ctx));
            if (interrupt.Requested) return 0;
            Comparison pingPong = PingPong.Run(ctx);
            rows.Add(pingPong);
            if (!ctx.Cancel.IsCancellationRequested)
                rows.Add(PingPong.RunCSharpBodies(ctx, pingPong));
            if (interrupt.Requested) return 0;
            var deep = DeepRecursion.Run(ctx);
            rows.Add(deep.Row);
            dives = deep.Fibers;
            threadCorruption = deep.ThreadsCorrupted;
            if (interrupt.Requested) return 0;
            picture = MnPicture.Run(ctx);
            return 0;
        });

        bool corrupted = dives is { CorruptedFibers: > 0 } || threadCorruption > 0;
        if (ui.Json)
        {
            JsonOut.Print(new JsonObject
            {
                ["command"] = "tour",
                ["machine"] = JsonOut.Machine(),
                ["workers"] = scheduler.WorkerCount,
                ["interrupted"] = interrupt.Requested,
                ["results"] = new JsonArray(rows.Select(r => (JsonNode)r.ToJson()).ToArray()),
                ["deep_recursion"] = dives is null ? null : new JsonObject
                {
                    ["fibers"] = dives.Finished,
                    ["corrupted_fibers"] = dives.CorruptedFibers,
                    ["growth_faults"] = dives.GrowthFaults,
                    ["deepest_frames"] = dives.DeepestFrames,
                    ["largest_stack_committed"] = dives.LargestCommitted,
                    ["peak_committed"] = dives.PeakCommitted,
                    ["migrated_fibers"] = dives.Migrated,
                    ["threads_corrupted"] = threadCorruption,
                },
                ["mn"] = picture?.ToJson(),
                ["ok"] = !corrupted,
            });
        }
        else
        {
            PrintSummary(ui, rows);
            if (picture != null)
                PrintPicture(ui, picture);
            if (dives != null)
                ui.Line(corrupted
                    ? $"[red bold]CORRUPTION[/]: {dives.CorruptedFibers} fibers and {threadCorruption} threads found a changed frame"
                    : $"Every frame of {dives.Finished:N0} recursions checked intact ({dives.Migrated:N0} fibers moved between workers mid-recursion).");
        }
        if (corrupted)
            return ExitCodes.CheckFailed;
        return interrupt.Requested ? ExitCodes.Interrupted : ExitCodes.Ok;
    }

    private static void PrintSummary(Ui ui, List<Comparison> rows)
    {
        var table = new Table().Border(TableBorder.Rounded).Title("[bold]Summary[/] (one run; start-up figures are the warm second pass)");
        table.AddColumn("measure");
        table.AddColumn("unit");
        table.AddColumn(new TableColumn("fibers").RightAligned());
        table.AddColumn(new TableColumn("OS threads").RightAligned());
        table.AddColumn(new TableColumn(".NET Tasks").RightAligned());
        table.AddColumn(new TableColumn("fibers vs threads").RightAligned());
        foreach (Comparison r in rows)
        {
            table.AddRow(Markup.Escape(r.Measure), r.Unit, Comparison.Format(r.Fibers), Comparison.Format(r.Threads),
                         Comparison.Format(r.Tasks), Comparison.FormatRatio(r.FibersOverThreads));
        }
        ui.Out.Write(table);
        foreach (Comparison r in rows.Where(r => r.Note.Length > 0))
            ui.Line($"  [grey]{Markup.Escape(r.Measure)}: {Markup.Escape(r.Note)}[/]");
    }

    private static void PrintPicture(Ui ui, MnPicture.Picture p)
    {
        ui.Line();
        ui.Line($"[bold]M:N[/]: {p.Fibers:N0} fibers, each yielding {p.Yields} times, over {p.Workers} worker threads in {p.ElapsedMs:N0} ms");
        long total = Math.Max(1, p.PerWorker.Sum(w => w.Runs));
        var chart = new BreakdownChart().Width(60);
        Color[] colors = [Color.Green, Color.Blue, Color.Yellow, Color.Fuchsia, Color.Aqua, Color.Orange1];
        foreach (var w in p.PerWorker)
            chart.AddItem($"worker {w.Worker}: {w.Runs:N0} runs, {w.Steals:N0} steals, {w.Parks:N0} sleeps", Math.Round(100.0 * w.Runs / total, 1), colors[w.Worker % colors.Length]);
        ui.Out.Write(chart);
    }
}
