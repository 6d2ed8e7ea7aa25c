namespace FiberRuntime.Cli;

/// <summary>What the process exit status means, the same for every command.</summary>
internal static class ExitCodes
{
    /// <summary>Everything ran and every check held.</summary>
    public const int Ok = 0;

    /// <summary>A check failed: a corrupted frame, a wrong value, a guard hit that was not reported.</summary>
    public const int CheckFailed = 1;

    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;

    /// <summary>The machine could not run it: the runtime did not start, a native library or a build is missing.</summary>
    public const int Environment = 3;

    /// <summary>Stopped by Ctrl-C (SIGINT) or SIGTERM; what had been measured is still printed.</summary>
    public const int Interrupted = 130;
}
