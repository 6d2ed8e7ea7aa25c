using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace FiberRuntime.Bench;

/// <summary>
/// A thread that runs everything posted to it, in order, as its <see cref="SynchronizationContext"/>. Async code
/// started on it continues on it: System.Threading.Channels posts an awaiting Task's continuation to the context
/// it was awaited in, so two Tasks started here ping-pong without ever crossing CPUs. On the thread pool the
/// same two Tasks sometimes share a pool thread and sometimes bounce between two; this pins down the first case.
/// </summary>
internal sealed class OneThreadContext : SynchronizationContext, IDisposable
{
    // Posts from the loop's own thread (every continuation in a ping-pong) need no synchronisation.
    private readonly Queue<(SendOrPostCallback Callback, object? State)> _fromLoop = new();
    private readonly ConcurrentQueue<(SendOrPostCallback Callback, object? State)> _fromOthers = new();
    private readonly SemaphoreSlim _othersPosted = new(0);
    private readonly Thread _thread;
    private volatile bool _stopping;

    public OneThreadContext(string name)
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        if (Thread.CurrentThread == _thread)
        {
            _fromLoop.Enqueue((d, state));
            return;
        }
        _fromOthers.Enqueue((d, state));
        _othersPosted.Release();
    }

    public override void Send(SendOrPostCallback d, object? state) =>
        throw new NotSupportedException("OneThreadContext only queues work (Post)");

    public override SynchronizationContext CreateCopy() => this;

    /// <summary>Runs <paramref name="start"/> on the loop's thread and returns the Task it starts there.</summary>
    public Task<T> Run<T>(Func<Task<T>> start) => Start(start).Unwrap();

    /// <inheritdoc cref="Run{T}(Func{Task{T}})"/>
    public Task Run(Func<Task> start) => Start(start).Unwrap();

    private Task<TTask> Start<TTask>(Func<TTask> start) where TTask : Task
    {
        var started = new TaskCompletionSource<TTask>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(_ =>
        {
            try { started.SetResult(start()); }
            catch (Exception e) { started.SetException(e); }
        }, null);
        return started.Task;
    }

    private void Loop()
    {
        SetSynchronizationContext(this);
        while (!_stopping)
        {
            while (_fromLoop.TryDequeue(out var work))
                work.Callback(work.State);
            if (_fromOthers.TryDequeue(out var posted))
                posted.Callback(posted.State);
            else
                _othersPosted.Wait();
        }
    }

    public void Dispose()
    {
        Post(_ => _stopping = true, null);
        _thread.Join();
        _othersPosted.Dispose();
    }
}
