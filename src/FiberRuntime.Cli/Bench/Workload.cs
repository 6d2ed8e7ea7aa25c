namespace FiberRuntime.Cli.Bench;

/// <summary>
/// The scheduler workloads every system runs with the same sizes (native/bench/bench_sched.c and
/// native/bench/peers/*), named as those programs print them.
/// </summary>
internal sealed record Workload(string Name, string Unit, string Description)
{
    public static readonly Workload[] All =
    [
        new("spawn_join", "ns/fiber", "spawn 100,000 that end at once, wait for all"),
        new("ping_pong", "ns/round-trip", "500,000 round trips over unbuffered channels"),
        new("buffered", "ns/item", "5,000,000 items through a 1024-slot channel"),
        new("skynet", "ms", "1,000,000 leaves in a 10-ary tree, summed"),
    ];
}
