using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>Constructs that once crashed the analyzer or were misreported.</summary>
[TestFixture]
public sealed class RegressionTests
{
    /// <summary>
    /// A lambda's flow graph links its root region to the region of the enclosing method it sits in: a
    /// lambda written after a 'using' declaration used to pick up the enclosing finally block's ordinal
    /// (AD0001, IndexOutOfRangeException in tests/FiberRuntime.Tests: 'using var cts ...; () => ch.Receive(cts.Token)').
    /// </summary>
    [Test]
    public Task SuspendingLambdaInsideAUsingOrTryOfItsEnclosingFunction_DoesNotCrash() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    using var cts = new CancellationTokenSource();
                    scheduler.Spawn(static (ref State s) =>
                    {
                        try
                        {
                            Func<int> take = static () => new Channel<int>().Receive();
                            int v = take();
                            s.Total = v;
                        }
                        catch (InvalidOperationException)
                        {
                            Action send = static () => new Channel<int>().Send(1);
                            send();
                        }

                        s.Channel.Send(1);
                    }, new State());
                    try
                    {
                        scheduler.Spawn(static (ref State s) => s.Channel.Send(s.Total), new State());
                    }
                    catch (InvalidOperationException e)
                    {
                        Console.WriteLine(e.Message);
                    }
                }
        """));

    [Test]
    public Task DiscardedResultOfASuspendingCall_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        _ = s.Channel.Receive();
                        _ = s.Channel.TryReceive(out _, TimeSpan.FromSeconds(1));
                        s.Total++;
                    }, new State());
                }
        """));
}
