using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;

namespace FiberRuntime.Analyzers.Tests;

/// <summary>Runs <see cref="FiberAnalyzer"/> over test code plus <see cref="Stubs"/>.</summary>
internal static class Verify
{
    /// <summary>
    /// Stand-ins for the FiberRuntime API the analyzer reasons about (matched by fully-qualified name). The two
    /// attributes are declared exactly as src/FiberRuntime should declare them.
    /// </summary>
    public const string Stubs = """
        #nullable enable
        using System;

        namespace FiberRuntime
        {
            /// <summary>Marks a delegate type whose lambdas and method groups run as fiber bodies, or a method that is one.</summary>
            [AttributeUsage(AttributeTargets.Delegate | AttributeTargets.Method, Inherited = false)]
            public sealed class FiberBodyAttribute : Attribute { }

            /// <summary>Marks a method that can suspend the calling fiber.</summary>
            [AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor, Inherited = false)]
            public sealed class MaySuspendAttribute : Attribute { }

            [FiberBody]
            public delegate void FiberBody<TState>(ref TState state);

            public sealed class FiberOptions { }

            public sealed class Fiber
            {
                [MaySuspend] public static void Yield() { }
                [MaySuspend] public static void Sleep(TimeSpan duration) { }
                [MaySuspend] public nint Join() => 0;
            }

            public sealed class Channel<T> where T : unmanaged
            {
                [MaySuspend] public void Send(T item) { }
                [MaySuspend] public T Receive() => default;
                [MaySuspend] public bool TryReceive(out T item, TimeSpan timeout) { item = default; return false; }
                public bool TryReceive(out T item) { item = default; return false; }
            }

            public sealed class Ticket
            {
                [MaySuspend] public Ticket(Channel<int> from) { from.Receive(); }
                public int Number => 1;
            }

            public sealed class WaitGroup
            {
                [MaySuspend] public void Wait() { }
            }

            public sealed class FiberScheduler
            {
                public Fiber Spawn<TState>(FiberBody<TState> body, TState state, FiberOptions? options = null) => new Fiber();
            }
        }
        """;

    private static readonly Lazy<MetadataReference[]> Framework = new(() =>
    {
        // The running runtime's own assemblies: no reference pack download, works offline.
        string dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        string tpa = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        return tpa.Split(Path.PathSeparator)
            .Where(p => string.Equals(Path.GetDirectoryName(p), dir, StringComparison.Ordinal))
            .Where(p => Path.GetFileName(p).StartsWith("System", StringComparison.Ordinal) || Path.GetFileName(p) == "netstandard.dll" || Path.GetFileName(p) == "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray();
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    public static DiagnosticResult Diagnostic(string id) => CSharpAnalyzerVerifier<FiberAnalyzer, DefaultVerifier>.Diagnostic(id);

    /// <summary>
    /// Checks that <paramref name="source"/> (with markup) gets exactly the expected diagnostics, FBR1006 left
    /// out: most tests are about one rule, and would otherwise all need the AggressiveOptimization attribute.
    /// </summary>
    public static Task AnalyzeAsync(string source, params DiagnosticResult[] expected) => AnalyzeAsync(source, withStubs: true, expected);

    public static Task AnalyzeAsync(string source, bool withStubs, params DiagnosticResult[] expected) =>
        AnalyzeAsync(source, withStubs, allRules: false, expected);

    /// <summary>As <see cref="AnalyzeAsync(string, DiagnosticResult[])"/>, with FBR1006 too.</summary>
    public static Task AnalyzeAllRulesAsync(string source, params DiagnosticResult[] expected) =>
        AnalyzeAsync(source, withStubs: true, allRules: true, expected);

    private static async Task AnalyzeAsync(string source, bool withStubs, bool allRules, DiagnosticResult[] expected)
    {
        var test = new CSharpAnalyzerTest<FiberAnalyzer, DefaultVerifier>
        {
            TestCode = source,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
        };
        if (!allRules)
        {
            test.DisabledDiagnostics.Add("FBR1006");
        }
        test.TestState.AdditionalReferences.AddRange(Framework.Value);
        if (withStubs)
        {
            test.TestState.Sources.Add(("Stubs.cs", Stubs));
        }

        test.ExpectedDiagnostics.AddRange(expected);
        await test.RunAsync(CancellationToken.None);
    }

    /// <summary>
    /// A member spawning a fiber body that runs <paramref name="statements"/>: the analyzer checks helpers only
    /// when a fiber body reaches them.
    /// </summary>
    public static string BodyCalling(string statements) => $$"""

                public static void StartFiber(FiberScheduler scheduler) => scheduler.Spawn(static (ref State s) =>
                {
                    {{statements}}
                }, new State());
        """;

    /// <summary>Wraps statements in a class with the usual usings and a State type.</summary>
    public static string Code(string members) => $$"""
        #nullable enable
        using System;
        using System.Collections.Generic;
        using System.Runtime.CompilerServices;
        using System.Text;
        using System.Threading;
        using System.Threading.Tasks;
        using FiberRuntime;

        namespace Demo
        {
            public sealed class State
            {
                public List<int> Items { get; } = new();
                public Channel<int> Channel { get; } = new();
                public int Total;
                public object Gate = new();
                public Lock Lock = new();
                public StringBuilder Log = new();
            }

            public struct Point { public int X; public int Y; }

            public struct Holder { public string Name; public int Count; }

            public class Worker
            {
                private readonly List<int> _items = new();

        {{members}}
            }
        }
        """;
}
