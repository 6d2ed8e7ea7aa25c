using System;
using System.Threading.Tasks;

namespace FiberRuntime.Smoke;

/// <summary>A check's own verdict, as opposed to an exception the code under test threw.</summary>
internal sealed class CheckFailedException : Exception
{
    public CheckFailedException(string message) : base(message) { }
    public CheckFailedException() { }
    public CheckFailedException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Runs checks and prints one line each: "PASS name" or "FAIL name: why".</summary>
internal sealed class Report
{
    // Generous: the same checks run under qemu, where everything is some ten times slower.
    private static readonly TimeSpan s_limit = TimeSpan.FromSeconds(120);

    public int Passed { get; private set; }
    public int Failed { get; private set; }

    public void Run(string name, Action body) => Run(name, () =>
    {
        body();
        return Task.CompletedTask;
    });

    /// <summary>
    /// Runs one check on a thread-pool thread, so a check that hangs is reported as a failure and the
    /// others still run (the process exits at the end without waiting for it).
    /// </summary>
    public void Run(string name, Func<Task> body)
    {
        string? failure = null;
        try
        {
            Task task = Task.Run(body);
            if (!task.Wait(s_limit))
                failure = $"did not finish within {s_limit.TotalSeconds:0} s";
        }
        catch (AggregateException e)
        {
            failure = Describe(e.InnerException ?? e);
        }
        Record(name, failure);
    }

    /// <summary>Reports a check that was run elsewhere (on a particular thread).</summary>
    public void Record(string name, string? failure)
    {
        if (failure is null)
        {
            Passed++;
            Console.WriteLine($"PASS {name}");
        }
        else
        {
            Failed++;
            Console.WriteLine($"FAIL {name}: {failure.ReplaceLineEndings(" | ")}");
        }
    }

    public static string Describe(Exception e) =>
        e is CheckFailedException ? e.Message : $"{e.GetType().FullName}: {e.Message}";
}

/// <summary>Assertions that throw <see cref="CheckFailedException"/>.</summary>
internal static class Expect
{
    public static void True(bool condition, string message)
    {
        if (!condition)
            throw new CheckFailedException(message);
    }

    public static void Equal<T>(T expected, T actual, string what)
    {
        if (!Equals(expected, actual))
            throw new CheckFailedException($"{what}: expected {expected}, got {actual}");
    }

    public static TException Throws<TException>(Action action, string what) where TException : Exception
    {
        try
        {
            action();
        }
        catch (TException e)
        {
            return e;
        }
        catch (Exception e)
        {
            throw new CheckFailedException($"{what}: expected {typeof(TException).FullName}, got {e.GetType().FullName}: {e.Message}");
        }
        throw new CheckFailedException($"{what}: expected {typeof(TException).FullName}, nothing was thrown");
    }

    public static async Task<TException> ThrowsAsync<TException>(Func<Task> action, string what) where TException : Exception
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (TException e)
        {
            return e;
        }
        catch (Exception e)
        {
            throw new CheckFailedException($"{what}: expected {typeof(TException).FullName}, got {e.GetType().FullName}: {e.Message}");
        }
        throw new CheckFailedException($"{what}: expected {typeof(TException).FullName}, nothing was thrown");
    }
}
