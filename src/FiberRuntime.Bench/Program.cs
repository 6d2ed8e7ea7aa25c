using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;

namespace FiberRuntime.Bench;

/// <summary>Runs the benchmark groups and prints their figures.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        Settings? settings;
        try
        {
            settings = Settings.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        if (settings == null)
            return 0;

        // A benchmark that deadlocks (a regression in the runtime) must not hang CI: the process exit takes the
        // scheduler's threads and every fiber with it, so nothing outlives the report.
        using var watchdog = new Timer(_ =>
        {
            Console.Error.WriteLine($"FiberRuntime.Bench: no result after {settings.Watchdog * settings.Processes}; giving up (stuck benchmark?)");
            Environment.Exit(3);
        }, null, settings.Watchdog * settings.Processes, Timeout.InfiniteTimeSpan);

        if (settings.Processes > 1)
            return RunInProcesses(settings);

        var total = Stopwatch.StartNew();
        var context = new Context(settings, new Harness(settings, line => Console.Error.WriteLine(line)));
        Console.Error.WriteLine($"FiberRuntime.Bench: libfiberrt {Runtime.Version}, .NET {Environment.Version}, " +
                                $"{Environment.ProcessorCount} CPUs, {settings.Runs} runs of ~{settings.TargetMs} ms per benchmark");
        try
        {
            PingPongBenchmarks.Run(context);
            SelectBenchmarks.Run(context);
            SpawnBenchmarks.Run(context);
            InteropBenchmarks.Run(context);
            ManagedFiberBenchmarks.Run(context);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"FiberRuntime.Bench failed: {e}");
            return 1;
        }
        total.Stop();

        Emit(new Report(settings, context.Results, context.Environment, total.Elapsed), settings);
        return 0;
    }

    private static void Emit(Report report, Settings settings)
    {
        if (settings.JsonFile is { } path)
            File.WriteAllText(path, report.ToJson());
        Console.Out.Write(settings.Json ? report.ToJson() : report.ToTable());
    }

    /// <summary>
    /// Runs the whole measurement in fresh processes, one after the other (never in parallel: they would
    /// compete for the CPUs), and reports per benchmark the median of the processes' medians.
    /// </summary>
    private static int RunInProcesses(Settings settings)
    {
        var total = Stopwatch.StartNew();
        var perProcess = new List<List<Result>>();
        var environment = new SortedDictionary<string, string>();
        for (int p = 0; p < settings.Processes; p++)
        {
            string json = Path.GetTempFileName();
            try
            {
                var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet") { RedirectStandardOutput = true };
                // Started as "dotnet FiberRuntime.Bench.dll": the child needs the assembly named again.
                if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
                    start.ArgumentList.Add(typeof(Program).Assembly.Location);
                foreach (string arg in settings.ChildArguments)
                    start.ArgumentList.Add(arg);
                start.ArgumentList.Add("--json-file");
                start.ArgumentList.Add(json);
                Console.Error.WriteLine($"FiberRuntime.Bench: process {p + 1} of {settings.Processes}");
                using Process child = Process.Start(start) ?? throw new InvalidOperationException("cannot start a child process");
                _ = child.StandardOutput.ReadToEnd(); // its table; the JSON file is what counts
                child.WaitForExit();
                if (child.ExitCode != 0)
                {
                    Console.Error.WriteLine($"FiberRuntime.Bench: process {p + 1} failed with exit code {child.ExitCode}");
                    return child.ExitCode;
                }
                var (results, childEnvironment) = Report.FromJson(File.ReadAllText(json));
                perProcess.Add(results);
                foreach (var (key, value) in childEnvironment)
                    environment[key] = value;
            }
            finally
            {
                File.Delete(json);
            }
        }
        var merged = new List<Result>();
        foreach (Result first in perProcess[0])
        {
            var all = perProcess.Select(list => list.FirstOrDefault(r => r.Id == first.Id)).OfType<Result>().ToList();
            merged.Add(first with
            {
                Runs = settings.Runs * all.Count,
                MedianNs = Harness.Median(all.Select(r => r.MedianNs).ToList()),
                MinNs = all.Min(r => r.MinNs),
                MaxNs = all.Max(r => r.MaxNs),
                CpuNsPerOp = Harness.Median(all.Select(r => r.CpuNsPerOp).ToList()),
                VoluntarySwitchesPerOp = Harness.Median(all.Select(r => r.VoluntarySwitchesPerOp).ToList()),
                InvoluntarySwitchesPerOp = Harness.Median(all.Select(r => r.InvoluntarySwitchesPerOp).ToList()),
            });
        }
        total.Stop();
        Emit(new Report(settings, merged, environment, total.Elapsed), settings);
        return 0;
    }
}

/// <summary>What the groups share: the settings, the harness, and the results so far.</summary>
public sealed class Context
{
    private readonly Harness _harness;

    public Context(Settings settings, Harness harness)
    {
        Settings = settings;
        _harness = harness;
    }

    public Settings Settings { get; }
    public List<Result> Results { get; } = [];
    /// <summary>Facts about the run that a reader needs to interpret the figures (worker count, channel kinds).</summary>
    public SortedDictionary<string, string> Environment { get; } = [];

    public bool Wants(string id, bool diagnostic = false)
        => (!diagnostic || Settings.Diagnostics) && (Settings.Filter is not { } f || Matches(id, f));

    /// <summary>Whether <paramref name="id"/> contains <paramref name="filter"/>, or ends with it if it ends in '$'.</summary>
    private static bool Matches(string id, string filter)
        => filter.EndsWith('$')
            ? id.EndsWith(filter[..^1], StringComparison.OrdinalIgnoreCase)
            : id.Contains(filter, StringComparison.OrdinalIgnoreCase);

    public void Measure(string group, Benchmark benchmark) => Results.Add(_harness.Measure(group, benchmark));

    /// <summary>A scheduler with the configured worker count, disposed (shut down) by the caller.</summary>
    public FiberScheduler NewScheduler(int? workers = null)
    {
        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = workers ?? Settings.Workers, DisposeTimeout = TimeSpan.FromSeconds(10) });
        if (workers == null)
            Environment["scheduler workers"] = scheduler.WorkerCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return scheduler;
    }
}
