using System;
using System.Threading;

namespace FiberRuntime;

/// <summary>
/// The race of an operation that native code ends through a callback (<see cref="PendingOperation"/>,
/// <see cref="SelectOperation"/>), settled in one place.
/// </summary>
/// <remarks>
/// Three parties can race: the starter (which learns the native handle only when the start call returns),
/// the completion callback (any thread: a worker, a sending thread, a canceller) and the cancellation
/// callback. Two flags settle it: whichever of starter and completion comes second finishes the operation,
/// and finishing first unregisters the cancellation (which waits out a cancel in flight) and only then
/// releases the native handle, so a cancel never touches a released handle. Kept as a mutable field of its
/// owner: never copy it.
/// </remarks>
internal struct CompletionRace
{
    private const int StartedFlag = 1, CompletedFlag = 2;
    private nint _op;
    private int _flags;
    private CancellationTokenRegistration _registration;

    /// <summary>The native handle, for a cancel (0 if none was wanted).</summary>
    public readonly nint Handle => _op;

    /// <summary>Readies the race for another operation.</summary>
    public void Reset()
    {
        _op = 0;
        _flags = 0;
    }

    /// <summary>
    /// The start call returned FBR_PENDING with <paramref name="op"/> (0 if no handle was wanted): registers
    /// <paramref name="cancel"/> with <paramref name="token"/>; true if the completion came first, and the
    /// caller must finish now.
    /// </summary>
    public bool Started(nint op, Action<object?> cancel, object owner, CancellationToken token)
    {
        _op = op;
        if (token.CanBeCanceled)
            _registration = token.UnsafeRegister(cancel, owner);
        return (Interlocked.Or(ref _flags, StartedFlag) & CompletedFlag) != 0;
    }

    /// <summary>The completion callback came: true if the start call has returned, and the callback must finish.</summary>
    public bool Completed() => (Interlocked.Or(ref _flags, CompletedFlag) & StartedFlag) != 0;

    /// <summary>The first step of finishing: no cancel runs after it, and the handle is released.</summary>
    public unsafe void Disarm(delegate*<nint, int> release)
    {
        _registration.Dispose();
        _registration = default;
        if (_op != 0)
            _ = release(_op); // cannot fail: the handle is ours and still held
        _op = 0;
    }
}
