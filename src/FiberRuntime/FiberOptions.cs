using System;

namespace FiberRuntime;

/// <summary>How a fiber is started. Zero or null fields keep the defaults.</summary>
public sealed record FiberOptions
{
    /// <summary>Bytes the stack may grow to (default 1 MiB; 16 KiB to 16 GiB). Only touched pages cost memory.</summary>
    public long StackSize { get; init; }

    /// <summary>Bytes committed up front (default 16 KiB), capped at <see cref="StackSize"/>.</summary>
    public long InitialStackSize { get; init; }

    /// <summary>A name for reports and debuggers (at most 31 bytes of UTF-8 are kept).</summary>
    public string? Name { get; init; }

    /// <summary>Keeps the fiber on the worker thread it first runs on (for thread-affine code).</summary>
    public bool Pinned { get; init; }

    internal void Validate()
    {
        if (StackSize != 0 && (StackSize < (long)Interop.FBR_STACK_MIN || StackSize > (long)Interop.FBR_STACK_LIMIT))
            throw new ArgumentOutOfRangeException(nameof(StackSize), StackSize,
                $"a fiber stack must be between {Interop.FBR_STACK_MIN} bytes and {Interop.FBR_STACK_LIMIT} bytes");
        if (InitialStackSize < 0 || InitialStackSize > (long)Interop.FBR_STACK_LIMIT)
            throw new ArgumentOutOfRangeException(nameof(InitialStackSize), InitialStackSize,
                $"the initial stack must be between 0 and {Interop.FBR_STACK_LIMIT} bytes");
    }
}

/// <summary>How a scheduler is started.</summary>
public sealed record FiberSchedulerOptions
{
    /// <summary>Worker threads; 0 means one per online CPU. At most 1024.</summary>
    public int Workers { get; init; }

    /// <summary>How long <see cref="FiberScheduler.Dispose"/> waits for running fibers before it reports them (default 30 s).</summary>
    public TimeSpan DisposeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Verification mode: after every suspension of a C# fiber, force a full compacting GC while the fiber is
    /// suspended (so invisible to it). A body that keeps a managed reference across a suspension then fails
    /// on its next use, deterministically, instead of corrupting the heap once in a while. Slow: for tests.
    /// Also on when the environment variable FIBERRT_VERIFY is 1. Run your fiber tests in this mode.
    /// </summary>
    public bool VerifySuspensions { get; init; } = Environment.GetEnvironmentVariable("FIBERRT_VERIFY") == "1";
}
