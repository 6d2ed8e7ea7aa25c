using System;
using System.Runtime.InteropServices;

namespace FiberRuntime.Cli.Native;

/// <summary>
/// Zeroed native memory for structs that fibers read and write. It must not move while fibers run, which
/// managed arrays could, and must outlive them: dispose it only after they have finished.
/// </summary>
internal sealed unsafe class NativeArray<T> : IDisposable where T : unmanaged
{
    private T* _items;

    public NativeArray(long length)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        Length = length;
        _items = (T*)NativeMemory.AllocZeroed((nuint)length, (nuint)sizeof(T));
    }

    public long Length { get; }

    public ref T this[long index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(_items == null, this);
            if ((ulong)index >= (ulong)Length)
                throw new ArgumentOutOfRangeException(nameof(index));
            return ref _items[index];
        }
    }

    /// <summary>The address of element <paramref name="index"/>, to pass as a fiber argument.</summary>
    public nint Address(long index)
    {
        _ = this[index];
        return (nint)(_items + index);
    }

    public void Dispose()
    {
        NativeMemory.Free(_items);
        _items = null;
    }
}
