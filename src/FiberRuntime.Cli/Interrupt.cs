using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace FiberRuntime.Cli;

/// <summary>
/// Turns Ctrl-C and SIGTERM into a cancellation the commands check between batches of work, so that they
/// stop their fibers and threads and print what they have, instead of dying with work in flight.
/// A second Ctrl-C ends the process at once.
/// </summary>
internal sealed class Interrupt : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration _sigint;
    private readonly PosixSignalRegistration _sigterm;

    public Interrupt()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    public CancellationToken Token => _source.Token;

    public bool Requested => _source.IsCancellationRequested;

    private void OnSignal(PosixSignalContext context)
    {
        if (_source.IsCancellationRequested)
            return; // the default action: the process ends now
        context.Cancel = true;
        Console.Error.WriteLine("\nstopping (Ctrl-C again to quit at once)...");
        _source.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _source.Dispose();
    }
}
