using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>FBR1005: a managed value evaluated before a suspension in the same expression and used after it.</summary>
[TestFixture]
public sealed class TemporaryAcrossSuspensionTests
{
    [Test]
    public Task ReceiverEvaluatedBeforeSuspendingArgument_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        {|#0:s.Items|}.Add(s.Channel.Receive());
                    }, new State());
                }
        """),
        Diagnostic("FBR1005").WithLocation(0).WithArguments("'s.Items'", "s.Channel.Receive()", "Make the suspending call a statement of its own that stores its result in a local, then use the local"));

    [Test]
    public Task FieldStoreWithSuspendingRightHandSide_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        {|FBR1005:s|}.Total = s.Channel.Receive();
                    }, new State());
                }
        """));

    [Test]
    public Task SuspendingCallInItsOwnStatement_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        int v = s.Channel.Receive();
                        s.Total = v;
                        s.Items.Add(v);
                        s.Channel.Send(s.Total + 1);
                    }, new State());
                }
        """));

    [Test]
    public Task ForeachOverManagedCollectionWithSuspension_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        foreach (int item in s.Items)
                        {
                            s.Total += item;
                            {|#0:Fiber.Yield()|};
                        }
                    }, new State());
                }
        """),
        Diagnostic("FBR1005").WithLocation(0).WithArguments("The enumerator of 's.Items'", "Fiber.Yield()", "Loop by index instead, reading the collection through the state parameter after each suspension"));

    [Test]
    public Task IndexLoopOverStateCollection_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        for (int i = 0; i < s.Items.Count; i++)
                        {
                            s.Total += s.Items[i];
                            Fiber.Yield();
                        }
                    }, new State());
                }
        """));
}
