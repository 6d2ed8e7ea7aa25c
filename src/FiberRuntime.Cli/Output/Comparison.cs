using System.Globalization;
using System.Text.Json.Nodes;

namespace FiberRuntime.Cli.Output;

/// <summary>
/// One line of the tour's summary: the same thing measured with fibers, OS threads and .NET Tasks.
/// A missing side (null) was not measured, or does not apply.
/// </summary>
internal sealed record Comparison(
    string Key,
    string Measure,
    string Unit,
    double? Fibers,
    double? Threads,
    double? Tasks,
    bool HigherIsBetter,
    string Note = "")
{
    /// <summary>How many times better fibers did than threads (above 1: fibers won).</summary>
    public double? FibersOverThreads => Ratio(Threads);

    /// <summary>How many times better fibers did than Tasks.</summary>
    public double? FibersOverTasks => Ratio(Tasks);

    private double? Ratio(double? other)
    {
        if (Fibers is not { } f || other is not { } o || f <= 0 || o <= 0)
            return null;
        return HigherIsBetter ? f / o : o / f;
    }

    public JsonObject ToJson() => new()
    {
        ["key"] = Key,
        ["measure"] = Measure,
        ["unit"] = Unit,
        ["fibers"] = JsonOut.Number(Fibers),
        ["threads"] = JsonOut.Number(Threads),
        ["tasks"] = JsonOut.Number(Tasks),
        ["higher_is_better"] = HigherIsBetter,
        ["fibers_over_threads"] = JsonOut.Number(FibersOverThreads),
        ["fibers_over_tasks"] = JsonOut.Number(FibersOverTasks),
        ["note"] = Note,
    };

    public static string Format(double? value)
    {
        if (value is not { } v)
            return "-";
        return v switch
        {
            >= 100 => v.ToString("N0", CultureInfo.InvariantCulture),
            >= 10 => v.ToString("N1", CultureInfo.InvariantCulture),
            _ => v.ToString("0.##", CultureInfo.InvariantCulture),
        };
    }

    public static string FormatRatio(double? ratio) =>
        ratio is { } r ? r.ToString(r >= 10 ? "N0" : "0.0", CultureInfo.InvariantCulture) + "x" : "-";
}
