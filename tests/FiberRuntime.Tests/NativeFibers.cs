using System.Runtime.InteropServices;

namespace FiberRuntime.Tests;

/// <summary>The native fiber bodies of tests/native_fibers, as function pointers for FiberScheduler.Spawn.</summary>
internal static unsafe partial class NativeFibers
{
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
        public delegate* unmanaged<nint, nint> YieldN;
        public delegate* unmanaged<nint, nint> EchoSocket;
        public delegate* unmanaged<nint, nint> PingPong;
    }

    /// <summary>What echo/produce/consume read (mirrors fbrtest_pipe); keep it in native memory while fibers use it.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Pipe
    {
        public nint In;
        public nint Out;
        public long Count;
        public long First;
    }

    private static readonly EntryTable s_entries = Load();

    private static EntryTable Load()
    {
        _ = Runtime.Version; // load libfiberrt first, so the fixtures bind to this very copy
        EntryTable table;
        fbrtest_entries(&table);
        return table;
    }

    [LibraryImport("fbrtest_fibers")]
    private static partial void fbrtest_entries(EntryTable* table);

    [LibraryImport("fbrtest_fibers")]
    internal static partial ulong fbrtest_recursion_checksum(ulong depth);

    /// <summary>
    /// Round trips with an echo_plus_one fiber serving ping/pong, driven by C callbacks as C# awaits with
    /// synchronous continuations are: the last answer (== rounds) or a negative error code.
    /// </summary>
    [LibraryImport("fbrtest_fibers")]
    internal static partial long fbrtest_callback_ping_pong(nint ping, nint pong, long rounds);

    /// <summary>Returns its argument plus one.</summary>
    public static delegate* unmanaged<nint, nint> AddOne => s_entries.AddOne;
    /// <summary>Pipe*: receives from In, sends value + 1 to Out until In closes; returns the count.</summary>
    public static delegate* unmanaged<nint, nint> EchoPlusOne => s_entries.EchoPlusOne;
    /// <summary>Pipe*: sends First .. First+Count-1 to Out; returns their sum.</summary>
    public static delegate* unmanaged<nint, nint> Produce => s_entries.Produce;
    /// <summary>Pipe*: receives from In until closed; returns the sum.</summary>
    public static delegate* unmanaged<nint, nint> Consume => s_entries.Consume;
    /// <summary>Sleeps arg milliseconds; returns arg.</summary>
    public static delegate* unmanaged<nint, nint> SleepMs => s_entries.SleepMs;
    /// <summary>fbr_chan*: waits until that channel closes; returns 7.</summary>
    public static delegate* unmanaged<nint, nint> WaitForClose => s_entries.WaitForClose;
    /// <summary>fbr_waitgroup*: marks it done.</summary>
    public static delegate* unmanaged<nint, nint> WaitGroupDone => s_entries.WaitGroupDone;
    /// <summary>Recurses arg frames of ~300 bytes; returns a checksum (see fbrtest_recursion_checksum).</summary>
    public static delegate* unmanaged<nint, nint> DeepRecursion => s_entries.DeepRecursion;
    /// <summary>Pipe*: sends 1 on Out once running, then waits until In closes; returns 7.</summary>
    public static delegate* unmanaged<nint, nint> AnnounceThenWaitForClose => s_entries.AnnounceThenWaitForClose;
    /// <summary>Yields arg times; returns arg.</summary>
    public static delegate* unmanaged<nint, nint> YieldN => s_entries.YieldN;
    /// <summary>fbr_io* (owned): echoes until the peer closes, then closes it; returns the bytes echoed.</summary>
    public static delegate* unmanaged<nint, nint> EchoSocket => s_entries.EchoSocket;
    /// <summary>Pipe*: sends 0 .. Count-1 to Out, each followed by a receive from In; returns the sum received.</summary>
    public static delegate* unmanaged<nint, nint> PingPong => s_entries.PingPong;

    /// <summary>Spawns fibers that block until <paramref name="gate"/> closes, and returns once every one of them runs.</summary>
    internal static System.Collections.Generic.List<Fiber> SpawnBlocked(FiberScheduler scheduler, Channel<byte> gate,
                                                                        Channel<long> started, NativePipe pipe, int count, string namePrefix)
    {
        pipe.Pointer->In = gate.NativeHandle;
        pipe.Pointer->Out = started.NativeHandle;
        var fibers = new System.Collections.Generic.List<Fiber>();
        for (int i = 0; i < count; i++)
            fibers.Add(scheduler.Spawn(AnnounceThenWaitForClose, pipe.Address, new FiberOptions { Name = $"{namePrefix}{i}" }));
        for (int i = 0; i < count; i++)
            started.Receive();
        return fibers;
    }

    /// <summary>The fixtures, for spawning from safe code (async tests cannot be unsafe).</summary>
    internal enum Entry { AddOne, EchoPlusOne, Produce, Consume, SleepMs, WaitForClose, WaitGroupDone, DeepRecursion, AnnounceThenWaitForClose, EchoSocket }

    private static delegate* unmanaged<nint, nint> Of(Entry entry) => entry switch
    {
        Entry.AddOne => AddOne,
        Entry.EchoPlusOne => EchoPlusOne,
        Entry.Produce => Produce,
        Entry.Consume => Consume,
        Entry.SleepMs => SleepMs,
        Entry.WaitForClose => WaitForClose,
        Entry.WaitGroupDone => WaitGroupDone,
        Entry.DeepRecursion => DeepRecursion,
        Entry.AnnounceThenWaitForClose => AnnounceThenWaitForClose,
        Entry.EchoSocket => EchoSocket,
        _ => throw new System.ArgumentOutOfRangeException(nameof(entry)),
    };

    internal static Fiber Spawn(FiberScheduler scheduler, Entry entry, nint argument, FiberOptions? options = null)
        => scheduler.Spawn(Of(entry), argument, options);

    internal static void SpawnDetached(FiberScheduler scheduler, Entry entry, nint argument)
        => scheduler.SpawnDetached(Of(entry), argument);

    /// <summary>A pipe in native memory, freed on dispose.</summary>
    internal sealed class NativePipe : System.IDisposable
    {
        public NativePipe(nint input = 0, nint output = 0, long count = 0, long first = 0)
        {
            Pointer->In = input;
            Pointer->Out = output;
            Pointer->Count = count;
            Pointer->First = first;
        }

        public Pipe* Pointer { get; } = (Pipe*)NativeMemory.AllocZeroed((nuint)sizeof(Pipe));
        public nint Address => (nint)Pointer;
        public void Dispose() => NativeMemory.Free(Pointer);
    }
}
