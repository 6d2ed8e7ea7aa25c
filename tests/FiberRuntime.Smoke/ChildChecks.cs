using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using System.Threading;
using FiberRuntime.Tests;

namespace FiberRuntime.Smoke;

/// <summary>
/// Checks whose subject is the death of a process: this app starts itself again with
/// <c>--child MODE</c> and reads what the child printed and how it ended.
/// </summary>
internal static partial class ChildChecks
{
    private const string OverflowFiberName = "smoke-overflow";
    private const int OverflowFiberStack = 64 * 1024;

    // ---- the child side ------------------------------------------------------------------------

    public static int RunChild(string mode)
    {
        switch (mode)
        {
            case "csharp-overflow-before-init":
                return OverflowCSharpThread(initializeFirst: false);
            case "csharp-overflow-after-init":
                return OverflowCSharpThread(initializeFirst: true);
            case "fiber-overflow":
                return OverflowNativeFiber();
            case "break-rule-verified":
                return BreakTheRule(verify: true);
            default:
                Console.Error.WriteLine($"unknown child mode '{mode}'");
                return 2;
        }
    }

    /// <summary>Unbounded recursion; using the result after the call keeps it from becoming a loop.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Recurse(long depth)
    {
        Span<long> frame = stackalloc long[16];
        frame[(int)(depth & 15)] = depth;
        return Recurse(depth + 1) + frame[(int)((depth * 7) & 15)];
    }

    private static int OverflowCSharpThread(bool initializeFirst)
    {
        // A scheduler is what applications create; it installs libfiberrt's SIGSEGV handler.
        using FiberScheduler? scheduler = initializeFirst ? new FiberScheduler(new FiberSchedulerOptions { Workers = 1 }) : null;
        if (initializeFirst)
            Console.WriteLine("child: runtime initialized");
        Console.WriteLine("child: overflowing a C# thread's stack");
        var thread = new Thread(() => _ = Recurse(0), maxStackSize: 1 << 20);
        thread.Start();
        thread.Join();
        Console.WriteLine("child: the recursion returned");
        return 3;
    }

    private static int OverflowNativeFiber()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        // The overflowing fiber dies before Spawn's caller could print its id, so print the id of the
        // fiber spawned just before it: ids come from one process-wide counter.
        Fiber previous = NativeFibers.Spawn(scheduler, NativeFibers.Entry.AddOne, 0);
        previous.Join();
        Console.WriteLine($"child: previous fiber id {previous.Id}");
        Fiber fiber = NativeFibers.Spawn(scheduler, NativeFibers.Entry.DeepRecursion, 100_000_000,
                                      new FiberOptions { StackSize = OverflowFiberStack, Name = OverflowFiberName });
        fiber.Join();
        Console.WriteLine("child: the recursion returned");
        return 3;
    }

    // ---- the parent side -----------------------------------------------------------------------

    private sealed record ChildResult(int ExitCode, string StdOut, string StdErr)
    {
        public override string ToString() =>
            $"exit {ExitCode}; stdout: [{StdOut.Trim()}]; stderr: [{Head(StdErr)}]";

        private static string Head(string text)
        {
            string[] lines = text.Trim().Split('\n');
            return lines.Length <= 6 ? string.Join(" | ", lines) : string.Join(" | ", lines.Take(6)) + $" | ... ({lines.Length} lines)";
        }
    }

    /// <summary>
    /// What this runtime does when a C# thread overflows its stack, as measured on .NET 10:
    /// CoreCLR prints "Stack overflow." and a trace of the repeating frames on stderr, then aborts (SIGABRT);
    /// NativeAOT prints nothing and the process dies of SIGSEGV, because the kernel cannot deliver the
    /// fault to a handler on the exhausted stack (NativeAOT threads have no alternate signal stack).
    /// </summary>
    private static void ExpectDotnetOverflow(ChildResult child, bool jit)
    {
        Expect.True(child.StdOut.Contains("child: overflowing", StringComparison.Ordinal), $"the child did not reach the recursion: {child}");
        Expect.True(!child.StdOut.Contains("recursion returned", StringComparison.Ordinal), $"the recursion returned: {child}");
        Expect.True(!child.StdErr.Contains("fiberrt:", StringComparison.Ordinal), $"libfiberrt reported a fault that was not on a fiber: {child}");
        if (jit)
        {
            Expect.Equal(128 + 6, child.ExitCode, $"exit status (SIGABRT) of {child}");
            Expect.True(child.StdErr.Contains("Stack overflow.", StringComparison.Ordinal), $"no \"Stack overflow.\" on stderr: {child}");
            Expect.True(child.StdErr.Contains(nameof(Recurse), StringComparison.Ordinal), $"the trace does not show the recursing method: {child}");
        }
        else
        {
            Expect.Equal(128 + 11, child.ExitCode, $"exit status (SIGSEGV) of {child}");
            Expect.True(DotnetLines(child.StdErr).Count == 0, $"NativeAOT printed something: {child}");
        }
    }

    /// <summary>stderr without the lines qemu adds when the program it runs dies of a signal.</summary>
    private static List<string> DotnetLines(string stderr) =>
        stderr.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0 && !l.StartsWith("qemu:", StringComparison.Ordinal)).ToList();

    /// <summary>The shape of .NET's report: its first line and its frame names, without counts and addresses.</summary>
    private static string ReportShape(string stderr) =>
        string.Join("\n", DotnetLines(stderr).Where(l => !l.StartsWith("Repeat", StringComparison.Ordinal)).Select(l => DigitsRegex().Replace(l, "#")).Distinct());

    public static void RunAll(Report report, bool jit)
    {
        ChildResult? before = null, after = null;
        report.Run("csharp-stack-overflow-before-init", () =>
        {
            before = Start("csharp-overflow-before-init");
            ExpectDotnetOverflow(before, jit);
        });
        report.Run("csharp-stack-overflow-after-init", () =>
        {
            after = Start("csharp-overflow-after-init");
            Expect.True(after.StdOut.Contains("child: runtime initialized", StringComparison.Ordinal), $"the child did not start a scheduler: {after}");
            ExpectDotnetOverflow(after, jit);
        });
        report.Run("csharp-stack-overflow-report-unchanged", () =>
        {
            Expect.True(before is not null && after is not null, "one of the two runs above did not finish");
            Expect.Equal(before!.ExitCode, after!.ExitCode, "exit status with the runtime initialized versus without");
            string shapeBefore = ReportShape(before.StdErr), shapeAfter = ReportShape(after.StdErr);
            Expect.True(shapeBefore == shapeAfter, $"the report differs: without libfiberrt [{shapeBefore.Replace('\n', '|')}], with it [{shapeAfter.Replace('\n', '|')}]");
        });
        report.Run("fiber-stack-overflow-report", FiberOverflowReport);
        report.Run("verification-mode-catches-a-broken-rule", VerificationCatchesBreach);
    }

    /// <summary>libfiberrt's own report for a native fiber past its limit, and exit status 86.</summary>
    private static void FiberOverflowReport()
    {
        ChildResult child = Start("fiber-overflow");
        Expect.Equal(Runtime.StackOverflowExitCode, child.ExitCode, $"exit status of {child}");
        Match previous = PreviousIdRegex().Match(child.StdOut);
        Expect.True(previous.Success, $"the child did not print the previous fiber id: {child}");
        Match header = OverflowHeaderRegex().Match(child.StdErr);
        Expect.True(header.Success, $"no \"stack overflow in fiber N \\\"{OverflowFiberName}\\\"\" line: {child}");
        ulong id = ulong.Parse(header.Groups[1].Value, CultureInfo.InvariantCulture);
        Expect.Equal(ulong.Parse(previous.Groups[1].Value, CultureInfo.InvariantCulture) + 1, id, "the reported fiber id");

        Match limit = LimitRegex().Match(child.StdErr);
        Expect.True(limit.Success, $"no stack limit line: {child}");
        long pageSize = Environment.SystemPageSize;
        long expectedLimit = (OverflowFiberStack + pageSize - 1) / pageSize * pageSize;
        Expect.Equal(expectedLimit, long.Parse(limit.Groups[1].Value, CultureInfo.InvariantCulture), "the reported stack limit");
        long guard = long.Parse(limit.Groups[2].Value, CultureInfo.InvariantCulture);

        Match fault = FaultRegex().Match(child.StdErr);
        Expect.True(fault.Success, $"no fault address line: {child}");
        ulong address = ulong.Parse(fault.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        ulong low = ulong.Parse(fault.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        Expect.True(address < low && address >= low - (ulong)guard,
                    $"fault address 0x{address:x} is not in the guard under the stack (usable from 0x{low:x}, guard {guard} bytes)");
    }

    [GeneratedRegex(@"child: previous fiber id (\d+)")]
    private static partial Regex PreviousIdRegex();

    [GeneratedRegex(@"fiberrt: fatal: stack overflow in fiber (\d+) ""smoke-overflow""")]
    private static partial Regex OverflowHeaderRegex();

    [GeneratedRegex(@"stack limit:\s+(\d+) bytes \(reservation \d+ bytes, guard (\d+) bytes\)")]
    private static partial Regex LimitRegex();

    [GeneratedRegex(@"fault address:\s+0x([0-9a-f]+) \(stack spans 0x([0-9a-f]+)-0x[0-9a-f]+\)")]
    private static partial Regex FaultRegex();

    [GeneratedRegex(@"\d+")]
    private static partial Regex DigitsRegex();

    /// <summary>
    /// Starts this app again as a child. FIBER_SMOKE_LAUNCHER (for example "qemu-aarch64 -L
    /// /usr/aarch64-linux-gnu") is put in front, since a foreign binary cannot be started directly
    /// where binfmt_misc is not set up.
    /// </summary>
    private static ChildResult Start(string mode)
    {
        string self = Environment.ProcessPath ?? throw new CheckFailedException("Environment.ProcessPath is unknown");
        var command = new List<string>();
        string? launcher = Environment.GetEnvironmentVariable("FIBER_SMOKE_LAUNCHER");
        if (!string.IsNullOrWhiteSpace(launcher))
            command.AddRange(launcher.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        command.Add(self);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            command.Add(Environment.GetCommandLineArgs()[0]); // started as "dotnet app.dll": argument 0 is the .dll
        command.Add("--child");
        command.Add(mode);

        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in command.Skip(1))
            start.ArgumentList.Add(argument);
        // A crash is the expected outcome here: no dumps.
        start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        start.Environment["DOTNET_EnableCrashReport"] = "0";

        using Process child = Process.Start(start) ?? throw new CheckFailedException($"could not start {string.Join(' ', command)}");
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            throw new CheckFailedException($"the child '{mode}' hung for 90 s and was killed; stdout: {stdout.Result.Trim()}; stderr: {stderr.Result.Trim()}");
        }
        child.WaitForExit(); // lets the output readers reach the end
        return new ChildResult(child.ExitCode, stdout.Result, stderr.Result);
    }
}
