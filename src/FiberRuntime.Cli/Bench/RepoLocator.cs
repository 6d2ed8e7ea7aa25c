using System;
using System.IO;

namespace FiberRuntime.Cli.Bench;

/// <summary>
/// Finds the repository the peer programs live in: the benchmark builds them from source on the fly, so
/// the tool needs the checkout, not just its own binary.
/// </summary>
internal static class RepoLocator
{
    private const string Marker = "native/bench/run_sched_bench.sh";

    /// <summary>The checkout holding <see cref="Marker"/>, searched upwards from the current folder and from the binary.</summary>
    public static string? Find(string? given)
    {
        if (!string.IsNullOrEmpty(given))
            return File.Exists(Path.Combine(given, Marker)) ? Path.GetFullPath(given) : null;
        foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (DirectoryInfo? dir = new(start); dir != null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, Marker)))
                    return dir.FullName;
            }
        }
        return null;
    }
}
