using System;
using System.Collections.Generic;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Threading;

namespace FiberRuntime.Cli.Serve;

/// <summary>What a server counted (either kind of handler).</summary>
internal sealed class ServerCounters
{
    public long Connections, Requests, BytesIn, BytesOut, Errors;
}

/// <summary>
/// The C# twin of native/workloads/serve.c: an accept loop and one C# fiber body per connection (echo or
/// HTTP/1.1 with keep-alive and a fixed response), written straight-line. Everything that outlives a
/// suspension sits in the fibers' state objects, as the fiber-body rules require.
/// </summary>
internal sealed class ManagedServer : IDisposable
{
    public required FiberSocket Listener { get; init; }
    public required FiberScheduler Scheduler { get; init; }
    public required bool Http { get; init; }
    public required TimeSpan IdleTimeout { get; init; }
    public ServerCounters Counters { get; } = new();

    private readonly object _openLock = new();
    private readonly HashSet<Connection> _open = [];
    private readonly WaitGroup _handlers = new();

    /// <summary>One connection's state: the socket and its buffers.</summary>
    internal sealed class Connection
    {
        public required ManagedServer Server;
        public required FiberSocket Socket;
        public byte[] Buffer = new byte[8192];
        public int Have;
        public byte[] Out = new byte[HttpRequests.MaxBatch * HttpRequests.Response.Length];
        public int OutLength;
        public bool CloseAfter;
        // Counted here and added to the server's totals once, at the end: shared counters bumped on every
        // request would bounce their cache line between the workers.
        public long Requests, BytesIn, BytesOut;
    }

    /// <summary>The accept loop's body: runs until the listener is cancelled, then ends every connection.</summary>
    public static readonly FiberBody<ManagedServer> AcceptBody = Accept;

    private static readonly FiberBody<Connection> ConnectionBody = ServeConnection;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Accept(ref ManagedServer s)
    {
        for (;;)
        {
            if (!AcceptOne(ref s))
                break;
        }
        s.CancelOpenConnections();
        s._handlers.Wait();
    }

    /// <summary>Connections still open (a snapshot).</summary>
    public int OpenConnections
    {
        get
        {
            lock (_openLock)
                return _open.Count;
        }
    }

    /// <summary>Connection fibers that have not ended yet.</summary>
    public long RunningHandlers => _handlers.Count;

    /// <summary>After the accept loop's fiber has ended.</summary>
    public void Dispose() => _handlers.Dispose();

    /// <summary>Accepts one connection and starts its fiber; false once the listener is cancelled.</summary>
    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool AcceptOne(ref ManagedServer s)
    {
        FiberSocket socket;
        try
        {
            socket = s.Listener.Accept();
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.TooManyOpenSockets)
        {
            // Out of descriptors: let connections end, then go on accepting.
            Interlocked.Increment(ref s.Counters.Errors);
            Fiber.Sleep(TimeSpan.FromMilliseconds(10));
            return true;
        }
        s.Start(socket);
        return true;
    }

    private void Start(FiberSocket socket)
    {
        var connection = new Connection { Server = this, Socket = socket };
        lock (_openLock)
            _open.Add(connection);
        _handlers.Add(1);
        try
        {
            Scheduler.Spawn(ConnectionBody, connection).Detach();
        }
        catch
        {
            Finish(connection);
            throw;
        }
        Interlocked.Increment(ref Counters.Connections);
    }

    private void CancelOpenConnections()
    {
        lock (_openLock)
        {
            foreach (Connection c in _open)
                c.Socket.Cancel();
        }
    }

    private void Finish(Connection connection)
    {
        Interlocked.Add(ref Counters.Requests, connection.Requests);
        Interlocked.Add(ref Counters.BytesIn, connection.BytesIn);
        Interlocked.Add(ref Counters.BytesOut, connection.BytesOut);
        lock (_openLock)
            _open.Remove(connection);
        connection.Socket.Dispose();
        _handlers.Done();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ServeConnection(ref Connection c)
    {
        bool failed = false;
        try
        {
            if (c.Server.Http)
                ServeHttp(ref c);
            else
                ServeEcho(ref c);
        }
        catch (Exception e) when (IsPeerOrStop(e))
        {
        }
        catch (Exception)
        {
            failed = true;
        }
        if (failed)
            Interlocked.Increment(ref c.Server.Counters.Errors);
        c.Server.Finish(c);
    }

    /// <summary>Ends that are the peer's doing, the idle timeout, or the server stopping: not errors.</summary>
    private static bool IsPeerOrStop(Exception e) => e switch
    {
        OperationCanceledException or ObjectDisposedException => true,
        SocketException s => s.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.TimedOut,
        _ => false,
    };

    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ServeEcho(ref Connection c)
    {
        for (;;)
        {
            int n = c.Socket.Receive(c.Buffer, 0, c.Buffer.Length, c.Server.IdleTimeout);
            if (n == 0)
                return;
            c.Socket.Send(c.Buffer, 0, n);
            Counted(ref c, n, n, 1);
        }
    }

    [MaySuspend]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ServeHttp(ref Connection c)
    {
        for (;;)
        {
            int n = c.Socket.Receive(c.Buffer, c.Have, c.Buffer.Length - c.Have, c.Server.IdleTimeout);
            if (n == 0)
                return;
            c.Have += n;
            int answered = HttpRequests.Answer(c);
            if (answered < 0)
            {
                Interlocked.Increment(ref c.Server.Counters.Errors);
                return;
            }
            if (answered > 0)
                c.Socket.Send(c.Out, 0, c.OutLength);
            Counted(ref c, n, c.OutLength, answered);
            if (c.CloseAfter)
                return;
        }
    }

    private static void Counted(ref Connection c, long bytesIn, long bytesOut, long requests)
    {
        c.BytesIn += bytesIn;
        c.BytesOut += bytesOut;
        c.Requests += requests;
    }
}
