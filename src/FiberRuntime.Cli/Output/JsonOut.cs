using System;
using System.IO;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FiberRuntime.Cli.Output;

/// <summary>JSON documents written with the writer directly: no reflection, so NativeAOT keeps it whole.</summary>
internal static class JsonOut
{
    public static string ToText(JsonNode node)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            node.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void Print(JsonNode node) => Console.Out.WriteLine(ToText(node));

    /// <summary>A figure that may be missing: NaN and infinities are not JSON numbers, so they become null.</summary>
    public static JsonNode? Number(double? value) =>
        value is { } v && double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 3)) : null;

    /// <summary>The figures of the machine a run was made on, which every report carries.</summary>
    public static JsonObject Machine() => new()
    {
        ["os"] = Environment.OSVersion.VersionString,
        ["cpus"] = Environment.ProcessorCount,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        ["nativeaot"] = !System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported,
        ["fiberrt"] = Runtime.Version,
        ["stack_mode"] = Runtime.ActiveStackMode.ToString(),
    };
}
