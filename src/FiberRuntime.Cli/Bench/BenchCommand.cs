using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using FiberRuntime.Cli.Output;
using Spectre.Console;

namespace FiberRuntime.Cli.Bench;

/// <summary>
/// The benchmark suite side by side with the peers available here: the scheduler workloads in fiberrt
/// (bench_sched), Go, Boost.Fiber and pthreads programs built from native/bench/peers on the fly, each run
/// several times in a fresh process, plus .NET Tasks and System.Threading.Channels in this process; and the
/// core benchmark against Boost.Context. Writes bench.json, bench.md and bench.svg.
/// </summary>
internal static class BenchCommand
{
    private static readonly Option<int> RunsOption = new("--runs")
    {
        Description = "Fresh-process runs of each system (the median counts)",
        DefaultValueFactory = _ => 5,
    };

    private static readonly Option<string> ThreadsOption = new("--threads")
    {
        Description = "Comma-separated worker/OS thread counts to run with (default: 1 and the CPU count)",
        DefaultValueFactory = _ => Environment.ProcessorCount == 1 ? "1" : $"1,{Environment.ProcessorCount}",
    };

    private static readonly Option<string> WorkloadsOption = new("--workloads")
    {
        Description = "Comma-separated workloads: " + string.Join(",", Workload.All.Select(w => w.Name)),
        DefaultValueFactory = _ => string.Join(",", Workload.All.Select(w => w.Name)),
    };

    private static readonly Option<string> SystemsOption = new("--systems")
    {
        Description = "Comma-separated systems: " + string.Join(",", Peers.Names.Append("dotnet")),
        DefaultValueFactory = _ => string.Join(",", Peers.Names.Append("dotnet")),
    };

    private static readonly Option<bool> NoCoreOption = new("--no-core")
    {
        Description = "Skip the core benchmark against Boost.Context",
    };

    private static readonly Option<string?> RepoOption = new("--repo")
    {
        Description = "The FiberRuntime checkout with native/bench (default: found upwards from here or from this binary)",
    };

    private static readonly Option<string?> BuildDirOption = new("--build-dir")
    {
        Description = "CMake build with fbr_bench_sched/fbr_bench_core (default: <out>/cmake, configured and built when missing)",
    };

    private static readonly Option<string?> OutOption = new("--out")
    {
        Description = "Folder for bench.json, bench.md, bench.svg and the built peers (default: <repo>/artifacts/bench)",
    };

    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks side by side with Go, Boost.Fiber, Boost.Context, pthreads and .NET Tasks/Channels; medians, ratios, JSON, markdown and an SVG chart")
        {
            RunsOption, ThreadsOption, WorkloadsOption, SystemsOption, NoCoreOption, RepoOption, BuildDirOption, OutOption,
        };
        command.SetAction(parse => Cli.Run(parse, (ui, interrupt) =>
        {
            int runs = parse.GetValue(RunsOption);
            List<int>? threads = ParseThreads(parse.GetValue(ThreadsOption) ?? "");
            List<Workload> workloads = [];
            foreach (string name in Split(parse.GetValue(WorkloadsOption)))
            {
                Workload? w = Workload.All.FirstOrDefault(x => x.Name == name);
                if (w == null)
                    return Cli.UsageError($"unknown workload '{name}'");
                workloads.Add(w);
            }
            List<string> systems = Split(parse.GetValue(SystemsOption));
            string? unknown = systems.FirstOrDefault(s => s != "dotnet" && !Peers.Names.Contains(s));
            if (unknown != null)
                return Cli.UsageError($"unknown system '{unknown}'");
            if (runs < 1 || threads == null || workloads.Count == 0 || systems.Count == 0)
                return Cli.UsageError("--runs must be positive; --threads, --workloads and --systems must not be empty");
            return Run(ui, interrupt, runs, threads, workloads, systems, !parse.GetValue(NoCoreOption),
                       parse.GetValue(RepoOption), parse.GetValue(BuildDirOption), parse.GetValue(OutOption));
        }));
        return command;
    }

    private static List<string> Split(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();

    private static List<int>? ParseThreads(string list)
    {
        var result = new List<int>();
        foreach (string part in Split(list))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int t) || t < 1 || t > 1024)
                return null;
            result.Add(t);
        }
        return result.Count > 0 ? result : null;
    }

    private static int Run(Ui ui, Interrupt interrupt, int runs, List<int> threads, List<Workload> workloads, List<string> systems,
                           bool core, string? repoOption, string? buildDirOption, string? outOption)
    {
        var results = new BenchResults { Runs = runs };
        results.Threads.AddRange(threads);
        results.Workloads.AddRange(workloads);
        void Skip(string message)
        {
            results.Problems.Add(message);
            ui.Note(message);
        }

        string? repo = RepoLocator.Find(repoOption);
        string outDir = Path.GetFullPath(outOption ?? Path.Combine(repo ?? Environment.CurrentDirectory, "artifacts", "bench"));
        string buildDir = Path.GetFullPath(buildDirOption ?? Path.Combine(outDir, "cmake"));
        Directory.CreateDirectory(outDir);
        string[] names = [.. workloads.Select(w => w.Name)];

        List<Peer> peers = [];
        var nativeWanted = systems.Where(s => s != "dotnet").ToList();
        if (nativeWanted.Count > 0 || core)
        {
            if (repo == null)
                Skip("skipping fiberrt, Go, Boost.Fiber, pthreads and the core benchmark: no FiberRuntime checkout found (pass --repo DIR)");
            else
                ui.WithProgress(board =>
                {
                    IPhase phase = board.Begin("building the peer programs", 1);
                    peers = Peers.Build(repo, buildDir, Path.Combine(outDir, "peers"), nativeWanted, Skip, interrupt.Token);
                    phase.Finish();
                    return 0;
                });
        }
        results.Systems.AddRange(peers.Select(p => p.Name));
        if (systems.Contains("dotnet"))
            results.Systems.Add(DotNetPeer.Name);

        ui.WithProgress(board =>
        {
            foreach (int t in threads)
            {
                if (peers.Count == 0)
                    break;
                // Each round runs every peer once: a slow spell of the machine (seconds to minutes on a VM)
                // then falls on all of them alike, not on whichever ran all its runs then.
                IPhase phase = board.Begin($"{string.Join(", ", peers.Select(p => p.Name))}, {t} thread{(t == 1 ? "" : "s")}",
                                           runs * peers.Count);
                for (int run = 0; run < runs && !interrupt.Requested; run++)
                {
                    for (int i = 0; i < peers.Count && !interrupt.Requested; i++)
                    {
                        RunPeer(peers[i], t, names, results, Skip, interrupt);
                        phase.Report(run * peers.Count + i + 1);
                    }
                }
                phase.Finish();
            }
            if (systems.Contains("dotnet") && !interrupt.Requested)
            {
                // The thread pool ignores our thread counts, so one set of runs stands for every column.
                IPhase phase = board.Begin(".NET Tasks and Channels (in process)", runs * names.Length);
                for (int run = 0; run < runs && !interrupt.Requested; run++)
                {
                    foreach (string w in names)
                    {
                        if (interrupt.Requested)
                            break;
                        DotNetPeer.Run(w); // cold: JIT, pool growth
                        double? value = DotNetPeer.Run(w);
                        foreach (int t in threads)
                        {
                            if (value is { } v)
                                results.Add(DotNetPeer.Name, t, w, v);
                        }
                        phase.Report(run * names.Length + Array.IndexOf(names, w) + 1);
                    }
                }
                phase.Finish();
            }
            if (core && repo != null && !interrupt.Requested)
            {
                IPhase phase = board.Begin("core: fiberrt vs Boost.Context", 1);
                results.Core = CoreBench.Run(buildDir, runs, repo, Skip, interrupt.Token);
                phase.Finish();
            }
            return 0;
        });

        string json = JsonOut.ToText(results.ToJson());
        File.WriteAllText(Path.Combine(outDir, "bench.json"), json);
        File.WriteAllText(Path.Combine(outDir, "bench.md"), MarkdownTable.Render(results));
        File.WriteAllText(Path.Combine(outDir, "bench.svg"), SvgChart.Render(results));
        if (ui.Json)
            Console.Out.WriteLine(json);
        else
            Print(ui, results, outDir);

        bool fiberrtMissing = systems.Contains("fiberrt") &&
            threads.Any(t => names.Any(w => results.SampleCount("fiberrt", t, w) == 0));
        if (interrupt.Requested)
            return ExitCodes.Interrupted;
        if (fiberrtMissing && repo == null)
            return ExitCodes.Environment;
        return fiberrtMissing ? ExitCodes.CheckFailed : ExitCodes.Ok;
    }

    private static void RunPeer(Peer peer, int threads, string[] workloads, BenchResults results, Action<string> skip, Interrupt interrupt)
    {
        var (args, env) = peer.Command(threads, workloads);
        var r = ProcessRunner.Run(peer.Binary, args, null, env, TimeSpan.FromMinutes(10), interrupt.Token);
        if (interrupt.Requested)
            return;
        if (r.ExitCode != 0)
        {
            skip($"{peer.Name} with {threads} threads failed (exit {r.ExitCode}{(r.TimedOut ? ", timed out" : "")}): {r.Stderr.Trim()}");
            return;
        }
        // Each workload prints "name value unit" once per repetition; the last (warm) one counts.
        var last = new Dictionary<string, double>();
        foreach (string line in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                last[parts[0]] = value;
        }
        foreach (string w in workloads)
        {
            if (last.TryGetValue(w, out double v))
                results.Add(peer.Name, threads, w, v);
        }
    }

    private static void Print(Ui ui, BenchResults r, string outDir)
    {
        foreach (int t in r.Threads)
        {
            var table = new Table().Border(TableBorder.Rounded)
                .Title($"[bold]{t} thread{(t == 1 ? "" : "s")}[/]: medians of {r.Runs} runs, lower is better; (x) = times fiberrt's");
            table.AddColumn("workload");
            table.AddColumn("unit");
            foreach (string s in r.Systems)
                table.AddColumn(new TableColumn(Markup.Escape(s)).RightAligned());
            foreach (Workload w in r.Workloads)
            {
                var cells = new List<string> { w.Name, w.Unit };
                foreach (string s in r.Systems)
                {
                    string cell = Comparison.Format(r.Median(s, t, w.Name));
                    if (s != "fiberrt" && r.VersusFiberrt(s, t, w.Name) is { } x)
                        cell += $" ({x:0.0}x)";
                    cells.Add(cell);
                }
                table.AddRow(cells.Select(Markup.Escape).ToArray());
            }
            ui.Out.Write(table);
        }
        if (r.Core is { Count: > 0 })
        {
            var table = new Table().Border(TableBorder.Rounded).Title("[bold]core[/]: fiberrt vs Boost.Context (bench_core medians)");
            table.AddColumn("measure");
            table.AddColumn(new TableColumn("fiberrt").RightAligned());
            table.AddColumn(new TableColumn("Boost.Context").RightAligned());
            foreach (var c in r.Core)
                table.AddRow(Markup.Escape(c.Measure), $"{Comparison.Format(c.Fiberrt)} {c.Unit}", c.Boost is { } b ? $"{Comparison.Format(b)} {c.Unit}" : "-");
            ui.Out.Write(table);
        }
        ui.Line($"Written: {Markup.Escape(Path.Combine(outDir, "bench.json"))}, bench.md, bench.svg");
    }
}
