using System;
using System.CommandLine;
using System.Text.Json.Nodes;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;
using Spectre.Console;

namespace FiberRuntime.Cli.Stress;

/// <summary>
/// Stack-growth stress: round after round, many fibers on every worker recurse to random depths at once,
/// growing their stacks on fault, check every frame on the way back and end, handing their stacks back to
/// the pool for the next round. Runs for a duration or a number of dives; exits 1 on any corruption.
/// </summary>
internal static class StressCommand
{
    private static readonly Option<double> DurationOption = new("--duration")
    {
        Description = "Seconds to run (ignored with --count)",
        DefaultValueFactory = _ => 10,
    };

    private static readonly Option<long> CountOption = new("--count")
    {
        Description = "Dives to run in all, instead of a duration (0: use --duration)",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<long> FibersOption = new("--fibers")
    {
        Description = "Fibers recursing at once in each round",
        DefaultValueFactory = _ => 2_000,
    };

    private static readonly Option<int> MaxDepthOption = new("--max-depth-kib")
    {
        Description = "Deepest recursion, in KiB of stack (1 KiB frames); stacks are sized to fit",
        DefaultValueFactory = _ => 512,
    };

    private static readonly Option<bool> GuardCheckOption = new("--guard-check")
    {
        Description = "Also overflow a fiber's stack in a child process and check that the runtime reports it",
    };

    private static readonly Option<ulong> SeedOption = new("--seed")
    {
        Description = "Seed of the random depths (the same seed gives the same depths)",
        DefaultValueFactory = _ => 1,
    };

    public static Command Create()
    {
        var command = new Command("stress", "Stack-growth stress: many fibers recursing to random depths at once, every frame verified, stacks recycled through the pool")
        {
            DurationOption, CountOption, FibersOption, MaxDepthOption, GuardCheckOption, SeedOption,
        };
        command.SetAction(parse => Cli.Run(parse, (ui, interrupt) =>
        {
            double duration = parse.GetValue(DurationOption);
            long count = parse.GetValue(CountOption);
            long fibers = parse.GetValue(FibersOption);
            int depth = parse.GetValue(MaxDepthOption);
            if (!(duration > 0) || count < 0 || fibers < 1 || depth is < 1 or > 65536)
                return Cli.UsageError("--duration and --fibers must be positive, --count not negative, --max-depth-kib 1-65536");
            return Run(ui, interrupt, duration, count, fibers, depth, parse.GetValue(GuardCheckOption),
                       parse.GetValue(SeedOption), parse.GetValue(Cli.WorkersOption));
        }));
        return command;
    }

    private static int Run(Ui ui, Interrupt interrupt, double durationSeconds, long count, long fibersPerRound,
                           int maxDepthKib, bool guardCheck, ulong seed, int workers)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = workers });
        string goal = count > 0 ? $"{count:N0} dives" : $"{durationSeconds:0.#} s";
        ui.Line($"[bold]stress[/]: {fibersPerRound:N0} fibers at a time over {scheduler.WorkerCount} workers, " +
                $"recursing to 1-{maxDepthKib} KiB, for {goal} (stacks in {Runtime.ActiveStackMode} mode)");

        long rounds = 0, dives = 0, corruptedFibers = 0, corruptedFrames = 0, faults = 0, migrated = 0, deepestCommitted = 0;
        long peakCommitted = 0, peakResident = 0;
        RuntimeStats start = Runtime.GetStats();
        var clock = Clock.Start();
        ui.WithProgress(board =>
        {
            IPhase phase = board.Begin("stress " + goal, count > 0 ? count : durationSeconds);
            while (!interrupt.Requested)
            {
                long left = count > 0 ? count - dives : fibersPerRound;
                if (left <= 0 || (count == 0 && clock.ElapsedNs / 1e9 >= durationSeconds))
                    break;
                DiveBatchResult r = DiveBatch.Run(scheduler, Math.Min(left, fibersPerRound), maxDepthKib,
                                                  seed + (ulong)rounds, null, interrupt.Token);
                rounds++;
                dives += r.Finished;
                corruptedFibers += r.CorruptedFibers;
                corruptedFrames += r.CorruptedFrames;
                faults += r.GrowthFaults;
                migrated += r.Migrated;
                deepestCommitted = Math.Max(deepestCommitted, r.LargestCommitted);
                peakCommitted = Math.Max(peakCommitted, r.PeakCommitted);
                peakResident = Math.Max(peakResident, r.PeakResident);
                phase.Report(count > 0 ? dives : clock.ElapsedNs / 1e9);
            }
            phase.Finish();
            return 0;
        });
        double seconds = clock.ElapsedNs / 1e9;
        RuntimeStats end = Runtime.GetStats();

        GuardHitChild.Outcome? guard = null;
        if (guardCheck && !interrupt.Requested)
            guard = GuardHitChild.Check();

        bool failed = corruptedFibers > 0 || guard is { Passed: false };
        if (ui.Json)
        {
            JsonOut.Print(new JsonObject
            {
                ["command"] = "stress",
                ["machine"] = JsonOut.Machine(),
                ["workers"] = scheduler.WorkerCount,
                ["interrupted"] = interrupt.Requested,
                ["seconds"] = JsonOut.Number(seconds),
                ["rounds"] = rounds,
                ["dives"] = dives,
                ["fibers_per_round"] = fibersPerRound,
                ["max_depth_kib"] = maxDepthKib,
                ["growth_faults"] = faults,
                ["peak_committed_bytes"] = peakCommitted,
                ["peak_resident_bytes"] = peakResident,
                ["largest_stack_committed_bytes"] = deepestCommitted,
                ["migrated_fibers"] = migrated,
                ["fibers_created"] = end.FibersCreated - start.FibersCreated,
                ["stacks_cached_after"] = end.StacksCached,
                ["stack_regions"] = end.StackRegions,
                ["corrupted_fibers"] = corruptedFibers,
                ["corrupted_frames"] = corruptedFrames,
                ["guard_check"] = guard is null ? null : new JsonObject
                {
                    ["passed"] = guard.Passed,
                    ["exit_code"] = guard.ExitCode,
                    ["problem"] = guard.Problem,
                    ["report"] = guard.Report,
                },
                ["ok"] = !failed,
            });
        }
        else
        {
            var table = new Table().Border(TableBorder.Rounded).HideHeaders();
            table.AddColumn("what");
            table.AddColumn(new TableColumn("value").RightAligned());
            table.AddRow("dives (fibers run to the end)", $"{dives:N0} in {rounds:N0} rounds, {seconds:N1} s");
            table.AddRow("growth faults", $"{faults:N0} ({(double)faults / Math.Max(dives, 1):N1} per fiber)");
            table.AddRow("peak committed for all stacks", $"{peakCommitted >> 20:N0} MiB");
            table.AddRow("peak resident (process)", $"{peakResident >> 20:N0} MiB");
            table.AddRow("largest stack committed", $"{deepestCommitted >> 10:N0} KiB");
            table.AddRow("fibers that moved between workers", $"{migrated:N0}");
            table.AddRow("stacks pooled afterwards / regions", $"{end.StacksCached:N0} / {end.StackRegions:N0}");
            table.AddRow("corrupted fibers (frames)", corruptedFibers == 0 ? "[green]0[/]" : $"[red]{corruptedFibers:N0} ({corruptedFrames:N0})[/]");
            if (guard != null)
                table.AddRow("guard hit in a child process", guard.Passed ? "[green]reported, exit 86[/]" : "[red]" + Markup.Escape(guard.Problem) + "[/]");
            ui.Out.Write(table);
            if (guard is { Passed: true })
                ui.Line("  [grey]" + Markup.Escape(guard.Report.Split('\n')[0]) + "[/]");
        }
        if (failed)
            return ExitCodes.CheckFailed;
        return interrupt.Requested ? ExitCodes.Interrupted : ExitCodes.Ok;
    }
}
