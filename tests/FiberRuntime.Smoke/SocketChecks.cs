using System;
using System.Linq;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading;
using FiberRuntime.Tests;

namespace FiberRuntime.Smoke;

/// <summary>
/// Fiber-aware sockets in this binary (JIT or NativeAOT): a C# fiber accept loop with one C# fiber per
/// connection, and native fibers serving connections accepted from C#; clients on threads check every byte.
/// </summary>
internal static class SocketChecks
{
    private const int Connections = 50;

    public static void RunAll(Report report)
    {
        report.Run("sockets-csharp-fiber-per-connection", CsharpServer);
        report.Run("sockets-native-fiber-per-connection", NativeServer);
    }

    private sealed class Server
    {
        public FiberSocket Listener = null!;
        public FiberScheduler Scheduler = null!;
        public int ToAccept;
        public Fiber[] Handlers = [];
        public Connection[] Connections = [];
    }

    private sealed class Connection
    {
        public FiberSocket Socket = null!;
        public byte[] Buffer = new byte[2048];
        public long Echoed;
    }

    private static void CsharpServer()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });
        using FiberSocket listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0);
        var server = new Server
        {
            Listener = listener, Scheduler = scheduler, ToAccept = Connections,
            Handlers = new Fiber[Connections], Connections = new Connection[Connections],
        };
        Fiber accepter = scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Server s) =>
        {
            for (int i = 0; i < s.ToAccept; i++)
            {
                // Accept first, then store: `s.Connections[i] = ...Accept()` would hold the array across the wait.
                FiberSocket accepted = s.Listener.Accept();
                s.Connections[i] = new Connection { Socket = accepted };
                s.Handlers[i] = s.Scheduler.Spawn([MethodImpl(MethodImplOptions.AggressiveOptimization)] static (ref Connection c) =>
                {
                    int n;
                    while ((n = c.Socket.Receive(c.Buffer, 0, c.Buffer.Length)) > 0)
                    {
                        c.Socket.Send(c.Buffer, 0, n);
                        c.Echoed += n;
                    }
                    c.Socket.Dispose();
                }, s.Connections[i]);
            }
        }, server);
        long sent = RunClients(listener.LocalPort);
        accepter.Join();
        foreach (Fiber f in server.Handlers)
            f.Join();
        Expect.Equal(sent, server.Connections.Sum(c => c.Echoed), "bytes the C# fibers echoed");
    }

    private static void NativeServer()
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2 });
        using FiberSocket listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0);
        long sent = 0;
        var clients = new Thread(() => sent = RunClients(listener.LocalPort));
        clients.Start();
        var fibers = Enumerable.Range(0, Connections)
            .Select(_ => NativeFibers.Spawn(scheduler, NativeFibers.Entry.EchoSocket,
                                            listener.Accept(TimeSpan.FromSeconds(30)).ReleaseNativeHandle()))
            .ToArray();
        clients.Join();
        Expect.Equal((nint)sent, (nint)fibers.Sum(f => (long)f.Join()), "bytes the native fibers echoed");
    }

    /// <summary>Clients on threads, each sending pseudo-random bytes and checking the echo; returns bytes sent.</summary>
    private static long RunClients(int port)
    {
        long total = 0;
        var threads = Enumerable.Range(0, Connections).Select(i => new Thread(() =>
        {
            using FiberSocket socket = FiberSocket.ConnectTcp(IPAddress.Loopback, port, TimeSpan.FromSeconds(30));
            var random = new Random(i);
            var data = new byte[random.Next(1, 20000)];
            random.NextBytes(data);
            socket.Send(data.AsSpan());
            var back = new byte[data.Length];
            for (int got = 0; got < back.Length;)
            {
                int n = socket.Receive(back.AsSpan(got));
                if (n == 0)
                    throw new InvalidOperationException("the server closed early");
                got += n;
            }
            if (!back.AsSpan().SequenceEqual(data))
                throw new InvalidOperationException($"client {i}: the echo differs");
            Interlocked.Add(ref total, data.Length);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return total;
    }
}
