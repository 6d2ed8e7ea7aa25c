using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using NUnit.Framework;

namespace FiberRuntime.Tests;

/// <summary>
/// FiberSocket from C# fiber bodies, from native fibers spawned from C#, and from plain threads. Fiber
/// bodies keep the socket and the buffers in their state, as the rules say.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public class FiberSocketTests(bool verify)
{
    private FiberScheduler _scheduler = null!;

    [SetUp]
    public void StartScheduler()
        => _scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = 2, VerifySuspensions = verify });

    [TearDown]
    public void StopScheduler() => _scheduler.Dispose();

    // arm64 runs under qemu here, where every system call is emulated.
    private static int Connections => RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 40 : 400;


    // ---- a C# echo server: one C# fiber per connection -------------------------------------------

    private sealed class Server
    {
        public FiberSocket Listener = null!;
        public FiberScheduler Scheduler = null!;
        public List<Fiber> Handlers = [];
        public List<Connection> Connections = [];
        public long Accepted;
        public Exception? AcceptEnded;
    }

    private sealed class Connection
    {
        public FiberSocket Socket = null!;
        public byte[] Buffer = new byte[4096];
        public long Echoed;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AcceptLoop(ref Server s)
    {
        try
        {
            for (;;)
            {
                FiberSocket accepted = s.Listener.Accept();
                // Straight to the new fiber's state: nothing managed stays in this frame across the next Accept.
                var connection = new Connection { Socket = accepted };
                s.Connections.Add(connection);
                s.Handlers.Add(s.Scheduler.Spawn(EchoBody, connection));
                s.Accepted++;
            }
        }
        catch (OperationCanceledException e)
        {
            s.AcceptEnded = e;
        }
    }

    private static readonly FiberBody<Connection> EchoBody = Echo;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Echo(ref Connection c)
    {
        for (;;)
        {
            int n = c.Socket.Receive(c.Buffer, 0, c.Buffer.Length);
            if (n == 0)
                break;
            c.Socket.Send(c.Buffer, 0, n);
            c.Echoed += n;
        }
        c.Socket.Dispose();
    }

    /// <summary>A client on a thread: sends pseudo-random chunks and checks every echoed byte.</summary>
    private static long RunClient(int port, int seed)
    {
        using FiberSocket socket = FiberSocket.ConnectTcp(IPAddress.Loopback, port, TimeSpan.FromSeconds(30));
        socket.ReceiveTimeout = TimeSpan.FromSeconds(30);
        var random = new Random(seed);
        long total = 0;
        var received = new byte[65536];
        for (int round = 0; round < 3; round++)
        {
            var chunk = new byte[random.Next(1, seed % 40 == 0 ? 60000 : 3000)];
            random.NextBytes(chunk);
            socket.Send(chunk.AsSpan());
            int got = 0;
            while (got < chunk.Length)
            {
                int n = socket.Receive(received.AsSpan(got, chunk.Length - got));
                Assert.That(n, Is.GreaterThan(0), "the server closed early");
                got += n;
            }
            Assert.That(received.AsSpan(0, chunk.Length).SequenceEqual(chunk), Is.True, "echo differs");
            total += chunk.Length;
        }
        return total;
    }

    /// <summary>
    /// Clients on threads of their own. What goes wrong in one is kept and reported by
    /// <see cref="JoinClients"/> as the test's failure: thrown on a bare thread, it would end the test host.
    /// </summary>
    private static (List<Thread> Threads, ConcurrentQueue<Exception> Failures) StartClients(int port, int seedBase, long[] sent)
    {
        var failures = new ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, sent.Length)
            .Select(i => new Thread(() =>
            {
                try { sent[i] = RunClient(port, seedBase + i); }
                catch (Exception e) { failures.Enqueue(e); }
            }) { IsBackground = true })
            .ToList();
        threads.ForEach(t => t.Start());
        return (threads, failures);
    }

    private static void JoinClients((List<Thread> Threads, ConcurrentQueue<Exception> Failures) clients)
    {
        clients.Threads.ForEach(t => t.Join());
        Assert.That(clients.Failures, Is.Empty, () => string.Join("\n", clients.Failures));
    }

    [Test]
    public void Csharp_fiber_bodies_serve_hundreds_of_concurrent_connections()
    {
        var server = new Server { Listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0), Scheduler = _scheduler };
        int port = server.Listener.LocalPort;
        Fiber accepter = _scheduler.Spawn(AcceptLoop, server);

        long[] sent = new long[Connections];
        JoinClients(StartClients(port, 1, sent));

        server.Listener.Cancel();
        accepter.Join();
        Assert.That(server.AcceptEnded, Is.InstanceOf<OperationCanceledException>());
        Assert.That(server.Accepted, Is.EqualTo(Connections));
        foreach (Fiber handler in server.Handlers)
            handler.Join();
        Assert.That(server.Connections.Sum(c => c.Echoed), Is.EqualTo(sent.Sum()));
        server.Listener.Dispose();
    }

    // ---- native fibers serving connections a C# thread accepts ---------------------------------

    [Test]
    public unsafe void Native_fibers_serve_connections_accepted_in_csharp()
    {
        using FiberSocket listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0);
        int port = listener.LocalPort;
        const int count = 20;
        long[] sent = new long[count];
        var clients = StartClients(port, 1000, sent);
        var fibers = new List<Fiber>();
        for (int i = 0; i < count; i++)
        {
            FiberSocket accepted = listener.Accept(TimeSpan.FromSeconds(30)); // a thread: blocks it
            fibers.Add(_scheduler.Spawn(NativeFibers.EchoSocket, accepted.ReleaseNativeHandle()));
        }
        JoinClients(clients);
        long echoed = fibers.Sum(f => (long)f.Join());
        Assert.That(echoed, Is.EqualTo(sent.Sum()));
    }

    // ---- timeouts, cancellation, disposal ----------------------------------------------------

    private sealed class Waiting
    {
        public FiberSocket Socket = null!;
        public byte[] Buffer = new byte[16];
        public TimeSpan Timeout = System.Threading.Timeout.InfiniteTimeSpan;
        public Exception? Ended;
        public long StartedAt, EndedAt;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReceiveOnce(ref Waiting w)
    {
        w.StartedAt = Stopwatch.GetTimestamp(); // the clock fbr_now reads, not the coarse tick count
        try
        {
            w.Socket.Receive(w.Buffer, 0, w.Buffer.Length, w.Timeout);
        }
        catch (Exception e)
        {
            w.Ended = e;
        }
        w.EndedAt = Stopwatch.GetTimestamp();
    }

    private static (FiberSocket Client, FiberSocket Server) ConnectedPair()
    {
        using FiberSocket listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0);
        FiberSocket client = FiberSocket.ConnectTcp(IPAddress.Loopback, listener.LocalPort, TimeSpan.FromSeconds(10));
        FiberSocket server = listener.Accept(TimeSpan.FromSeconds(10));
        return (client, server);
    }

    [Test]
    public void A_receive_times_out_on_a_fiber_and_on_a_thread_with_a_socket_exception()
    {
        var (client, server) = ConnectedPair();
        var w = new Waiting { Socket = server, Timeout = TimeSpan.FromMilliseconds(50) };
        _scheduler.Spawn(ReceiveOnce, w).Join();
        Assert.That(w.Ended, Is.InstanceOf<SocketException>());
        Assert.That(((SocketException)w.Ended!).SocketErrorCode, Is.EqualTo(SocketError.TimedOut));
        Assert.That(Stopwatch.GetElapsedTime(w.StartedAt, w.EndedAt), Is.GreaterThanOrEqualTo(w.Timeout));

        var onThread = Assert.Throws<SocketException>(() => server.Receive(new byte[4], 0, 4, TimeSpan.FromMilliseconds(20)));
        Assert.That(onThread!.SocketErrorCode, Is.EqualTo(SocketError.TimedOut));
        client.Dispose();
        server.Dispose();
    }

    [Test]
    public void Cancel_and_dispose_end_a_fiber_waiting_in_receive()
    {
        foreach (bool dispose in new[] { false, true })
        {
            var (client, server) = ConnectedPair();
            var w = new Waiting { Socket = server };
            Fiber fiber = _scheduler.Spawn(ReceiveOnce, w);
            while (fiber.State != FiberState.Suspended)
                Thread.Yield();
            if (dispose)
                server.Dispose();
            else
                server.Cancel();
            fiber.Join();
            Assert.That(w.Ended, dispose ? Is.InstanceOf<ObjectDisposedException>() : Is.InstanceOf<OperationCanceledException>());
            // A cancelled socket stays cancelled.
            if (!dispose)
                Assert.Throws<OperationCanceledException>(() => server.Receive(new byte[1], 0, 1, TimeSpan.Zero));
            server.Dispose();
            client.Dispose();
        }
    }

    [Test]
    public void A_peer_that_leaves_gives_end_of_stream_then_a_reset()
    {
        var (client, server) = ConnectedPair();
        client.Send(new byte[] { 1, 2, 3 });
        var buffer = new byte[8];
        client.Dispose();
        Assert.That(server.Receive(buffer, 0, 3), Is.EqualTo(3));
        Assert.That(server.Receive(buffer, 0, buffer.Length), Is.EqualTo(0));
        var big = new byte[1 << 20];
        var e = Assert.Throws<SocketException>(() =>
        {
            for (int i = 0; i < 64; i++)
                server.Send(big);
        });
        Assert.That(e!.SocketErrorCode, Is.AnyOf(SocketError.ConnectionReset, SocketError.Shutdown));
        server.Dispose();
    }

    [Test]
    public void Refused_connections_bad_arguments_and_misuse_are_the_usual_exceptions()
    {
        // A port bound but not listening refuses connections, and nobody else can take it meanwhile.
        using var bound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        bound.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)bound.LocalEndPoint!).Port;
        var refused = Assert.Throws<SocketException>(() => FiberSocket.ConnectTcp(IPAddress.Loopback, port, TimeSpan.FromSeconds(5)));
        Assert.That(refused!.SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
        Assert.That(refused.Message, Does.Contain("refused"));

        using FiberSocket listener = FiberSocket.ListenTcp(IPAddress.Loopback, 0);
        var inUse = Assert.Throws<SocketException>(() => FiberSocket.ListenTcp(IPAddress.Loopback, listener.LocalPort));
        Assert.That(inUse!.SocketErrorCode, Is.EqualTo(SocketError.AddressAlreadyInUse));
        Assert.Throws<ArgumentOutOfRangeException>(() => FiberSocket.ListenTcp(IPAddress.Loopback, 70000));
        Assert.Throws<ArgumentOutOfRangeException>(() => listener.Receive(new byte[4], 2, 3));
        Assert.Throws<ArgumentNullException>(() => listener.Receive(null!, 0, 0));

        var (client, server) = ConnectedPair();
        server.Dispose();
        Assert.Throws<ObjectDisposedException>(() => server.Receive(new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => _ = server.LocalPort);
        server.Dispose(); // twice is fine, as for Socket
        client.Dispose();
    }

    private sealed class SpanMisuse
    {
        public FiberSocket Socket = null!;
        public Exception? Refusal;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReceiveIntoSpan(ref SpanMisuse s)
    {
        try
        {
            s.Socket.Receive(stackalloc byte[4]);
        }
        catch (NotSupportedException e)
        {
            s.Refusal = e;
        }
    }

    [Test]
    public void The_span_overloads_are_refused_on_csharp_fibers()
    {
        var (client, server) = ConnectedPair();
        var state = new SpanMisuse { Socket = server };
        _scheduler.Spawn(ReceiveIntoSpan, state).Join();
        Assert.That(state.Refusal, Is.Not.Null);
        Assert.That(state.Refusal!.Message, Does.Contain("byte[]"));
        client.Dispose();
        server.Dispose();
    }
}
