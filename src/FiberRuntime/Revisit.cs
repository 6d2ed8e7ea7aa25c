using System.Runtime.InteropServices;

namespace FiberRuntime;

/// <summary>
/// Carries an object across a suspension of a C# fiber. A suspended fiber's frames are invisible to the
/// GC, so a reference kept there may be left pointing where the object used to be. A strong GC handle
/// keeps the object alive and follows it when it moves; the handle itself is a plain number, safe in any
/// frame. Take it back (once) after the suspension.
/// </summary>
internal readonly struct Revisit<T> where T : class
{
    private readonly GCHandle _handle;

    public Revisit(T value) => _handle = GCHandle.Alloc(value);

    /// <summary>The object, for use within one call that does not suspend; the handle stays.</summary>
    public T Peek() => (T)_handle.Target!;

    public T Take()
    {
        var value = (T)_handle.Target!;
        _handle.Free();
        return value;
    }
}
