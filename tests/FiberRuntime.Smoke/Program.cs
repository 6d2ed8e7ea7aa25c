using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FiberRuntime.Smoke;

/// <summary>
/// Prints "PASS name" or "FAIL name: why" per check and "N passed, M failed" last; exits 1 on any
/// failure. With "--child MODE" it is one of the processes that the crash checks start and watch die.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--child")
            return ChildChecks.RunChild(args[1]);
        if (args.Length != 0)
        {
            Console.Error.WriteLine("usage: FiberRuntime.Smoke        (runs every check)");
            return 2;
        }

        bool jit = RuntimeFeature.IsDynamicCodeSupported;
        Console.WriteLine($"FiberRuntime smoke: {(jit ? "JIT (CoreCLR)" : "NativeAOT")}, {RuntimeInformation.RuntimeIdentifier}, libfiberrt {Runtime.Version}");
        var report = new Report();

        var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2, DisposeTimeout = TimeSpan.FromSeconds(10) });
        Console.WriteLine($"stack mode {Runtime.ActiveStackMode}, {scheduler.WorkerCount} workers");
        InProcessChecks.RunAll(report, scheduler);
        ManagedFiberChecks.RunAll(report);
        SocketChecks.RunAll(report);
        report.Run("scheduler-dispose", scheduler.Dispose);
        ChildChecks.RunAll(report, jit);

        Console.WriteLine($"{report.Passed} passed, {report.Failed} failed");
        Console.Out.Flush();
        // Exit instead of returning: after a check that hung, a foreground thread may still be blocked in
        // native code, and returning would wait for it forever.
        Environment.Exit(report.Failed == 0 ? 0 : 1);
        return 1;
    }
}
