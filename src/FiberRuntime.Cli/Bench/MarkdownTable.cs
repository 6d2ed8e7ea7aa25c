using System.Globalization;
using System.Linq;
using System.Text;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Bench;

/// <summary>The results as a markdown document, to paste into an issue or a README.</summary>
internal static class MarkdownTable
{
    public static string Render(BenchResults r)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# FiberRuntime scheduler benchmarks");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Medians of {r.Runs} runs (the warm figure of each run); lower is better. " +
                      $"`x fiberrt` is how many times longer than fiberrt the system took. {System.Environment.ProcessorCount} CPUs. " +
                      $".NET Tasks run on the thread pool, which uses every CPU whatever the thread count.");
        foreach (int t in r.Threads)
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"## {t} thread{(t == 1 ? "" : "s")}");
            md.AppendLine();
            md.Append("| workload | unit |");
            foreach (string s in r.Systems)
                md.Append(CultureInfo.InvariantCulture, $" {s} |");
            md.AppendLine();
            md.Append("|---|---|");
            md.Append(string.Concat(Enumerable.Repeat("---:|", r.Systems.Count)));
            md.AppendLine();
            foreach (Workload w in r.Workloads)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {w.Name} | {w.Unit} |");
                foreach (string s in r.Systems)
                {
                    double? m = r.Median(s, t, w.Name);
                    double? x = s == "fiberrt" ? null : r.VersusFiberrt(s, t, w.Name);
                    md.Append(' ').Append(Comparison.Format(m));
                    if (x is { } ratio)
                        md.Append(CultureInfo.InvariantCulture, $" ({ratio:0.00}x fiberrt)");
                    md.Append(" |");
                }
                md.AppendLine();
            }
        }
        if (r.Core is { Count: > 0 })
        {
            md.AppendLine();
            md.AppendLine("## Core: fiberrt vs Boost.Context (bench_core)");
            md.AppendLine();
            md.AppendLine("| measure | unit | fiberrt | Boost.Context |");
            md.AppendLine("|---|---|---:|---:|");
            foreach (var c in r.Core)
                md.AppendLine(CultureInfo.InvariantCulture, $"| {c.Measure} | {c.Unit} | {Comparison.Format(c.Fiberrt)} | {Comparison.Format(c.Boost)} |");
        }
        if (r.Problems.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("Notes:");
            foreach (string p in r.Problems)
                md.AppendLine("- " + p);
        }
        return md.ToString();
    }
}
