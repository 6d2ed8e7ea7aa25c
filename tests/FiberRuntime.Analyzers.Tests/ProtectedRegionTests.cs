using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>FBR1002: a suspension inside catch, finally, lock, a Lock scope or a Monitor region.</summary>
[TestFixture]
public sealed class ProtectedRegionTests
{
    [Test]
    public Task SuspensionInCatchAndFinally_IsReported() => AnalyzeAsync(Code("""
                public static void Helper()
                {
                    try
                    {
                        Fiber.Yield();
                    }
                    catch (InvalidOperationException)
                    {
                        {|#0:Fiber.Yield()|};
                    }
                    finally
                    {
                        {|#1:Fiber.Sleep(TimeSpan.Zero)|};
                    }
                }
        """ + BodyCalling("Helper();")),
        Diagnostic("FBR1002").WithLocation(0).WithArguments("Fiber.Yield()", "a catch block", "CoreCLR crashes when a fiber suspends while an exception is being handled"),
        Diagnostic("FBR1002").WithLocation(1).WithArguments("Fiber.Sleep(TimeSpan.Zero)", "a finally block", "CoreCLR crashes when a fiber suspends while an exception is being handled"));

    [Test]
    public Task SuspensionInLockStatement_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        lock (s.Gate)
                        {
                            {|FBR1002:Fiber.Yield()|};
                        }
                    }, new State());
                }
        """));

    [Test]
    public Task SuspensionInLockScope_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        using (s.Lock.EnterScope())
                        {
                            {|FBR1002:Fiber.Yield()|};
                        }
                    }, new State());
                }

                public static void Declared(Lock gate)
                {
                    using var scope = gate.EnterScope();
                    {|FBR1002:Fiber.Yield()|};
                }
        """ + BodyCalling("Declared(new Lock());")));

    [Test]
    public Task SuspensionInMonitorRegion_IsReported() => AnalyzeAsync(Code("""
                private static readonly object Gate = new();

                public static void Helper()
                {
                    bool taken = false;
                    Monitor.Enter(Gate, ref taken);
                    try
                    {
                        {|FBR1002:Fiber.Yield()|};
                    }
                    finally
                    {
                        if (taken) Monitor.Exit(Gate);
                    }
                }
        """ + BodyCalling("Helper();")));

    [Test]
    public Task SuspensionInTryBlockAndAfterLock_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        try
                        {
                            Fiber.Yield();
                        }
                        catch (InvalidOperationException)
                        {
                            s.Total = -1;
                        }

                        lock (s.Gate)
                        {
                            s.Total++;
                        }

                        Fiber.Yield();
                    }, new State());
                }
        """));
}
