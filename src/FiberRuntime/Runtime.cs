using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>How fiber stacks keep their uncommitted part inaccessible (see <c>fiberrt/runtime.h</c>).</summary>
public enum StackMode
{
    /// <summary>Guard markers when the kernel has them and overcommit is not strict, mprotect otherwise.</summary>
    Auto = Interop.FBR_STACK_MODE_AUTO,
    /// <summary>Guard markers (Linux 6.13+): no memory mapping per stack, so a million fibers fit.</summary>
    GuardMarkers = Interop.FBR_STACK_MODE_GUARD_MARKERS,
    /// <summary>PROT_NONE regions: any kernel, but about two mappings per stack (~30,000 live fibers).</summary>
    Mprotect = Interop.FBR_STACK_MODE_MPROTECT,
}

/// <summary>Process-wide settings of the native runtime. Zero or null fields keep the defaults.</summary>
public sealed record RuntimeOptions
{
    /// <summary>How stacks are guarded.</summary>
    public StackMode StackMode { get; init; } = StackMode.Auto;

    /// <summary>Inaccessible bytes under every stack (default 64 KiB).</summary>
    public long StackGuardSize { get; init; }

    /// <summary>Committed bytes a pooled stack keeps for its next fiber (default 64 KiB).</summary>
    public long PoolKeepCommitted { get; init; }

    /// <summary>Freed stacks kept ready per stack size (default 65536; past the first 4096 each keeps at most 16 KiB).</summary>
    public long PoolMaxCached { get; init; }
}

/// <summary>Figures for the whole process's fiber stacks.</summary>
public readonly record struct RuntimeStats(
    StackMode StackMode,
    long StacksInUse,
    long StacksCached,
    long BytesReserved,
    long BytesCommitted,
    long GrowthFaults,
    long StackRegions,
    long FibersCreated);

/// <summary>
/// The native runtime as a whole: version, set-up and process-wide figures.
/// </summary>
/// <example>
/// <code>
/// Runtime.Configure(new RuntimeOptions { StackMode = StackMode.Mprotect }); // optional, before any fiber
/// Console.WriteLine($"libfiberrt {Runtime.Version}, stacks: {Runtime.ActiveStackMode}");
/// </code>
/// </example>
public static class Runtime
{
    private static int s_initialized;

    /// <summary>The native library's version, for example "0.1.0".</summary>
    public static string Version => Marshal.PtrToStringUTF8(Interop.fbr_version_string()) ?? "";

    /// <summary>
    /// Chooses process-wide settings. Only before the runtime starts (before the first scheduler or
    /// <see cref="Initialize"/>): InvalidOperationException afterwards.
    /// </summary>
    public static unsafe void Configure(RuntimeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.StackGuardSize);
        ArgumentOutOfRangeException.ThrowIfNegative(options.PoolKeepCommitted);
        ArgumentOutOfRangeException.ThrowIfNegative(options.PoolMaxCached);
        if (!Enum.IsDefined(options.StackMode))
            throw new ArgumentOutOfRangeException(nameof(options), options.StackMode, "unknown stack mode");
        var config = new Interop.fbr_runtime_config
        {
            stack_mode = (int)options.StackMode,
            stack_guard_size = (nuint)options.StackGuardSize,
            pool_keep_committed = (nuint)options.PoolKeepCommitted,
            pool_max_cached = (nuint)options.PoolMaxCached,
        };
        FiberErrors.ThrowIfFailed(Interop.fbr_runtime_configure(&config));
    }

    /// <summary>
    /// Starts the runtime if it has not started: picks the stack mode and installs the fault handler that
    /// grows fiber stacks. Because .NET is running by now, the handler goes in after .NET's own and chains
    /// to it, so NullReferenceException and .NET's stack-overflow report keep working. Idempotent; every
    /// scheduler calls it.
    /// </summary>
    public static void Initialize()
    {
        if (Volatile.Read(ref s_initialized) != 0)
            return;
        FiberErrors.ThrowIfFailed(Interop.fbr_runtime_init());
        Volatile.Write(ref s_initialized, 1);
    }

    /// <summary>The stack mode in use (Auto before the runtime starts).</summary>
    public static StackMode ActiveStackMode => (StackMode)Interop.fbr_stack_mode_active();

    /// <summary>Process-wide stack figures.</summary>
    public static unsafe RuntimeStats GetStats()
    {
        Interop.fbr_runtime_stats s;
        FiberErrors.ThrowIfFailed(Interop.fbr_runtime_stats_get(&s));
        return new RuntimeStats((StackMode)s.stack_mode, (long)s.stacks_in_use, (long)s.stacks_cached,
                                (long)s.bytes_reserved, (long)s.bytes_committed, (long)s.growth_faults,
                                (long)s.stack_regions, (long)s.fibers_created);
    }

    /// <summary>Exit status of a process whose fiber overflowed its stack, after the runtime's report on stderr.</summary>
    public const int StackOverflowExitCode = Interop.FBR_EXIT_STACK_OVERFLOW;

    /// <summary>Converts a relative timeout to the runtime's absolute deadline (monotonic nanoseconds).</summary>
    internal static long DeadlineAfter(TimeSpan timeout, string parameterName)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
            return Interop.FBR_NO_DEADLINE;
        if (timeout < TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(parameterName, timeout, "a timeout must be non-negative or Timeout.InfiniteTimeSpan");
        long now = Interop.fbr_now();
        long ns = timeout.Ticks > (long.MaxValue - now) / 100 ? long.MaxValue - now : timeout.Ticks * 100;
        return now + ns;
    }
}
