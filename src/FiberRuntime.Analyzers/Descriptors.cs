using Microsoft.CodeAnalysis;

namespace FiberRuntime.Analyzers;

/// <summary>The diagnostics of the FiberRuntime analyzer (docs/analyzers/FBR100x.md in the repository).</summary>
internal static class Descriptors
{
    private const string Category = "FiberRuntime.Usage";
    // Where docs/analyzers/FBR100x.md are published: adjust when the repository has its public home.
    private const string HelpBase = "https://github.com/FiberRuntime/FiberRuntime/blob/main/docs/analyzers/";

    // Every rule needs the whole compilation (which methods can suspend is computed transitively), so all are
    // reported when the compilation ends: on build and in full-solution analysis.
    private static DiagnosticDescriptor Rule(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true,
            description: description, helpLinkUri: HelpBase + id + ".md", customTags: WellKnownDiagnosticTags.CompilationEnd);

    public static readonly DiagnosticDescriptor ManagedLocalAcrossSuspension = Rule(
        "FBR1001",
        "Managed variable live across a fiber suspension",
        "'{0}' ({1}) holds a managed reference across the suspension at '{2}': the GC cannot see a suspended fiber's frames, so the reference is stale when the fiber resumes. Keep it in the fiber's state object and reach it through the state parameter after the suspension, or assign it afresh after the suspension.",
        "A local or parameter of a reference type, of a struct containing references, a ref, or a Span, that is assigned before a suspension point and used after it, lives in a suspended fiber's frame where the GC cannot see or update it.");

    public static readonly DiagnosticDescriptor SuspensionInProtectedRegion = Rule(
        "FBR1002",
        "Fiber suspension inside catch, finally or a lock",
        "'{0}' can suspend the fiber inside {1}: {2}. Move the suspension out of it.",
        "Suspending inside a catch or finally block crashes CoreCLR (exception-handling state belongs to the OS thread); suspending while holding a lock breaks mutual exclusion, because lock ownership belongs to the OS thread that every fiber on the worker shares.");

    public static readonly DiagnosticDescriptor CapturingSuspendingFunction = Rule(
        "FBR1003",
        "Fiber code captures a variable",
        "'{0}' is captured by {1}: the closure object is reachable only from the fiber's frames, which the GC cannot see while the fiber is suspended. Make the function static and keep what it needs in the fiber's state object.",
        "A lambda or local function that runs on a fiber and can suspend must not capture variables (or 'this'): the closure is a managed object referenced only by the suspended frames. A fiber body lambda should be static: 'static (ref State s) => ...'.");

    public static readonly DiagnosticDescriptor AwaitOnFiber = Rule(
        "FBR1004",
        "await in fiber code",
        "'await' in {0}, which runs on a fiber: async code on a fiber is not supported, the continuation runs on another thread and off the fiber. Use the blocking fiber operations (Receive, Join, Wait) instead.",
        "A fiber body or a method that can suspend the fiber must not await: the continuation does not run on the fiber, and the state machine's objects are referenced from fiber frames.");

    public static readonly DiagnosticDescriptor ManagedTemporaryAcrossSuspension = Rule(
        "FBR1005",
        "Managed value held across a suspension inside an expression",
        "{0} is evaluated before the suspension at '{1}' and used after it, so a managed reference stays in a hidden temporary of the suspended fiber's frame, where the GC cannot see it. {2}.",
        "In 'state.Items.Add(ch.Receive())' or 'state.Total = ch.Receive()', the object whose member is used is loaded before the call suspends and used after it resumes: a managed reference held in a hidden temporary of the suspended frame. The same holds for the enumerator of a foreach loop whose body suspends.");

    public static readonly DiagnosticDescriptor UnoptimisedFiberCode = Rule(
        "FBR1006",
        "Fiber code not marked AggressiveOptimization",
        "Mark {0} [MethodImpl(MethodImplOptions.AggressiveOptimization)]: it runs on a fiber, and under the JIT its unoptimised (tier-0) code reports every reference local and temporary as live for the whole method, so a dead reference from before a suspension is handed to the GC after it.",
        "Under the JIT a method first runs as unoptimised tier-0 code, whose GC information reports every reference local and temporary as live for the whole method. A reference that was only used before a suspension is then still reported after the fiber resumes, pointing where its object used to be. Fiber bodies, and the methods, local functions and lambdas that can suspend and are reached from one, must be compiled optimised from the start: [MethodImpl(MethodImplOptions.AggressiveOptimization)]. The runtime refuses an unmarked fiber body at spawn under the JIT, but cannot check the helpers it calls.");
}
