using System.Collections.Generic;
using System.Linq;
using System.Text.Json.Nodes;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Bench;

/// <summary>Every sample of every system, and the medians and ratios made from them.</summary>
internal sealed class BenchResults
{
    private readonly Dictionary<(string System, int Threads, string Workload), List<double>> _samples = [];

    public List<string> Systems { get; } = [];

    public List<int> Threads { get; } = [];

    public List<Workload> Workloads { get; } = [];

    public List<string> Problems { get; } = [];

    public List<CoreBench.Line>? Core { get; set; }

    public int Runs { get; init; }

    public void Add(string system, int threads, string workload, double value)
    {
        if (!_samples.TryGetValue((system, threads, workload), out var list))
            _samples[(system, threads, workload)] = list = [];
        list.Add(value);
    }

    public int SampleCount(string system, int threads, string workload) =>
        _samples.TryGetValue((system, threads, workload), out var list) ? list.Count : 0;

    public double? Median(string system, int threads, string workload) =>
        _samples.TryGetValue((system, threads, workload), out var list) ? Measure.Median.Of(list) : null;

    /// <summary>How many times longer <paramref name="system"/> took than fiberrt (above 1: fiberrt was faster).</summary>
    public double? VersusFiberrt(string system, int threads, string workload)
    {
        double? ours = Median("fiberrt", threads, workload);
        double? theirs = Median(system, threads, workload);
        return ours is > 0 && theirs is > 0 ? theirs / ours : null;
    }

    public JsonObject ToJson() => new()
    {
        ["command"] = "bench",
        ["machine"] = JsonOut.Machine(),
        ["runs"] = Runs,
        ["systems"] = new JsonArray(Systems.Select(s => (JsonNode)s).ToArray()),
        ["threads"] = new JsonArray(Threads.Select(t => (JsonNode)t).ToArray()),
        ["results"] = new JsonArray((
            from t in Threads
            from w in Workloads
            from s in Systems
            where SampleCount(s, t, w.Name) > 0
            select (JsonNode)new JsonObject
            {
                ["system"] = s,
                ["threads"] = t,
                ["workload"] = w.Name,
                ["unit"] = w.Unit,
                ["median"] = JsonOut.Number(Median(s, t, w.Name)),
                ["samples"] = new JsonArray(_samples[(s, t, w.Name)].Select(v => JsonOut.Number(v)).ToArray()),
                ["vs_fiberrt"] = JsonOut.Number(VersusFiberrt(s, t, w.Name)),
            }).ToArray()),
        ["core"] = Core is null ? null : new JsonArray(Core.Select(c => (JsonNode)new JsonObject
        {
            ["measure"] = c.Measure,
            ["unit"] = c.Unit,
            ["fiberrt"] = JsonOut.Number(c.Fiberrt),
            ["boost_context"] = JsonOut.Number(c.Boost),
        }).ToArray()),
        ["problems"] = new JsonArray(Problems.Select(p => (JsonNode)p).ToArray()),
    };
}
