using System.Collections.Generic;

namespace FiberRuntime;

/// <summary>One worker thread's figures since the scheduler started.</summary>
/// <param name="Runs">Times a fiber was switched to.</param>
/// <param name="Steals">Successful steals from other workers.</param>
/// <param name="Parks">Times the worker slept for lack of work.</param>
/// <param name="Runnable">Fibers in its queues right now.</param>
public readonly record struct WorkerStats(long Runs, long Steals, long Parks, long Runnable);

/// <summary>A scheduler's figures.</summary>
/// <param name="Workers">Worker threads.</param>
/// <param name="LiveFibers">Spawned and not yet finished.</param>
/// <param name="Spawned">Since the scheduler started.</param>
/// <param name="Finished">Since the scheduler started.</param>
/// <param name="PerWorker">Each worker's figures, by worker index.</param>
public sealed record SchedulerStats(int Workers, long LiveFibers, long Spawned, long Finished,
                                    IReadOnlyList<WorkerStats> PerWorker);

/// <summary>A fiber that was still running when a shutdown gave up waiting.</summary>
/// <param name="Id">The fiber's id (unique in the process).</param>
/// <param name="Name">Its name, or an empty string.</param>
public readonly record struct FiberInfo(ulong Id, string Name);
