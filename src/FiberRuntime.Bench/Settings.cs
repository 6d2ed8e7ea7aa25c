using System;
using System.Collections.Generic;
using System.Globalization;

namespace FiberRuntime.Bench;

/// <summary>Command-line settings.</summary>
public sealed record Settings
{
    public int Runs { get; init; } = 5;
    /// <summary>Fresh processes to repeat the whole measurement in (medians across them): code layout and thread
    /// placement differ from process to process, and on small VMs that moves some figures more than runs do.</summary>
    public int Processes { get; init; } = 1;
    /// <summary>The arguments a child process gets (all but --processes and the JSON outputs).</summary>
    public IReadOnlyList<string> ChildArguments { get; init; } = [];
    /// <summary>Wall time of one measured run; the operation count is calibrated to fill it.</summary>
    public double TargetMs { get; init; } = 150;
    /// <summary>Least time each benchmark runs before it is measured.</summary>
    public double WarmupMs { get; init; } = 150;
    public int Workers { get; init; }
    public bool Quick { get; init; }
    public bool Json { get; init; }
    public string? JsonFile { get; init; }
    public string? Filter { get; init; }
    public bool Diagnostics { get; init; } = true;
    /// <summary>A run that takes longer than this is stuck: the process reports it and exits.</summary>
    public TimeSpan Watchdog { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Fibers (and tasks) spawned per batch in the batched spawn benchmarks.</summary>
    public int Batch { get; init; } = 10_000;

    public const string Usage = """
        FiberRuntime.Bench: the C# binding's figures side by side with System.Threading.Channels and Task.Run.

          --runs N         measured runs per benchmark; the median is reported (default 5, --quick 3)
          --processes P    repeat everything in P fresh processes and report medians across them (default 1)
          --quick          CI-size runs: shorter warm-up, 3 short runs per benchmark (under 10 s in all)
          --json           print the results as JSON on stdout instead of the table (progress goes to stderr)
          --json-file F    also write the JSON to file F
          --filter TEXT    run only benchmarks whose id contains TEXT (e.g. pingpong, spawn, interop); a final $
                           anchors it at the end (pingpong.fiber-async$ leaves out pingpong.fiber-async-sync)
          --workers N      scheduler worker threads (default 0: one per CPU)
          --batch N        fibers/tasks per batch in the batched spawn benchmarks (default 10000, --quick 2000)
          --no-diagnostics leave out the rows that only explain where time goes
          --target-ms T    wall time of one measured run (default 150, --quick 25)
          --help
        """;

    /// <summary>Parses the arguments; null (after printing why) when the program should stop.</summary>
    public static Settings? Parse(string[] args)
    {
        var s = new Settings();
        var child = new List<string>();
        int? runs = null, batch = null;
        double? target = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            if (arg is not ("--processes" or "--json" or "--json-file"))
            {
                child.Add(arg);
                if (arg is "--runs" or "--filter" or "--workers" or "--batch" or "--target-ms" && i + 1 < args.Length)
                    child.Add(args[i + 1]);
            }
            switch (arg)
            {
                case "--runs": runs = PositiveInt(arg, Next()); break;
                case "--processes": s = s with { Processes = PositiveInt(arg, Next()) }; break;
                case "--quick": s = s with { Quick = true }; break;
                case "--json": s = s with { Json = true }; break;
                case "--json-file": s = s with { JsonFile = Next() }; break;
                case "--filter": s = s with { Filter = Next() }; break;
                case "--workers": s = s with { Workers = int.Parse(Next(), CultureInfo.InvariantCulture) }; break;
                case "--batch": batch = PositiveInt(arg, Next()); break;
                case "--no-diagnostics": s = s with { Diagnostics = false }; break;
                case "--target-ms": target = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--help" or "-h":
                    Console.WriteLine(Usage);
                    return null;
                default:
                    throw new ArgumentException($"unknown option {arg}\n\n{Usage}");
            }
        }
        if (s.Quick)
            s = s with { Runs = 3, TargetMs = 25, WarmupMs = 60, Batch = 2_000 };
        // Explicit values win over --quick's.
        if (runs is { } r)
            s = s with { Runs = r };
        if (batch is { } b)
            s = s with { Batch = b };
        if (target is { } t)
            s = s with { TargetMs = t };
        return s with { ChildArguments = child };
    }

    private static int PositiveInt(string option, string text)
    {
        int value = int.Parse(text, CultureInfo.InvariantCulture);
        if (value < 1)
            throw new ArgumentException($"{option} must be at least 1");
        return value;
    }
}
