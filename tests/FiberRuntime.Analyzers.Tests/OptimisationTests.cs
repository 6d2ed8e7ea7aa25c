using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>FBR1006: fiber code not marked [MethodImpl(MethodImplOptions.AggressiveOptimization)].</summary>
[TestFixture]
public sealed class OptimisationTests
{
    [Test]
    public Task UnmarkedBodyLambda_IsReported_WithMessage() => AnalyzeAllRulesAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn({|#0:static (ref State s) =>|}
                    {
                        Fiber.Yield();
                        s.Total++;
                    }, new State());
                }
        """),
        Diagnostic("FBR1006").WithLocation(0).WithArguments("this fiber body lambda"));

    [Test]
    public Task MarkedBodyLambda_IsClean() => AnalyzeAllRulesAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref State s) =>
                    {
                        Fiber.Yield();
                        s.Total++;
                    }, new State());
                    scheduler.Spawn([MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)] static (ref State s) =>
                    {
                        s.Total++;
                    }, new State());
                }
        """));

    [Test]
    public Task BodyMethods_AreReportedUnlessMarked() => AnalyzeAllRulesAsync(Code("""
                public static void {|#0:Body|}(ref State s) => Fiber.Yield();

                [MethodImpl(MethodImplOptions.AggressiveOptimization)]
                public static void OptimisedBody(ref State s) => Fiber.Yield();

                [FiberBody]
                public static void {|#1:MarkedBody|}(ref State s) => Fiber.Yield();

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(Body, new State());
                    scheduler.Spawn(OptimisedBody, new State());
                }
        """),
        Diagnostic("FBR1006").WithLocation(0).WithArguments("fiber body 'Body'"),
        Diagnostic("FBR1006").WithLocation(1).WithArguments("fiber body 'MarkedBody'"));

    [Test]
    public Task ReachedHelpers_AreReportedUnlessMarked_ThreadOnlyHelpersAreNot() => AnalyzeAllRulesAsync(Code("""
                private static void {|#0:Step|}(Channel<int> ch) => ch.Send(1);

                [MethodImpl(MethodImplOptions.AggressiveOptimization)]
                private static void OptimisedStep(Channel<int> ch) => ch.Send(2);

                private static void ThreadStep(Channel<int> ch) => ch.Send(3);

                private static int NoSuspension(int x) => x + 1;

                public static void OnThread(Channel<int> ch) => ThreadStep(ch);

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref State s) =>
                    {
                        Step(s.Channel);
                        OptimisedStep(s.Channel);
                        s.Total = NoSuspension(s.Total);
                        Local(s.Channel);
                        Action yield = {|#2:static () =>|} Fiber.Yield();
                        yield();
                        Action yieldOptimised = [MethodImpl(MethodImplOptions.AggressiveOptimization)] static () => Fiber.Yield();
                        yieldOptimised();
                        Optimised();

                        static void {|#1:Local|}(Channel<int> ch) => ch.Send(4);

                        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
                        static void Optimised() => Fiber.Yield();
                    }, new State());
                }
        """),
        Diagnostic("FBR1006").WithLocation(0).WithArguments("'Step', which can suspend the fiber"),
        Diagnostic("FBR1006").WithLocation(1).WithArguments("local function 'Local', which can suspend the fiber"),
        Diagnostic("FBR1006").WithLocation(2).WithArguments("this lambda, which can suspend the fiber"));

    [Test]
    public Task DeclaredSuspensionPointInSource_IsNotReported_OneThatSuspendsIsReported() => AnalyzeAllRulesAsync(Code("""
                [MaySuspend]
                private static void Primitive() { }

                [MaySuspend]
                private static void {|#0:Wrapper|}() => Fiber.Yield();

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref State s) =>
                    {
                        Primitive();
                        Wrapper();
                        s.Total++;
                    }, new State());
                }
        """),
        Diagnostic("FBR1006").WithLocation(0).WithArguments("'Wrapper', which can suspend the fiber"));

    [Test]
    public Task RealisticMarkedBody_IsClean() => AnalyzeAllRulesAsync(Code("""
                public static void Run(FiberScheduler scheduler, State state)
                {
                    scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref State s) =>
                    {
                        for (int i = 0; i < 100; i++)
                        {
                            int v = s.Channel.Receive();
                            s.Total += v;
                            Fiber.Yield();
                        }

                        s.Items.Add(s.Total);
                    }, state);
                }
        """));
}
