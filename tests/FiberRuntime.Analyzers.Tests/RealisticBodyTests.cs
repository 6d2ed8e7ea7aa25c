using System.Threading.Tasks;
using NUnit.Framework;
using static FiberRuntime.Analyzers.Tests.Verify;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>A fiber body written the documented way, with a few slips mixed in.</summary>
[TestFixture]
public sealed class RealisticBodyTests
{
    [Test]
    public Task MixedBody_ReportsOnlyTheSlips() => AnalyzeAsync(Code("""
                public static void Run(FiberScheduler scheduler, State state)
                {
                    scheduler.Spawn(static (ref State s) =>
                    {
                        for (int i = 0; i < 1000; i++)
                        {
                            var buffer = new byte[64];
                            buffer[0] = (byte)i;
                            s.Total += buffer[0];
                            Fiber.Yield();
                        }

                        int v;
                        while ((v = s.Channel.Receive()) != 0)
                        {
                            s.Total += v;
                        }

                        if (s.Channel.TryReceive(out var x))
                        {
                            s.Total += x;
                        }

                        {|FBR1005:s|}.Total += s.Channel.Receive();
                        {|FBR1005:s.Log|}.Append(s.Channel.Receive());
                        string message = $"total {s.Total}";
                        Console.WriteLine(message);
                        var wg = new WaitGroup();
                        {|FBR1001:wg.Wait()|};
                        wg.Wait();
                    }, state);
                }
        """));
}
