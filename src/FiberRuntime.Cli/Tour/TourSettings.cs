using System.Threading;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>The sizes of one tour run (the defaults keep it under a minute on a 2-core VM).</summary>
internal sealed record TourSettings
{
    public long Fibers { get; init; } = 100_000;
    public long Threads { get; init; } = 10_000;
    public long Dives { get; init; } = 10_000;
    public int MaxDepthKib { get; init; } = 512;
    public long Rounds { get; init; } = 100_000;
    public int Workers { get; init; }
}

/// <summary>What every tour step works with.</summary>
internal sealed record TourContext(FiberScheduler Scheduler, TourSettings Settings, IProgressBoard Board, CancellationToken Cancel);
