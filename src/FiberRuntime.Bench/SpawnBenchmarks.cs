using System.Threading.Tasks;
using FiberRuntime.Tests;

namespace FiberRuntime.Bench;

/// <summary>
/// Starting work from C# and waiting for its result: a native fiber (add_one) against Task.Run(() => i + 1).
/// One operation is one fiber or task; every result is summed, so a lost one fails the run.
/// </summary>
internal static class SpawnBenchmarks
{
    private const string Group = "spawn+join";
    private const string TaskSequential = "spawn.task-run-await";
    private const string TaskBatched = "spawn.task-run-whenall";

    /// <summary>Sum of i + 1 for i in [0, n).</summary>
    private static long Expected(long n) => n * (n + 1) / 2;

    public static unsafe void Run(Context context)
    {
        int batch = context.Settings.Batch;
        if (context.Wants(TaskBatched) || context.Wants("spawn.fiber-batch-join") || context.Wants("spawn.fiber-detached-waitgroup", diagnostic: true))
            context.Environment["spawn batch"] = batch.ToString(System.Globalization.CultureInfo.InvariantCulture);

        if (context.Wants(TaskSequential))
            context.Measure(Group, new Benchmark(TaskSequential, "await Task.Run(() => i + 1), one at a time",
                n => TaskRunSequentialAsync(n).GetAwaiter().GetResult(), Expected));
        if (context.Wants(TaskBatched))
            context.Measure(Group, new Benchmark(TaskBatched, $"Task.Run x{batch}, await Task.WhenAll; per task",
                n => TaskRunBatchedAsync(n, batch).GetAwaiter().GetResult(), Expected, Granularity: batch));

        using var scheduler = context.NewScheduler();
        if (context.Wants("spawn.fiber-join"))
            context.Measure(Group, new Benchmark("spawn.fiber-join", "Spawn(AddOne, i).Join(), one at a time", n =>
            {
                long sum = 0;
                for (long i = 0; i < n; i++)
                    sum += scheduler.Spawn(NativeFibers.AddOne, (nint)i).Join();
                return sum;
            }, Expected, TaskSequential, Comparison.Speedup));
        if (context.Wants("spawn.fiber-batch-join"))
        {
            var fibers = new Fiber[batch];
            context.Measure(Group, new Benchmark("spawn.fiber-batch-join", $"Spawn x{batch}, then Join each; per fiber", n =>
            {
                long sum = 0;
                for (long done = 0; done < n; done += batch)
                {
                    for (int k = 0; k < batch; k++)
                        fibers[k] = scheduler.Spawn(NativeFibers.AddOne, (nint)(done + k));
                    for (int k = 0; k < batch; k++)
                        sum += fibers[k].Join();
                }
                return sum;
            }, Expected, TaskBatched, Comparison.Speedup, batch));
        }
        if (context.Wants("spawn.fiber-detached-waitgroup", diagnostic: true))
        {
            // No Fiber objects (finalizable, one per spawn) and no join per fiber: what spawning costs on its own.
            using var done = new WaitGroup();
            nint group = done.NativeHandle;
            context.Measure(Group, new Benchmark("spawn.fiber-detached-waitgroup", $"SpawnDetached x{batch} + WaitGroup; per fiber", n =>
            {
                for (long started = 0; started < n; started += batch)
                {
                    done.Add(batch);
                    for (int k = 0; k < batch; k++)
                        scheduler.SpawnDetached(NativeFibers.WaitGroupDone, group);
                    done.Wait();
                }
                return 0;
            }, null, TaskBatched, Comparison.Speedup, batch));
        }
    }

    private static async Task<long> TaskRunSequentialAsync(long n)
    {
        long sum = 0;
        for (long i = 0; i < n; i++)
        {
            long value = i;
            sum += await Task.Run(() => value + 1);
        }
        return sum;
    }

    private static async Task<long> TaskRunBatchedAsync(long n, int batch)
    {
        var tasks = new Task<long>[batch];
        long sum = 0;
        for (long done = 0; done < n; done += batch)
        {
            for (int k = 0; k < batch; k++)
            {
                long value = done + k;
                tasks[k] = Task.Run(() => value + 1);
            }
            await Task.WhenAll(tasks);
            foreach (Task<long> t in tasks)
                sum += t.Result;
        }
        return sum;
    }
}
