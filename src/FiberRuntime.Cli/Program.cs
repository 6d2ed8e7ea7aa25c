using System.CommandLine;
using FiberRuntime.Cli;
using FiberRuntime.Cli.Bench;
using FiberRuntime.Cli.Serve;
using FiberRuntime.Cli.Stress;
using FiberRuntime.Cli.Tour;

var root = new RootCommand(
    "fibers: see, stress and measure FiberRuntime on this machine. Without a command it runs the tour: " +
    "fibers next to OS threads and .NET Tasks (how many fit, memory, start-up, ping-pong, deep recursion, M:N).");
root.Options.Add(Cli.JsonOption);
root.Options.Add(Cli.WorkersOption);
TourCommand.Attach(root);
root.Subcommands.Add(StressCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(GuardHitChild.Create());

ParseResult parse = root.Parse(args);
// Wrong arguments exit with 2, which System.CommandLine would report as 1 like any failure.
if (parse.Errors.Count > 0)
{
    foreach (var error in parse.Errors)
        System.Console.Error.WriteLine("fibers: " + error.Message);
    System.Console.Error.WriteLine("(see fibers --help)");
    return ExitCodes.Usage;
}
return parse.Invoke();
