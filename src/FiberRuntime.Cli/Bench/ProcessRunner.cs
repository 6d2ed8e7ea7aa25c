using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace FiberRuntime.Cli.Bench;

/// <summary>Runs a build step or a peer program, capturing its output; Ctrl-C kills it rather than waiting.</summary>
internal static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr, bool TimedOut);

    public static Result Run(string file, IEnumerable<string> args, string? workingDirectory, IDictionary<string, string>? environment,
                             TimeSpan timeout, CancellationToken cancel)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string a in args)
            start.ArgumentList.Add(a);
        if (environment != null)
        {
            foreach (var (key, value) in environment)
                start.Environment[key] = value;
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using (cancel.Register(() => { try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }))
        {
            bool exited = process.WaitForExit(timeout);
            if (!exited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }
            return new Result(exited ? process.ExitCode : -1, stdout.Result, stderr.Result, !exited);
        }
    }

    /// <summary>True when <paramref name="command"/> is an executable on PATH.</summary>
    public static bool OnPath(string command)
    {
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (path == null)
            return false;
        foreach (string dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (System.IO.File.Exists(System.IO.Path.Combine(dir, command)))
                return true;
        }
        return false;
    }
}
