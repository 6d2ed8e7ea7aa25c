using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text.RegularExpressions;
using System.Threading;

namespace FiberRuntime.Cli.Bench;

/// <summary>
/// The core benchmark against Boost.Context (native/bench/bench_core.c): switch cost, create + destroy,
/// growth faults, memory per fiber. It takes its own medians; this reads its lines back as figures.
/// </summary>
internal static partial class CoreBench
{
    public sealed record Line(string Measure, double Fiberrt, double? Boost, string Unit);

    // "label   12.3 ns   45.6 ns   0.27x" or "label   12.3 ns" (our figure only).
    [GeneratedRegex(@"^(?<label>.+?)\s{2,}(?<ours>[0-9.]+) (?<unit>ns|B)(\s+(?<boost>[0-9.]+) (ns|B))?(\s+[0-9.]+x)?\s*$")]
    private static partial Regex FigureLine();

    public static List<Line>? Run(string buildDir, int runs, string repo, Action<string> skip, CancellationToken cancel)
    {
        string binary = Path.Combine(buildDir, "native", "bench", "fbr_bench_core");
        if (!File.Exists(binary))
            Peers.TryCmakeBuild(repo, buildDir, "fbr_bench_core", skip, cancel);
        if (!File.Exists(binary))
        {
            skip("skipping the core benchmark: fbr_bench_core is not built (it needs Boost.Context; Debian: libboost-context-dev)");
            return null;
        }
        var result = ProcessRunner.Run(binary, ["--runs", runs.ToString(CultureInfo.InvariantCulture)], null, null, TimeSpan.FromMinutes(10), cancel);
        if (result.ExitCode != 0)
        {
            skip($"the core benchmark failed (exit {result.ExitCode}): {result.Stderr.Trim()}");
            return null;
        }
        var lines = new List<Line>();
        // Its last table compares our two stack modes with each other, not with Boost.
        bool modesSection = false;
        foreach (string raw in result.Stdout.Split('\n'))
        {
            if (raw.StartsWith("per stack mode", StringComparison.Ordinal))
                modesSection = true;
            Match m = FigureLine().Match(raw.TrimEnd());
            if (!m.Success)
                continue;
            string label = m.Groups["label"].Value.Trim();
            string unit = m.Groups["unit"].Value;
            double ours = double.Parse(m.Groups["ours"].Value, CultureInfo.InvariantCulture);
            double? second = m.Groups["boost"].Success ? double.Parse(m.Groups["boost"].Value, CultureInfo.InvariantCulture) : null;
            if (modesSection)
            {
                lines.Add(new Line(label + " [guard-markers]", ours, null, unit));
                if (second is { } mprotect)
                    lines.Add(new Line(label + " [mprotect]", mprotect, null, unit));
            }
            else
            {
                lines.Add(new Line(label, ours, second, unit));
            }
        }
        return lines;
    }
}
