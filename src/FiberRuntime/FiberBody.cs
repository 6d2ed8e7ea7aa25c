using System;

namespace FiberRuntime;

/// <summary>
/// A fiber body written in C#: straight-line code that runs on a fiber of a <see cref="FiberScheduler"/> and
/// may suspend (<see cref="Fiber.Yield"/>, channel operations, joins, wait groups) while its worker runs
/// other fibers.
/// </summary>
/// <remarks>
/// While a fiber is suspended the garbage collector cannot see its frames, so it neither keeps alive nor
/// updates anything they refer to. The rule: nothing of a managed type may be held in a local or parameter
/// from before a suspension to after it (the JIT's unoptimised code even reports dead locals, so do not
/// assign managed locals before a suspension at all). Keep what must survive in <paramref name="state"/>,
/// which the runtime stores where the GC neither moves nor loses it, and reach it through
/// <paramref name="state"/> again after every suspension. The body must be a static lambda or a static
/// method (captured variables would live in an object only the fiber's frames hold). The FiberRuntime
/// analyzers check these rules, and <see cref="FiberSchedulerOptions.VerifySuspensions"/> makes any breach
/// crash a test at once instead of corrupting the heap now and then.
/// </remarks>
/// <example>
/// <code>
/// sealed class Counter { public Channel&lt;long&gt; Input = null!; public long Total; }
///
/// Fiber fiber = scheduler.Spawn(static (ref Counter s) =>
/// {
///     while (s.Input.ReceiveOrClosed(out long v))     // parks this fiber, not the worker
///         s.Total += v;                               // state reached through s after each wait
/// }, new Counter { Input = channel });
/// fiber.Join();                                       // rethrows what the body threw
/// </code>
/// </example>
[FiberBody]
public delegate void FiberBody<TState>(ref TState state);

/// <summary>Marks a delegate type whose instances run as C# fiber bodies (read by the FiberRuntime analyzers).</summary>
[AttributeUsage(AttributeTargets.Delegate | AttributeTargets.Method, Inherited = false)]
public sealed class FiberBodyAttribute : Attribute
{
}

/// <summary>Marks a method that may suspend the calling fiber (read by the FiberRuntime analyzers).</summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor, Inherited = false)]
public sealed class MaySuspendAttribute : Attribute
{
}
