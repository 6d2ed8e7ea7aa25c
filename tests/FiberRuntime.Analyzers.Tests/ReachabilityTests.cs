using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>
/// Which code is fiber code: fiber bodies, what is nested in them, and the suspending functions they reach.
/// Code that blocks only on a plain thread (channels work there too) is not checked.
/// </summary>
[TestFixture]
public sealed class ReachabilityTests
{
    [Test]
    public Task ThreadOnlyCode_IsNotReported() => AnalyzeAsync(Code("""
                public static void OnThread(Channel<int> ch, WaitGroup wg)
                {
                    var log = new StringBuilder();
                    Func<int> take = () => ch.Receive();
                    int v = ch.Receive();
                    log.Append(v);
                    lock (log)
                    {
                        ch.Send(1);
                    }

                    try
                    {
                        wg.Wait();
                    }
                    finally
                    {
                        wg.Wait();
                    }

                    var thread = new Thread(() => log.Append(take()));
                    thread.Start();
                    thread.Join();
                }

                public static async Task OnThreadAsync(Channel<int> ch)
                {
                    await Task.Delay(1);
                    ch.Send(1);
                }

                public static void Test(Channel<int> ch)
                {
                    // An NUnit-style assertion lambda: run on the test's thread.
                    using var cts = new CancellationTokenSource();
                    Action receive = () => ch.Receive();
                    receive();
                }
        """));

    [Test]
    public Task HelperCalledFromABody_IsReported_TheSameCodeOnAThreadIsNot() => AnalyzeAsync(Code("""
                public static void Helper(Channel<int> ch)
                {
                    var log = new StringBuilder();
                    int v = {|FBR1001:ch.Receive()|};
                    log.Append(v);
                }

                public static void ThreadHelper(Channel<int> ch)
                {
                    var log = new StringBuilder();
                    int v = ch.Receive();
                    log.Append(v);
                }

                public static void Run(FiberScheduler scheduler, Channel<int> ch)
                {
                    ThreadHelper(ch);
                    scheduler.Spawn(static (ref State s) =>
                    {
                        Helper(s.Channel);
                    }, new State());
                }
        """));

    [Test]
    public Task TransitiveHelpers_LocalFunctionsAndMethodGroups_AreReached() => AnalyzeAsync(Code("""
                private static void Inner(List<int> items)
                {
                    {|FBR1001:Fiber.Yield()|};
                    items.Add(1);
                }

                private static void Outer(List<int> items) => Inner(items);

                private static void ViaDelegate(Channel<int> ch)
                {
                    {|FBR1001:ch.Send(1)|};
                    ch.Send(2);
                }

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        Outer(s.Items);
                        Action<Channel<int>> send = ViaDelegate;
                        send(s.Channel);
                        Local(s.Channel);

                        static void Local(Channel<int> ch)
                        {
                            {|FBR1001:ch.Send(1)|};
                            ch.Send(2);
                        }
                    }, new State());
                }
        """));

    [Test]
    public Task HelperCalledFromBothABodyAndAThread_IsReported() => AnalyzeAsync(Code("""
                public static void Shared(WaitGroup wg, List<int> items)
                {
                    {|FBR1001:wg.Wait()|};
                    items.Add(1);
                }

                public static void OnThread() => Shared(new WaitGroup(), new List<int>());

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        Shared(new WaitGroup(), s.Items);
                    }, new State());
                }
        """));
}
