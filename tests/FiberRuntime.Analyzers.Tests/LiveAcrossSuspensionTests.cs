using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>FBR1001: a managed local or parameter live across a suspension point.</summary>
[TestFixture]
public sealed class LiveAcrossSuspensionTests
{
    [Test]
    public Task ReferenceLocalUsedAfterYield_IsReported_WithMessage() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        var list = new List<int>();
                        {|#0:Fiber.Yield()|};
                        list.Add(1);
                    }, new State());
                }
        """),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("list", "List<int>", "Fiber.Yield()"));

    [Test]
    public Task DocumentedStatePattern_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        s.Items.Add(1);
                        Fiber.Yield();
                        s.Items.Add(2);
                        int v = s.Channel.Receive();
                        s.Total += v;
                        var items = s.Items;
                        items.Add(v);
                    }, new State());
                }
        """));

    [Test]
    public Task UnmanagedLocals_AreClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        int n = 1;
                        long sum = 2;
                        Point p = new Point { X = 1, Y = 2 };
                        Guid id = Guid.NewGuid();
                        int? maybe = null;
                        Fiber.Yield();
                        s.Total = (int)(n + sum + p.X + p.Y + (maybe ?? 0) + id.GetHashCode());
                    }, new State());
                }
        """));

    [Test]
    public Task ReferenceAssignedAfreshAfterSuspension_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        var text = "before";
                        s.Log.Append(text);
                        Fiber.Yield();
                        text = s.Total.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        s.Log.Append(text);
                    }, new State());
                }
        """));

    [Test]
    public Task ReferenceLiveAroundLoopBackEdge_IsReported() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        var sb = new StringBuilder();
                        for (int i = 0; i < 10; i++)
                        {
                            sb.Append('x');
                            {|FBR1001:Fiber.Yield()|};
                        }
                    }, new State());
                }
        """));

    [Test]
    public Task ReferenceParameterOfSuspendingHelper_IsReported() => AnalyzeAsync(Code("""
                public static void Helper(List<int> items)
                {
                    {|FBR1001:Fiber.Sleep(TimeSpan.FromMilliseconds(1))|};
                    items.Add(1);
                }
        """ + BodyCalling("Helper(s.Items);")));

    [Test]
    public Task TransitiveMaySuspend_IsReportedAtTheCallOfTheUserMethod() => AnalyzeAsync(Code("""
                private static void Step() => Fiber.Yield();

                private static void TwoSteps() { Step(); Step(); }

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        string name = "fiber";
                        {|#0:TwoSteps()|};
                        s.Log.Append(name);
                    }, new State());
                }
        """),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("name", "string", "TwoSteps()"));

    [Test]
    public Task StructWithReferenceAndSpan_AreReported() => AnalyzeAsync(Code("""
                public static void Helper(int[] data)
                {
                    Holder h = new Holder { Name = "n", Count = 1 };
                    Span<int> span = data;
                    data = Array.Empty<int>();
                    {|#0:Fiber.Yield()|};
                    span[0] = h.Count + h.Name.Length + data.Length;
                }
        """ + BodyCalling("Helper(new int[1]);")),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("data", "int[]", "Fiber.Yield()"),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("h", "Holder", "Fiber.Yield()"),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("span", "Span<int>", "Fiber.Yield()"));

    [Test]
    public Task ThisUsedAfterSuspensionInInstanceMethod_IsReported() => AnalyzeAsync(Code("""
                public void Pump(Channel<int> channel)
                {
                    int v = {|#0:channel.Receive()|};
                    _items.Add(v);
                }
        """ + BodyCalling("new Worker().Pump(s.Channel);")),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("this", "Worker", "channel.Receive()"));

    [Test]
    public Task ReferenceDeadAfterSuspension_IsClean() => AnalyzeAsync(Code("""
                public static void Helper(State s, WaitGroup wg)
                {
                    s.Log.Append("waiting");
                    wg.Wait();
                }
        """ + BodyCalling("Helper(s, new WaitGroup());")));

    [Test]
    public Task ReferenceReadInCatchAfterSuspensionInTry_IsReported() => AnalyzeAsync(Code("""
                public static void Helper()
                {
                    string message = "failed";
                    try
                    {
                        {|FBR1001:Fiber.Yield()|};
                    }
                    catch (InvalidOperationException)
                    {
                        Console.WriteLine(message);
                    }
                }
        """ + BodyCalling("Helper();")));

    [Test]
    public Task RefStateParameter_IsAllowedOnlyInFiberBodies() => AnalyzeAsync(Code("""
                public static void Plain(ref State s)
                {
                    {|FBR1001:Fiber.Yield()|};
                    s.Total++;
                }

                [FiberBody]
                public static void Marked(ref State s)
                {
                    Fiber.Yield();
                    s.Total++;
                }

                public static void Body(ref State s)
                {
                    Fiber.Yield();
                    Marked(ref s);
                    Plain(ref s);
                    s.Total++;
                }

                public static void Run(FiberScheduler scheduler) => scheduler.Spawn(Body, new State());
        """));

    [Test]
    public Task OutArgumentOfSuspendingCall_IsClean() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        while (s.Channel.TryReceive(out int item, TimeSpan.FromSeconds(1)))
                        {
                            s.Items.Add(item);
                        }
                    }, new State());
                }
        """));

    [Test]
    public Task MaySuspendConstructor_IsASuspensionPoint() => AnalyzeAsync(Code("""
                public static int Take(Channel<int> channel)
                {
                    var log = new StringBuilder();
                    var ticket = {|#0:new Ticket(channel)|};
                    log.Append(ticket.Number);
                    return log.Length;
                }
        """ + BodyCalling("int n = Take(s.Channel); s.Total = n;")),
        Diagnostic("FBR1001").WithLocation(0).WithArguments("log", "StringBuilder", "new Ticket(channel)"));

    [Test]
    public Task RefStructStateOfFiberBody_IsAllowed() => AnalyzeAsync(Code("""
                public struct Counters { public int Count; public string? Name; }

                public static void Run(FiberScheduler scheduler)
                {
                    scheduler.Spawn(static (ref Counters c) =>
                    {
                        c.Name = "counter";
                        Fiber.Yield();
                        c.Count++;
                        int v = c.Count;
                        Fiber.Yield();
                        c.Count = v + 1;
                    }, new Counters());
                }
        """));
}
