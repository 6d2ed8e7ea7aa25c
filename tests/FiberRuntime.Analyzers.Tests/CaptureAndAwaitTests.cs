using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>FBR1003 (captures in fiber code) and FBR1004 (await in fiber code).</summary>
[TestFixture]
public sealed class CaptureAndAwaitTests
{
    [Test]
    public Task FiberBodyLambdaThatCaptures_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler, Channel<int> channel)
                {
                    int limit = 10;
                    scheduler.Spawn((ref State s) =>
                    {
                        s.Total = {|#0:limit|};
                    }, new State());
                }
        """),
        Diagnostic("FBR1003").WithLocation(0).WithArguments("limit", "this fiber body lambda"));

    [Test]
    public Task StaticFiberBodyLambda_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        const int Limit = 10;
                        for (int i = 0; i < Limit; i++)
                        {
                            s.Channel.Send(i);
                        }
                    }, new State());
                }
        """));

    [Test]
    public Task SuspendingLambdaThatCaptures_IsReported_NonSuspendingOneIsNot() => AnalyzeAsync(Code("""
                public void Run(Channel<int> channel)
                {
                    Action pump = () => {|#1:channel|}.Send({|#0:_items|}.Count);
                    Func<int> count = () => _items.Count + channel.GetHashCode();
                    Action<Channel<int>> clean = static c => c.Send(1);
                    pump();
                    clean(channel);
                    GC.KeepAlive(count);
                    Fiber.Yield();
                }
        """ + BodyCalling("new Worker().Run(s.Channel);")),
        Diagnostic("FBR1003").WithLocation(1).WithArguments("channel", "this lambda, which can suspend the fiber"),
        Diagnostic("FBR1003").WithLocation(0).WithArguments("this", "this lambda, which can suspend the fiber"));

    [Test]
    public Task SuspendingLocalFunctionThatCaptures_IsReported() => AnalyzeAsync(Code("""
                public static void Helper(WaitGroup wg)
                {
                    Wait();
                    void Wait() => {|FBR1003:wg|}.Wait();
                }
        """ + BodyCalling("Helper(new WaitGroup());")));

    [Test]
    public Task AwaitInMethodThatSuspends_IsReported() => AnalyzeAsync(Code("""
                public static async Task Mixed()
                {
                    Fiber.Yield();
                    {|FBR1004:await|} Task.Delay(1);
                }

                public static async Task AsyncOnly()
                {
                    await Task.Delay(1);
                }
        """ + BodyCalling("_ = Mixed(); _ = AsyncOnly();")));

    [Test]
    public Task WithoutFiberRuntimeAttributes_NothingIsReported() => AnalyzeAsync("""
        using System.Collections.Generic;
        public static class Fiber { public static void Yield() { } }
        public static class C
        {
            public static void M()
            {
                var list = new List<int>();
                Fiber.Yield();
                lock (list) { Fiber.Yield(); }
                list.Add(1);
            }
        }
        """, withStubs: false);
}
