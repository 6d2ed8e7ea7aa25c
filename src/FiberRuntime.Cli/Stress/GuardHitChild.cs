using System;
using System.CommandLine;
using System.Diagnostics;
using System.IO;
using FiberRuntime.Cli.Native;

namespace FiberRuntime.Cli.Stress;

/// <summary>
/// The guard-hit check. A fiber with a small stack recurses without end in a child process (this same
/// binary, run with a hidden command); the child must die with the runtime's overflow report on stderr
/// and exit status FBR_EXIT_STACK_OVERFLOW. Anything else (a clean exit, another signal, no report) means
/// an overflow could go unnoticed.
/// </summary>
internal static class GuardHitChild
{
    public const string CommandName = "__guard-hit";

    public sealed record Outcome(bool Passed, int ExitCode, string Report, string Problem);

    /// <summary>The hidden command the child runs.</summary>
    public static Command Create()
    {
        var command = new Command(CommandName, "(internal) overflow a fiber's stack; used by stress --guard-check") { Hidden = true };
        command.SetAction(_ => Overflow());
        return command;
    }

    private static unsafe int Overflow()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        var options = new FiberOptions { StackSize = 64 * 1024, Name = "guard-hit-check" };
        scheduler.Spawn(Workloads.Overflow, 0, options).Join();
        // Reaching this line means the recursion ended without hitting the guard.
        Console.Error.WriteLine("the overflowing fiber returned");
        return 0;
    }

    /// <summary>Runs the child and judges how it ended.</summary>
    public static Outcome Check()
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this program's path");
        // Under the JIT the process is `dotnet`, and the program is the entry assembly beside it.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "fibers.dll"));
        start.FileName = self;
        start.ArgumentList.Add(CommandName);
        // The report is the point; a core file would only be litter.
        start.Environment["FBR_ON_STACK_OVERFLOW"] = "exit";
        using Process child = Process.Start(start) ?? throw new InvalidOperationException("could not start the child process");
        var stdout = child.StandardOutput.ReadToEndAsync();
        string stderr = child.StandardError.ReadToEnd();
        if (!child.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            child.Kill();
            return new Outcome(false, -1, stderr, "the child did not end within 60 s");
        }
        _ = stdout.Result;
        string report = stderr.Trim();
        int code = child.ExitCode;
        if (code != Runtime.StackOverflowExitCode)
            return new Outcome(false, code, report, $"the child exited with {code}, not {Runtime.StackOverflowExitCode}");
        if (!report.Contains("stack overflow", StringComparison.Ordinal) || !report.Contains("guard-hit-check", StringComparison.Ordinal))
            return new Outcome(false, code, report, "the child's stderr lacks the overflow report naming the fiber");
        return new Outcome(true, code, report, "");
    }
}
