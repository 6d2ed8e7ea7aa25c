using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace FiberRuntime.Bench;

/// <summary>The results as a text table or as JSON.</summary>
public sealed class Report
{
    private readonly Settings _settings;
    private readonly IReadOnlyList<Result> _results;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly TimeSpan _elapsed;
    private readonly Dictionary<string, Result> _byId;

    public Report(Settings settings, IReadOnlyList<Result> results, IReadOnlyDictionary<string, string> environment, TimeSpan elapsed)
    {
        _settings = settings;
        _results = results;
        _environment = environment;
        _elapsed = elapsed;
        _byId = results.ToDictionary(r => r.Id);
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Speedup (reference time / this time) or overhead (this time - reference time), if measured.</summary>
    private double? Compared(Result r)
    {
        if (r.Reference is not { } id || !_byId.TryGetValue(id, out Result? reference) || r.Comparison == Comparison.None)
            return null;
        return r.Comparison == Comparison.Speedup ? reference.MedianNs / r.MedianNs : r.MedianNs - reference.MedianNs;
    }

    public string ToTable()
    {
        var text = new StringBuilder();
        text.AppendLine(Inv, $"FiberRuntime.Bench: medians of {_settings.Runs} runs{(_settings.Processes > 1 ? $" in each of {_settings.Processes} processes (median of their medians; spread over all runs)" : "")}, {Environment.ProcessorCount} CPUs, .NET {Environment.Version}, libfiberrt {Runtime.Version}{(_settings.Quick ? " (--quick)" : "")}");
        foreach (var (key, value) in _environment)
            text.AppendLine(Inv, $"  {key}: {value}");
        string[] header = ["benchmark", "one operation", "ns/op", "ops/s", "spread", "cpu ns/op", "sleeps/op", "preempt/op", "compared"];
        foreach (var group in _results.GroupBy(r => r.Group))
        {
            var rows = new List<string[]> { header };
            foreach (Result r in group)
            {
                string compared = Compared(r) switch
                {
                    null => "",
                    double x when r.Comparison == Comparison.Speedup => string.Format(Inv, "{0:0.00}x {1}", x, Short(r.Reference!)),
                    double d => string.Format(Inv, "{0:+0.0;-0.0} ns vs {1}", d, Short(r.Reference!)),
                };
                rows.Add([
                    r.Id,
                    r.Description,
                    Number(r.MedianNs),
                    Rate(r.OperationsPerSecond),
                    string.Format(Inv, "{0:0}-{1:0}%", 100 * (r.MinNs / r.MedianNs - 1), 100 * (r.MaxNs / r.MedianNs - 1)),
                    Number(r.CpuNsPerOp),
                    Switches(r.VoluntarySwitchesPerOp),
                    Switches(r.InvoluntarySwitchesPerOp),
                    compared,
                ]);
            }
            text.AppendLine().AppendLine(Inv, $"== {group.Key}");
            AppendAligned(text, rows, rightAligned: [false, false, true, true, true, true, true, true, false]);
        }
        AppendTarget(text);
        text.AppendLine().AppendLine(Inv, $"ns/op: median wall time per operation; spread: fastest and slowest run against it; cpu ns/op: CPU time of all threads");
        text.AppendLine("(above ns/op: threads spinning or working in parallel); sleeps/op: voluntary context switches (futex waits) per operation;");
        text.AppendLine("preempt/op: involuntary ones (a runnable thread pushed off its CPU by another).");
        text.AppendLine(Inv, $"Total {_elapsed.TotalSeconds:0.0} s.");
        return text.ToString();
    }

    /// <summary>
    /// The issue's target: at least 3x the round trips per second of System.Threading.Channels. STC's figure
    /// swings from run to run on few CPUs (both Tasks on one pool thread, or bouncing between two), so the
    /// verdict is given against its median and, stricter, against its fastest run; and, when measured, against
    /// STC with both Tasks pinned to one thread, its cost when it never crosses CPUs.
    /// </summary>
    private void AppendTarget(StringBuilder text)
    {
        if (!_byId.TryGetValue(PingPongBenchmarks.StcReference, out Result? stc))
            return;
        var ours = _results.Where(r => r.Id.StartsWith("pingpong.fiber-", StringComparison.Ordinal)).ToList();
        if (ours.Count == 0)
            return;
        text.AppendLine().AppendLine(Inv, $"Target: >= 3x the round trips/s of {stc.Id}: median {stc.MedianNs:0} ns -> <= {stc.MedianNs / 3:0} ns per round trip; fastest run {stc.MinNs:0} ns -> <= {stc.MinNs / 3:0} ns");
        if (_byId.TryGetValue("pingpong.core-to-core", out Result? cores))
            text.AppendLine(Inv, $"  (this run's core-to-core round trip: {cores.MedianNs:0} ns; STC's tasks cross CPUs, the -sync row stays on one)");
        _byId.TryGetValue(PingPongBenchmarks.StcOneThread, out Result? oneThread);
        if (oneThread != null)
            text.AppendLine(Inv, $"  (STC with both Tasks on one thread: {oneThread.MedianNs:0} ns -> <= {oneThread.MedianNs / 3:0} ns)");
        foreach (Result r in ours)
        {
            double x = stc.MedianNs / r.MedianNs, strict = stc.MinNs / r.MedianNs;
            string line = string.Format(Inv, "  {0,-28} {1,6:0.00}x of the median ({2}), {3,6:0.00}x of the fastest run ({4})",
                r.Id, x, Verdict(x), strict, Verdict(strict));
            if (oneThread != null)
            {
                double pinned = oneThread.MedianNs / r.MedianNs;
                line += string.Format(Inv, ", {0,5:0.00}x of one thread ({1})", pinned, Verdict(pinned));
            }
            text.AppendLine(line);
        }
    }

    private static string Verdict(double speedup) => speedup >= 3 ? "meets it" : "misses it";

    private static string Switches(double perOp) => perOp.ToString(perOp >= 10 ? "0" : "0.000", Inv);

    private static string Short(string id) => id[(id.IndexOf('.', StringComparison.Ordinal) + 1)..];

    private static string Number(double ns) => double.IsNaN(ns) ? "-" : ns.ToString(ns >= 100 ? "N0" : "0.0", Inv);

    private static string Rate(double perSecond) => perSecond switch
    {
        >= 1e9 => string.Format(Inv, "{0:0.00} G", perSecond / 1e9),
        >= 1e6 => string.Format(Inv, "{0:0.00} M", perSecond / 1e6),
        >= 1e3 => string.Format(Inv, "{0:0.0} k", perSecond / 1e3),
        _ => perSecond.ToString("0", Inv),
    };

    private static void AppendAligned(StringBuilder text, List<string[]> rows, bool[] rightAligned)
    {
        int[] widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (string[] row in rows)
        {
            var line = new StringBuilder();
            for (int c = 0; c < row.Length; c++)
            {
                if (c > 0)
                    line.Append("  ");
                line.Append(rightAligned[c] ? row[c].PadLeft(widths[c]) : row[c].PadRight(widths[c]));
            }
            text.AppendLine(line.ToString().TrimEnd());
        }
    }

    /// <summary>Reads back what <see cref="ToJson"/> wrote (a child process's results).</summary>
    public static (List<Result> Results, Dictionary<string, string> Environment) FromJson(string text)
    {
        using var document = JsonDocument.Parse(text);
        JsonElement root = document.RootElement;
        var environment = root.GetProperty("environment").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
        var results = new List<Result>();
        foreach (JsonElement r in root.GetProperty("results").EnumerateArray())
        {
            double Number(string name) => r.TryGetProperty(name, out JsonElement v) ? v.GetDouble() : double.NaN;
            string? reference = r.TryGetProperty("reference", out JsonElement refValue) ? refValue.GetString() : null;
            Comparison comparison = !r.TryGetProperty("comparison", out JsonElement kind) ? Comparison.None
                : kind.GetString() == "speedup" ? Comparison.Speedup : Comparison.Overhead;
            results.Add(new Result(r.GetProperty("group").GetString()!, r.GetProperty("id").GetString()!,
                                   r.GetProperty("description").GetString()!, r.GetProperty("ops_per_run").GetInt64(), 0,
                                   Number("median_ns"), Number("min_ns"), Number("max_ns"), Number("cpu_ns_per_op"),
                                   Number("voluntary_switches_per_op"), Number("involuntary_switches_per_op"), reference, comparison));
        }
        return (results, environment);
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("tool", "FiberRuntime.Bench");
            json.WriteString("libfiberrt", Runtime.Version);
            json.WriteString("dotnet", Environment.Version.ToString());
            json.WriteNumber("cpus", Environment.ProcessorCount);
            json.WriteNumber("runs", _settings.Runs);
            json.WriteNumber("processes", _settings.Processes);
            json.WriteBoolean("quick", _settings.Quick);
            json.WriteNumber("seconds", Math.Round(_elapsed.TotalSeconds, 2));
            json.WriteStartObject("environment");
            foreach (var (key, value) in _environment)
                json.WriteString(key, value);
            json.WriteEndObject();
            json.WriteStartArray("results");
            foreach (Result r in _results)
            {
                json.WriteStartObject();
                json.WriteString("group", r.Group);
                json.WriteString("id", r.Id);
                json.WriteString("description", r.Description);
                json.WriteNumber("ops_per_run", r.OperationsPerRun);
                json.WriteNumber("median_ns", Math.Round(r.MedianNs, 3));
                json.WriteNumber("min_ns", Math.Round(r.MinNs, 3));
                json.WriteNumber("max_ns", Math.Round(r.MaxNs, 3));
                json.WriteNumber("ops_per_second", Math.Round(r.OperationsPerSecond, 1));
                if (!double.IsNaN(r.CpuNsPerOp))
                    json.WriteNumber("cpu_ns_per_op", Math.Round(r.CpuNsPerOp, 3));
                json.WriteNumber("voluntary_switches_per_op", Math.Round(r.VoluntarySwitchesPerOp, 5));
                json.WriteNumber("involuntary_switches_per_op", Math.Round(r.InvoluntarySwitchesPerOp, 5));
                if (r.Reference is { } reference && r.Comparison != Comparison.None)
                {
                    json.WriteString("reference", reference);
                    json.WriteString("comparison", r.Comparison == Comparison.Speedup ? "speedup" : "overhead");
                    if (Compared(r) is { } value)
                        json.WriteNumber(r.Comparison == Comparison.Speedup ? "speedup" : "overhead_ns", Math.Round(value, 3));
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            if (_byId.TryGetValue(PingPongBenchmarks.StcReference, out Result? stc))
            {
                json.WriteStartObject("target");
                json.WriteString("reference", stc.Id);
                json.WriteNumber("required_speedup", 3);
                json.WriteStartArray("results");
                foreach (Result r in _results.Where(r => r.Id.StartsWith("pingpong.fiber-", StringComparison.Ordinal)))
                {
                    json.WriteStartObject();
                    json.WriteString("id", r.Id);
                    json.WriteNumber("speedup_vs_median", Math.Round(stc.MedianNs / r.MedianNs, 3));
                    json.WriteNumber("speedup_vs_fastest_run", Math.Round(stc.MinNs / r.MedianNs, 3));
                    json.WriteBoolean("meets_target", stc.MedianNs / r.MedianNs >= 3);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }
}
