using System;
using System.Globalization;
using System.Linq;
using System.Security;
using System.Text;

namespace FiberRuntime.Cli.Bench;

/// <summary>
/// The results as a bar chart in SVG, written by hand: no plotting library (and none of the native
/// libraries they bring) inside the NativeAOT binary. One group of bars per workload and thread count,
/// one bar per system, its length the time relative to fiberrt on a logarithmic axis, since the
/// systems differ by factors from 0.1 to 1000.
/// </summary>
internal static class SvgChart
{
    private static readonly string[] Palette = ["#2b7bba", "#00a087", "#e6a117", "#d6404e", "#8e6bbf", "#7f7f7f"];

    public static string Render(BenchResults r)
    {
        var groups = (from t in r.Threads from w in r.Workloads select (Threads: t, Workload: w))
            .Where(g => r.Systems.Any(s => r.Median(s, g.Threads, g.Workload.Name) != null)).ToList();
        const int left = 190, barHeight = 14, gap = 10, plotWidth = 520, top = 60;
        int groupHeight = r.Systems.Count * barHeight + gap;
        int height = top + groups.Count * groupHeight + 50;
        int width = left + plotWidth + 150;
        const double minLog = -1, maxLog = 3; // 0.1x .. 1000x fiberrt
        double X(double ratio) => left + (Math.Clamp(Math.Log10(ratio), minLog, maxLog) - minLog) / (maxLog - minLog) * plotWidth;

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">Time relative to fiberrt (log scale; shorter is faster)</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"36\" fill=\"#555\">medians of {r.Runs} runs, {Environment.ProcessorCount} CPUs</text>\n");
        foreach (double tick in new[] { 0.1, 1, 10, 100, 1000 })
        {
            double x = X(tick);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x:0.#}\" y1=\"{top - 6}\" x2=\"{x:0.#}\" y2=\"{height - 40}\" stroke=\"{(tick == 1 ? "#333" : "#ddd")}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x:0.#}\" y=\"{height - 26}\" text-anchor=\"middle\">{tick:0.#}x</text>\n");
        }
        int y = top;
        foreach (var (threads, workload) in groups)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 8}\" y=\"{y + groupHeight / 2 - 2}\" text-anchor=\"end\">{Escape(workload.Name)}, {threads} thr</text>\n");
            for (int i = 0; i < r.Systems.Count; i++)
            {
                string system = r.Systems[i];
                double? ratio = system == "fiberrt" ? (r.Median(system, threads, workload.Name) != null ? 1 : null) : r.VersusFiberrt(system, threads, workload.Name);
                double? value = r.Median(system, threads, workload.Name);
                int by = y + i * barHeight;
                if (ratio is { } q && value is { } v)
                {
                    double x0 = X(0.1), x1 = X(q);
                    svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x0:0.#}\" y=\"{by}\" width=\"{Math.Max(1, x1 - x0):0.#}\" height=\"{barHeight - 2}\" fill=\"{Palette[i % Palette.Length]}\"/>\n");
                    svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{x1 + 4:0.#}\" y=\"{by + barHeight - 4}\">{Escape(Output.Comparison.Format(v))} {Escape(workload.Unit)}</text>\n");
                }
            }
            y += groupHeight;
        }
        int lx = left;
        for (int i = 0; i < r.Systems.Count; i++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{lx}\" y=\"{height - 16}\" width=\"10\" height=\"10\" fill=\"{Palette[i % Palette.Length]}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{lx + 14}\" y=\"{height - 7}\">{Escape(r.Systems[i])}</text>\n");
            lx += 110;
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) => SecurityElement.Escape(text) ?? "";
}
