using System;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// Owns a native channel without counting the calls in flight on it: a call keeps this object reachable until
/// it returns (<see cref="Exit"/> is a <see cref="GC.KeepAlive"/>), so the finalizer can free the native object
/// only once no call, pending operation or select can reach it. A channel only ever used by one thread, and
/// disposed on that thread outside any call of its own, is freed by <see cref="Dispose"/> at once. Either way
/// Dispose ends use from .NET at once (ObjectDisposedException after) and refuses, as the native free would, a
/// channel that somebody still waits on.
/// </summary>
/// <remarks>
/// <see cref="NativeHandle"/>'s count costs two atomic instructions per call: 12 ns of a 26 ns TrySend, 17 ns of
/// a 150 ns C# ping-pong round trip with a native fiber. Channel operations are the calls that stream, so a
/// channel trades that for one plain read per call once a second thread has used it (as streaming channels
/// do): its native memory then goes when the garbage collector finds it unreachable, as a
/// System.Threading.Channels channel's does, and a large buffer counts towards the next collection as memory
/// pressure. Until then each call checks that it comes from the channel's one thread (not from a C# fiber,
/// which could be suspended inside the call), which lets a channel that never left its thread (a reply
/// channel created, used and disposed in one method) be freed at once: finalized, its life took 7x longer.
/// A call on the one thread can be in flight under its Dispose only if a completion callback (the only way
/// managed code runs inside a channel call) disposes it; Dispose leaves those to the finalizer.
/// </remarks>
internal sealed class CollectedHandle : IDisposable
{
    /// <summary>Buffers from this size on are reported to the GC while the channel lives.</summary>
    private const long PressureThreshold = 64 * 1024;
    private const int Shared = -1;

    private readonly nint _handle;
    private readonly Func<nint, int> _release;
    private readonly Func<nint, int> _checkRelease;
    private readonly long _pressure;
    private int _soleThread; // the managed thread id of every call so far, or Shared (for good)
    private int _disposed;

    /// <param name="handle">The native object, owned from here on.</param>
    /// <param name="release">Frees the native object, or refuses (a negative result) while it is waited on.</param>
    /// <param name="checkRelease">What <paramref name="release"/> would answer now, freeing nothing.</param>
    /// <param name="nativeBytes">Native memory the object holds, for the GC's accounting.</param>
    public CollectedHandle(nint handle, Func<nint, int> release, Func<nint, int> checkRelease, long nativeBytes)
    {
        _handle = handle;
        _release = release;
        _checkRelease = checkRelease;
        _soleThread = Environment.CurrentManagedThreadId;
        if (nativeBytes >= PressureThreshold)
        {
            _pressure = nativeBytes;
            GC.AddMemoryPressure(nativeBytes);
        }
    }

    ~CollectedHandle()
    {
        // A native owner that still uses the object (a fiber waiting on a channel it was handed) makes the
        // free refuse: the object is then left to it, as Dispose leaves it.
        _ = _release(_handle);
        if (_pressure != 0)
            GC.RemoveMemoryPressure(_pressure);
    }

    /// <summary>Whether <see cref="Dispose"/> has run.</summary>
    public bool IsClosed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The refusal when <see cref="Dispose"/> found the object still waited on, or 0.</summary>
    public int ReleaseResult { get; private set; }

    /// <summary>The handle, for native code the caller keeps in check.</summary>
    public nint DangerousGetHandle() => _handle;

    /// <summary>The handle for one call; ObjectDisposedException once disposed. Pair with <see cref="Exit"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public nint Enter(object owner)
    {
        if (_soleThread != Shared)
            CheckSoleThread();
        if (Volatile.Read(ref _disposed) != 0)
            ThrowDisposed(owner);
        return _handle;
    }

    /// <summary>Ends a call: until here the native object cannot be freed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => GC.KeepAlive(this);

    /// <summary>
    /// Ends use from .NET, and frees the native object if no call can be in flight. If somebody still waits
    /// on it, the native side keeps it (the finalizer will not free it) and <see cref="ReleaseResult"/> says
    /// why, as a refused free would.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        // After the fence above: a thread whose first call marks the channel shared later than this read
        // sees it disposed and makes no call.
        bool freeNow = Volatile.Read(ref _soleThread) == Environment.CurrentManagedThreadId &&
                       !AwaitSpin.InCompletion && !ManagedFibers.OnManagedFiber;
        int rc = freeNow ? _release(_handle) : _checkRelease(_handle);
        if (rc < 0)
            ReleaseResult = rc;
        if (freeNow || rc < 0)
        {
            GC.SuppressFinalize(this);
            if (_pressure != 0)
                GC.RemoveMemoryPressure(_pressure);
        }
    }

    private void CheckSoleThread()
    {
        if (_soleThread != Environment.CurrentManagedThreadId || ManagedFibers.OnManagedFiber)
            Interlocked.Exchange(ref _soleThread, Shared); // a full fence before the disposed check: see Dispose
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDisposed(object owner) => throw new ObjectDisposedException(owner.GetType().Name);
}
