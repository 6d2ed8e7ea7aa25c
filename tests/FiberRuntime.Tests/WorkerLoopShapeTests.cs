using System.Linq;
using System.Reflection;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// The worker loop's shape is part of what keeps C# fibers safe: it must resume them through a P/Invoke the JIT
/// inlines. Inside a try block the 64-bit JIT calls an IL stub instead, which unlinks its transition frame only
/// in its epilogue: a GC that stopped the worker there walked the suspended fiber's frame and crashed (facts §4;
/// ~4% of runs of the churn test). That crash is too rare to catch in one run, so the shape is checked here.
/// </summary>
public class WorkerLoopShapeTests
{
    private static MethodInfo Loop()
        => typeof(ManagedFibers).GetMethod("RunWorkerLoop", BindingFlags.NonPublic | BindingFlags.Static)
           ?? throw new AssertionException("ManagedFibers.RunWorkerLoop is gone: the loop that resumes C# fibers moved");

    [Test]
    public void The_loop_that_resumes_fibers_has_no_exception_handling()
    {
        MethodBody body = Loop().GetMethodBody()!;
        Assert.That(body.ExceptionHandlingClauses, Is.Empty,
            "a try/catch/finally around fbr_worker_resume_next makes the JIT call it through an IL stub");
    }

    [Test]
    public void The_loop_is_never_inlined_into_its_caller_s_try_block()
    {
        Assert.That(Loop().MethodImplementationFlags & MethodImplAttributes.NoInlining, Is.EqualTo(MethodImplAttributes.NoInlining));
    }

    [Test]
    public void The_loop_itself_calls_fbr_worker_resume_next()
    {
        MethodInfo loop = Loop();
        byte[] il = loop.GetMethodBody()!.GetILAsByteArray()!;
        // Every `call` (0x28) with its metadata token, resolved: the native resume must be called from here.
        var callees = Enumerable.Range(0, il.Length - 4)
            .Where(i => il[i] == 0x28)
            .Select(i => TryResolve(loop.Module, System.BitConverter.ToInt32(il, i + 1)))
            .Where(m => m is not null)
            .Select(m => m!.Name)
            .ToList();
        Assert.That(callees, Does.Contain("fbr_worker_resume_next"));
    }

    private static MethodBase? TryResolve(Module module, int token)
    {
        try
        {
            return module.ResolveMethod(token);
        }
        catch (System.ArgumentException)
        {
            return null; // a byte that only looked like a call opcode
        }
    }
}
