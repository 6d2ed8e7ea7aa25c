using System;
using System.Runtime.InteropServices;

namespace FiberRuntime;

/// <summary>
/// Owns one native object. A call takes a reference for its duration (<see cref="Enter"/>/<see cref="Exit"/>),
/// so that Dispose on another thread cannot free the object under a running call: the native free runs
/// when the last call leaves.
/// </summary>
internal sealed class NativeHandle : SafeHandle
{
    private readonly Func<nint, int> _release;

    public NativeHandle(nint handle, Func<nint, int> release) : base(0, ownsHandle: true)
    {
        _release = release;
        SetHandle(handle);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The handle, referenced until <see cref="Exit"/>; ObjectDisposedException once disposed.</summary>
    public nint Enter(object owner)
    {
        bool added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            throw new ObjectDisposedException(owner.GetType().Name);
        }
        return handle;
    }

    public void Exit() => DangerousRelease();

    /// <summary>The release function's result, when the native free refused (for example a channel still waited on).</summary>
    public int ReleaseResult { get; private set; }

    protected override bool ReleaseHandle()
    {
        ReleaseResult = _release(handle);
        return ReleaseResult == Interop.FBR_OK;
    }
}
