using System.Runtime.InteropServices;

namespace FiberRuntime.Cli.Native;

/// <summary>
/// The fiber bodies of native/workloads (fbr_workloads.h). C# cannot run on a fiber stack yet, so every
/// fiber this tool spawns is one of these C functions; fbrw_entries hands over all their addresses in
/// one call, which works alike for the .so (JIT) and the static library inside the NativeAOT binary.
/// </summary>
internal static unsafe partial class Workloads
{
    /// <summary>Bytes of one frame of a dive: a depth of N frames needs about N KiB of stack.</summary>
    public const int FrameBytes = 1024;

    // Field order is fbrw_entry_table's.
    [StructLayout(LayoutKind.Sequential)]
    private struct EntryTable
    {
        public delegate* unmanaged<nint, nint> Park;
        public delegate* unmanaged<nint, nint> Dive;
        public delegate* unmanaged<nint, nint> PingPong;
        public delegate* unmanaged<nint, nint> SpawnJoin;
        public delegate* unmanaged<nint, nint> Churn;
        public delegate* unmanaged<nint, nint> Overflow;
        public delegate* unmanaged<nint, nint> Serve;
    }

    private static readonly EntryTable s_entries = Load();

    private static EntryTable Load()
    {
        // Under the JIT libfbr_workloads.so needs libfiberrt.so.0: loading the binding's copy first lets
        // the dynamic loader match it by soname rather than search for one.
        _ = Runtime.Version;
        EntryTable table;
        fbrw_entries(&table);
        return table;
    }

    [LibraryImport("fbr_workloads")]
    private static partial void fbrw_entries(EntryTable* table);

    [LibraryImport("fbr_workloads")]
    private static partial long fbrw_dive_on_thread(long depth, ulong seed);

    public static delegate* unmanaged<nint, nint> Park => s_entries.Park;
    public static delegate* unmanaged<nint, nint> Dive => s_entries.Dive;
    public static delegate* unmanaged<nint, nint> PingPong => s_entries.PingPong;
    public static delegate* unmanaged<nint, nint> SpawnJoin => s_entries.SpawnJoin;
    public static delegate* unmanaged<nint, nint> Churn => s_entries.Churn;
    public static delegate* unmanaged<nint, nint> Overflow => s_entries.Overflow;
    public static delegate* unmanaged<nint, nint> Serve => s_entries.Serve;

    /// <summary>The dive's recursion on the calling thread's own stack; negative: corrupted frames.</summary>
    public static long DiveOnThread(long depth, ulong seed) => fbrw_dive_on_thread(depth, seed);
}

/// <summary>fbrw_park_group.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ParkGroup
{
    public nint Started;
    public nint Release;
}

/// <summary>fbrw_dive.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct DiveData
{
    public long Depth;
    public ulong Seed;
    public long YieldEvery;
    public nint Done;
    public long VerifiedFrames;
    public long CorruptedFrames;
    public ulong CommittedBytes;
    public ulong GrowthFaults;
    public int LastWorker;
    public int WorkersSeen;

    /// <summary>Every frame from <see cref="Depth"/> down to 0 came back intact.</summary>
    public readonly bool Intact => CorruptedFrames == 0 && VerifiedFrames == Depth + 1;
}

/// <summary>fbrw_ping_pong.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PingPongData
{
    public long Rounds;
    public long ElapsedNs;
    public long Errors;
}

/// <summary>fbrw_spawn_join.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SpawnJoinData
{
    public long Count;
    public long ElapsedNs;
    public long Errors;
}

/// <summary>fbrw_churn.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ChurnData
{
    public long Yields;
    public nint Done;
    public ulong Checksum;
}

/// <summary>fbrw_server: the native accept loop's input and its counters (updated atomically as it runs).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ServerData
{
    public nint Listener;
    public int Http;
    public int Reserved;
    public long IdleTimeoutNs;
    public long Connections;
    public long Requests;
    public long BytesIn;
    public long BytesOut;
    public long Errors;
    public nint ConnsLock;
    public nint Conns;
    public nint Handlers;
}
