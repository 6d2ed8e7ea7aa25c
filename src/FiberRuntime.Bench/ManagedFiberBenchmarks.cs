using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using FiberRuntime.Tests;

namespace FiberRuntime.Bench;

/// <summary>
/// C# fiber bodies against native fibers and async/await: a yield round trip (fiber to its worker's loop and
/// back; a C# fiber passes through the worker's C# frame each time), and channel ping-pong with a native echo
/// fiber against a native pinger and against two async Tasks. Target (issue 5): a C# switch within 2x of a
/// native one.
/// </summary>
internal static class ManagedFiberBenchmarks
{
    private const string Group = "C# fiber bodies";
    private const string NativeYield = "managed.native-yield";
    private const string TaskYield = "managed.task-yield";
    private const string NativePingPong = "managed.native-pingpong";

    private sealed class Yielder
    {
        public long Count;
        public long Done;
    }

    private sealed class Pinger
    {
        public Channel<long> Ping = null!;
        public Channel<long> Pong = null!;
        public long Rounds;
        public long Sum;
    }

    public static unsafe void Run(Context context)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        if (context.Wants(NativeYield))
            context.Measure(Group, new Benchmark(NativeYield, "native fiber: fbr_yield (one worker, alone)", n =>
                scheduler.Spawn(NativeFibers.YieldN, (nint)n).Join(), n => n));
        if (context.Wants("managed.yield"))
            context.Measure(Group, new Benchmark("managed.yield", "C# fiber body: Fiber.Yield() (one worker, alone)", n =>
            {
                var state = new Yielder { Count = n };
                scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Yielder s) =>
                {
                    for (long i = 0; i < s.Count; i++)
                        Fiber.Yield();
                    s.Done = s.Count;
                }, state).Join();
                return state.Done;
            }, n => n, NativeYield, Comparison.Speedup));
        if (context.Wants(TaskYield))
            context.Measure(Group, new Benchmark(TaskYield, "async method: await Task.Yield()", n => TaskYieldAsync(n).GetAwaiter().GetResult(),
                n => n, "managed.yield", Comparison.Speedup));
        if (context.Wants("managed.pingpong") || context.Wants(NativePingPong))
        {
            using var ping = new Channel<long>();
            using var pong = new Channel<long>();
            using var pipe = new NativeFibers.NativePipe(ping.NativeHandle, pong.NativeHandle);
            Fiber echo = scheduler.Spawn(NativeFibers.EchoPlusOne, pipe.Address);
            if (context.Wants(NativePingPong))
            {
                using var pinger = new NativeFibers.NativePipe(pong.NativeHandle, ping.NativeHandle);
                context.Measure(Group, new Benchmark(NativePingPong, "native fiber <-> native echo fiber, the same channels", n =>
                {
                    pinger.Pointer->Count = n;
                    return scheduler.Spawn(NativeFibers.PingPong, pinger.Address).Join();
                }, n => n * (n + 1) / 2));
            }
            context.Measure(Group, new Benchmark("managed.pingpong", "C# fiber body <-> native echo fiber, unbuffered channels", n =>
            {
                var state = new Pinger { Ping = ping, Pong = pong, Rounds = n };
                scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Pinger s) =>
                {
                    for (long i = 0; i < s.Rounds; i++)
                    {
                        s.Ping.Send(i);
                        long back = s.Pong.Receive();
                        s.Sum += back;
                    }
                }, state).Join();
                return state.Sum;
            }, n => n * (n + 1) / 2, NativePingPong, Comparison.Speedup));
            ping.Close();
            echo.Join();
        }
        if (context.Wants("managed.task-pingpong"))
        {
            using var stc = new PingPongBenchmarks.StcEcho(System.Threading.Channels.Channel.CreateUnbounded<long>);
            context.Measure(Group, new Benchmark("managed.task-pingpong", "async Task <-> async Task echo, System.Threading.Channels",
                n => PingPongBenchmarks.StcEcho.DriveAsync(stc.Ping.Writer, stc.Pong.Reader, n).GetAwaiter().GetResult(),
                n => n, "managed.pingpong", Comparison.Speedup));
        }
    }

    private static async Task<long> TaskYieldAsync(long n)
    {
        for (long i = 0; i < n; i++)
            await Task.Yield();
        return n;
    }
}
