using System.Runtime.InteropServices;

namespace FiberRuntime.Smoke;

/// <summary>
/// The fiber bodies of tests/native_fibers. C# cannot be a fiber body yet, so every fiber here is one
/// of these C functions. One call, fbrtest_entries, hands over all their addresses: that works the same
/// whether the library is a .so (JIT) or linked into the NativeAOT binary (DirectPInvoke).
/// </summary>
internal static unsafe partial class NativeBodies
{
    // Field order is fbrtest_entry_table's in native_fibers.c.
    [StructLayout(LayoutKind.Sequential)]
    private struct EntryTable
    {
        public delegate* unmanaged<nint, nint> AddOne;
        public delegate* unmanaged<nint, nint> EchoPlusOne;
        public delegate* unmanaged<nint, nint> Produce;
        public delegate* unmanaged<nint, nint> Consume;
        public delegate* unmanaged<nint, nint> SleepMs;
        public delegate* unmanaged<nint, nint> WaitForClose;
        public delegate* unmanaged<nint, nint> WaitGroupDone;
        public delegate* unmanaged<nint, nint> DeepRecursion;
        public delegate* unmanaged<nint, nint> AnnounceThenWaitForClose;
        public delegate* unmanaged<nint, nint> YieldN; // unused here, but fbrtest_entries fills the whole table
    }

    private static readonly EntryTable s_entries = LoadEntries();

    private static EntryTable LoadEntries()
    {
        // Under the JIT libfbrtest_fibers.so needs libfiberrt.so.0; loading the binding's copy first
        // lets the dynamic loader match it by soname instead of searching for another one.
        _ = Runtime.Version;
        EntryTable table;
        fbrtest_entries(&table);
        return table;
    }

    [LibraryImport("fbrtest_fibers")]
    private static partial void fbrtest_entries(EntryTable* table);

    private static delegate* unmanaged<nint, nint> Entry(Body body) => body switch
    {
        Body.AddOne => s_entries.AddOne,
        Body.EchoPlusOne => s_entries.EchoPlusOne,
        Body.Produce => s_entries.Produce,
        Body.Consume => s_entries.Consume,
        Body.SleepMs => s_entries.SleepMs,
        Body.WaitGroupDone => s_entries.WaitGroupDone,
        Body.DeepRecursion => s_entries.DeepRecursion,
        Body.AnnounceThenWaitForClose => s_entries.AnnounceThenWaitForClose,
        _ => throw new System.ArgumentOutOfRangeException(nameof(body), body, "no such fiber body"),
    };

    // Function pointers need an unsafe context, which async methods cannot be; the checks name bodies instead.

    /// <summary>Spawns <paramref name="body"/>(<paramref name="argument"/>) as a joinable fiber.</summary>
    public static Fiber SpawnNative(this FiberScheduler scheduler, Body body, nint argument, FiberOptions? options = null) =>
        scheduler.Spawn(Entry(body), argument, options);

    /// <summary>Spawns <paramref name="body"/>(<paramref name="argument"/>) as a fiber that frees itself.</summary>
    public static void SpawnNativeDetached(this FiberScheduler scheduler, Body body, nint argument) =>
        scheduler.SpawnDetached(Entry(body), argument);
}

/// <summary>The bodies in tests/native_fibers/native_fibers.c.</summary>
internal enum Body
{
    /// <summary>arg → arg + 1.</summary>
    AddOne,
    /// <summary>Pipe*: receives v from In and sends v + 1 to Out until In closes; returns how many it echoed.</summary>
    EchoPlusOne,
    /// <summary>Pipe*: sends First .. First + Count - 1 to Out (no close); returns their sum.</summary>
    Produce,
    /// <summary>Pipe*: receives from In until it is closed; returns the sum.</summary>
    Consume,
    /// <summary>Sleeps arg milliseconds (parking the fiber); returns arg.</summary>
    SleepMs,
    /// <summary>fbr_waitgroup*: marks it done.</summary>
    WaitGroupDone,
    /// <summary>Recurses arg frames of about 300 bytes each.</summary>
    DeepRecursion,
    /// <summary>Pipe*: sends 1 to Out once it runs, then waits until In closes; returns 7.</summary>
    AnnounceThenWaitForClose,
}

/// <summary>fbrtest_pipe: the two channels (and counts) a pipe body works on.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PipeData
{
    public nint In;
    public nint Out;
    public long Count;
    public long First;
}

/// <summary>A <see cref="PipeData"/> in native memory, which must outlive the fibers that read it.</summary>
internal sealed unsafe class Pipe : System.IDisposable
{
    private readonly PipeData* _data = (PipeData*)NativeMemory.AllocZeroed((nuint)sizeof(PipeData));

    public Pipe(nint input, nint output, long count = 0, long first = 0)
    {
        _data->In = input;
        _data->Out = output;
        _data->Count = count;
        _data->First = first;
    }

    /// <summary>The fiber argument.</summary>
    public nint Address => (nint)_data;

    public void Dispose() => NativeMemory.Free(_data);
}
