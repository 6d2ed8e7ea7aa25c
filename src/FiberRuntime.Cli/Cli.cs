using System;
using System.CommandLine;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli;

/// <summary>What every command shares: --json, --workers, Ctrl-C handling and the mapping of failures to exit codes.</summary>
internal static class Cli
{
    public static readonly Option<bool> JsonOption = new("--json")
    {
        Description = "Print one JSON document on stdout instead of tables (progress and notes go to stderr)",
        Recursive = true,
    };

    public static readonly Option<int> WorkersOption = new("--workers")
    {
        Description = "Scheduler worker threads (0: one per CPU)",
        DefaultValueFactory = _ => 0,
        Recursive = true,
    };

    /// <summary>Runs a command body with its UI and interrupt, turning what escapes it into an exit code.</summary>
    public static int Run(ParseResult parse, Func<Ui, Interrupt, int> body)
    {
        var ui = new Ui(parse.GetValue(JsonOption));
        if (parse.GetValue(WorkersOption) is < 0 or > 1024)
            return UsageError("--workers must be between 0 and 1024");
        using var interrupt = new Interrupt();
        try
        {
            return body(ui, interrupt);
        }
        catch (DllNotFoundException e)
        {
            Console.Error.WriteLine($"fibers: a native library is missing ({e.Message}). Build native/ and native/workloads with CMake first.");
            return ExitCodes.Environment;
        }
        catch (PlatformNotSupportedException e)
        {
            Console.Error.WriteLine($"fibers: the runtime cannot run here: {e.Message}");
            return ExitCodes.Environment;
        }
    }

    public static int UsageError(string message)
    {
        Console.Error.WriteLine("fibers: " + message + " (see --help)");
        return ExitCodes.Usage;
    }
}
