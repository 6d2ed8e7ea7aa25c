using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// Owns one native object. A call takes a reference for its duration (<see cref="Enter"/>/<see cref="Exit"/>),
/// so that Dispose on another thread cannot free the object under a running call: the native free runs
/// when the last call leaves. An object never disposed is freed by the finalizer.
/// </summary>
/// <remarks>
/// What SafeHandle does, in one atomic add per <see cref="Enter"/> and per <see cref="Exit"/>, both inlined:
/// SafeHandle's AddRef and Release (compare-and-swap loops behind calls) were a tenth of a C# ping-pong round
/// trip with a native fiber. The calls in flight and "disposed" share one int: Dispose adds
/// <see cref="DisposedBias"/> once, so a disposed handle reads negative and what remains above the bias is
/// still the number of calls in flight.
/// </remarks>
internal sealed class NativeHandle : IDisposable
{
    private const int DisposedBias = int.MinValue;
    private readonly nint _handle;
    private readonly Func<nint, int> _release;
    private int _state;
    private int _disposed;
    private int _released;

    public NativeHandle(nint handle, Func<nint, int> release)
    {
        _handle = handle;
        _release = release;
    }

    ~NativeHandle() => ReleaseOnce();

    /// <summary>Whether <see cref="Dispose"/> has run (the native free may still wait for calls in flight).</summary>
    public bool IsClosed => Volatile.Read(ref _state) < 0;

    /// <summary>The release function's result, when the native free refused (for example a channel still waited on).</summary>
    public int ReleaseResult { get; private set; }

    /// <summary>The handle, without a reference: only for handing it to native code the caller keeps in check.</summary>
    public nint DangerousGetHandle() => _handle;

    /// <summary>The handle, referenced until <see cref="Exit"/>; ObjectDisposedException once disposed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint Enter(object owner)
    {
        if (Interlocked.Increment(ref _state) < 0)
            LeaveDisposed(owner);
        return _handle;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        if (Interlocked.Decrement(ref _state) == DisposedBias)
            ReleaseOnce();
    }

    /// <summary>Closes the handle; the native object is freed now, or by the last call still in flight.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        GC.SuppressFinalize(this);
        if (Interlocked.Add(ref _state, DisposedBias) == DisposedBias)
            ReleaseOnce();
    }

    /// <summary>Closes the handle without freeing the object: its ownership went elsewhere.</summary>
    public void SetHandleAsInvalid()
    {
        Volatile.Write(ref _released, 1);
        Dispose();
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LeaveDisposed(object owner)
    {
        Exit();
        throw new ObjectDisposedException(owner.GetType().Name);
    }

    private void ReleaseOnce()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
            ReleaseResult = _release(_handle);
    }
}
