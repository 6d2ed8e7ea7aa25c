using System;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Threading;
using FiberRuntime.Tests;

namespace FiberRuntime.Smoke;

/// <summary>
/// C# fiber bodies in this binary (JIT or NativeAOT): yields and channel traffic with native fibers under
/// concurrent compacting GCs, in normal and verification mode, and an exception handed to the joiner.
/// </summary>
internal static class ManagedFiberChecks
{
    public static void RunAll(Report report)
    {
        report.Run("managed-fibers-under-gc", () => Traffic(verify: false, fibers: 400, rounds: 100));
        report.Run("managed-fibers-verification-mode", () => Traffic(verify: true, fibers: 16, rounds: 10));
        report.Run("managed-fiber-exception-to-join", EscapingException);
    }

    private sealed class Work
    {
        public Channel<long> Requests = null!;
        public Channel<long> Replies = null!;
        public int Rounds;
        public long Sum;
        public string[] Garbage = new string[4];
    }

    private static void Traffic(bool verify, int fibers, int rounds)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2, VerifySuspensions = verify });
        using var requests = new Channel<long>(8);
        using var replies = new Channel<long>(8);
        using var pipe = new NativeFibers.NativePipe(requests.NativeHandle, replies.NativeHandle);
        Fiber echo = NativeFibers.Spawn(scheduler, NativeFibers.Entry.EchoPlusOne, pipe.Address);
        var states = Enumerable.Range(0, fibers)
            .Select(_ => new Work { Requests = requests, Replies = replies, Rounds = rounds })
            .ToArray();
        var spawned = states.Select(st => scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Work s) =>
        {
            for (int i = 0; i < s.Rounds; i++)
            {
                s.Garbage[i % 4] = new string('g', 1 + i % 50);
                s.Requests.Send(i);
                Fiber.Yield();
                long reply = s.Replies.Receive();
                s.Sum += reply;
            }
        }, st)).ToArray();
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                Thread.Sleep(2);
            }
        });
        collector.Start();
        foreach (Fiber f in spawned)
            f.Join();
        stop.Cancel();
        collector.Join();
        requests.Close();
        Expect.Equal((nint)((long)fibers * rounds), echo.Join(), "values the native echo fiber answered");
        // Every reply is some request + 1; all requests together are fibers * (0 + ... + rounds-1).
        long expected = (long)fibers * ((long)rounds * (rounds - 1) / 2 + rounds);
        Expect.Equal(expected, states.Sum(s => s.Sum), "sum of every reply the C# fibers received");
    }

    private sealed class Thrower
    {
        public int Code;
    }

    private static void EscapingException()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 1 });
        Fiber fiber = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Thrower s) =>
        {
            Fiber.Yield();
            throw new InvalidProgramException($"thrown on a fiber with code {s.Code}");
        }, new Thrower { Code = 42 });
        var error = Expect.Throws<InvalidProgramException>(() => fiber.Join(), "Join of a fiber whose body threw");
        Expect.Equal("thrown on a fiber with code 42", error.Message, "the exception's message");
    }
}
