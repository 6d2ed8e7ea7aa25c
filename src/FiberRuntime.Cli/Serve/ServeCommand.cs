using System;
using System.CommandLine;
using System.Net;
using System.Text.Json.Nodes;
using System.Threading;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;
using Spectre.Console;

namespace FiberRuntime.Cli.Serve;

/// <summary>
/// `fibers serve`: an echo server or a minimal HTTP/1.1 server, one straight-line fiber per connection,
/// with native (C) or C# fiber bodies as handlers. Runs until Ctrl-C or --duration, then stops accepting,
/// ends the open connections and prints what it served.
/// </summary>
internal static class ServeCommand
{
    private static readonly Option<string> ProtocolOption = new("--protocol")
    {
        Description = "http (HTTP/1.1, keep-alive, fixed \"Hello, World!\" response) or echo",
        DefaultValueFactory = _ => "http",
    };

    private static readonly Option<string> HandlersOption = new("--handlers")
    {
        Description = "native (C fiber bodies) or csharp (C# fiber bodies)",
        DefaultValueFactory = _ => "native",
    };

    private static readonly Option<string> HostOption = new("--host")
    {
        Description = "Address to listen on (an IPv4 or IPv6 literal)",
        DefaultValueFactory = _ => "127.0.0.1",
    };

    private static readonly Option<int> PortOption = new("--port")
    {
        Description = "Port to listen on (0: any free one, printed at start)",
        DefaultValueFactory = _ => 8080,
    };

    private static readonly Option<double> DurationOption = new("--duration")
    {
        Description = "Seconds to serve before stopping (0: until Ctrl-C)",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<double> IdleTimeoutOption = new("--idle-timeout")
    {
        Description = "Seconds a connection may stay silent before it is closed (0: never)",
        DefaultValueFactory = _ => 60,
    };

    public static Command Create()
    {
        var command = new Command("serve", "Serve HTTP/1.1 or echo, one straight-line fiber per connection (native or C# handlers)")
        {
            ProtocolOption, HandlersOption, HostOption, PortOption, DurationOption, IdleTimeoutOption,
        };
        command.SetAction(parse => Cli.Run(parse, (ui, interrupt) =>
        {
            string protocol = parse.GetValue(ProtocolOption) ?? "";
            string handlers = parse.GetValue(HandlersOption) ?? "";
            if (protocol is not ("http" or "echo"))
                return Cli.UsageError("--protocol must be http or echo");
            if (handlers is not ("native" or "csharp"))
                return Cli.UsageError("--handlers must be native or csharp");
            if (!IPAddress.TryParse(parse.GetValue(HostOption), out IPAddress? host))
                return Cli.UsageError("--host must be an IP address literal");
            int port = parse.GetValue(PortOption);
            double duration = parse.GetValue(DurationOption), idle = parse.GetValue(IdleTimeoutOption);
            if (port is < 0 or > 65535 || duration < 0 || idle < 0)
                return Cli.UsageError("--port must be 0-65535; --duration and --idle-timeout not negative");
            return Run(ui, interrupt, protocol == "http", handlers == "csharp", host, port, duration, idle,
                       parse.GetValue(Cli.WorkersOption));
        }));
        return command;
    }

    private static unsafe int Run(Ui ui, Interrupt interrupt, bool http, bool managed, IPAddress host, int port,
                                  double durationSeconds, double idleSeconds, int workers)
    {
        using var scheduler = new FiberScheduler(new FiberSchedulerOptions { Workers = workers });
        using FiberSocket listener = FiberSocket.ListenTcp(host, port, backlog: 4096);
        TimeSpan idle = idleSeconds > 0 ? TimeSpan.FromSeconds(idleSeconds) : Timeout.InfiniteTimeSpan;
        using var native = new NativeArray<ServerData>(1);
        ManagedServer? server = null;
        Fiber accepter;
        if (managed)
        {
            server = new ManagedServer { Listener = listener, Scheduler = scheduler, Http = http, IdleTimeout = idle };
            accepter = scheduler.Spawn(ManagedServer.AcceptBody, server);
        }
        else
        {
            native[0].Listener = listener.NativeHandle;
            native[0].Http = http ? 1 : 0;
            native[0].IdleTimeoutNs = idleSeconds > 0 ? (long)(idleSeconds * 1e9) : 0;
            accepter = scheduler.Spawn(Workloads.Serve, native.Address(0));
        }

        string what = http ? "HTTP/1.1" : "echo";
        string url = http ? $"http://{FormatHost(host)}:{listener.LocalPort}/" : $"{FormatHost(host)}:{listener.LocalPort}";
        // Scripts wait for this line (stderr under --json, so stdout stays one JSON document).
        string ready = $"listening on {url} ({what}, {(managed ? "C#" : "native")} handlers, {scheduler.WorkerCount} workers); " +
                       (durationSeconds > 0 ? $"serving for {durationSeconds:0.#} s" : "Ctrl-C stops");
        if (ui.Json)
            Console.Error.WriteLine(ready);
        else
            ui.Line(Markup.Escape(ready));
        Console.Out.Flush();

        var clock = Clock.Start();
        TimeSpan wait = durationSeconds > 0 ? TimeSpan.FromSeconds(durationSeconds) : Timeout.InfiniteTimeSpan;
        interrupt.Token.WaitHandle.WaitOne(wait);
        double seconds = clock.ElapsedNs / 1e9;

        listener.Cancel();
        while (!accepter.TryJoin(TimeSpan.FromSeconds(1), out _))
            Console.Error.WriteLine(server is null ? "stopping: waiting for connections to end"
                                                   : $"stopping: {server.OpenConnections} connections open, {server.RunningHandlers} fibers running");
        server?.Dispose();
        ServerCounters counts = managed ? server!.Counters : new ServerCounters
        {
            Connections = native[0].Connections,
            Requests = native[0].Requests,
            BytesIn = native[0].BytesIn,
            BytesOut = native[0].BytesOut,
            Errors = native[0].Errors,
        };

        if (ui.Json)
        {
            JsonOut.Print(new JsonObject
            {
                ["command"] = "serve",
                ["machine"] = JsonOut.Machine(),
                ["protocol"] = http ? "http" : "echo",
                ["handlers"] = managed ? "csharp" : "native",
                ["address"] = url,
                ["workers"] = scheduler.WorkerCount,
                ["seconds"] = JsonOut.Number(seconds),
                ["connections"] = counts.Connections,
                ["requests"] = counts.Requests,
                ["bytes_in"] = counts.BytesIn,
                ["bytes_out"] = counts.BytesOut,
                ["errors"] = counts.Errors,
                ["interrupted"] = interrupt.Requested,
            });
        }
        else
        {
            var table = new Table().Border(TableBorder.Rounded).HideHeaders();
            table.AddColumn("what");
            table.AddColumn(new TableColumn("value").RightAligned());
            table.AddRow("served for", $"{seconds:N1} s");
            table.AddRow("connections (one fiber each)", $"{counts.Connections:N0}");
            table.AddRow(http ? "requests answered" : "reads echoed", $"{counts.Requests:N0} ({counts.Requests / Math.Max(seconds, 1e-9):N0}/s)");
            table.AddRow("bytes in / out", $"{counts.BytesIn:N0} / {counts.BytesOut:N0}");
            table.AddRow("connections failed", counts.Errors == 0 ? "[green]0[/]" : $"[red]{counts.Errors:N0}[/]");
            ui.Out.Write(table);
        }
        return interrupt.Requested ? ExitCodes.Interrupted : ExitCodes.Ok;
    }

    private static string FormatHost(IPAddress host) =>
        host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host.ToString();
}
