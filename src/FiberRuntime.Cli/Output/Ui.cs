using System;
using Spectre.Console;

namespace FiberRuntime.Cli.Output;

/// <summary>
/// Where a command's human output goes. Results go to stdout; progress bars go to stderr and only when it
/// is a terminal, so that `--json` output and piped tables stay clean. With --json nothing human is printed.
/// </summary>
internal sealed class Ui
{
    public Ui(bool json)
    {
        Json = json;
        Out = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        Err = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        ShowProgress = !json && !Console.IsErrorRedirected;
        // Piped or captured output has no terminal to ask; 80 columns would wrap every table.
        if (Console.IsOutputRedirected)
            Out.Profile.Width = 132;
    }

    /// <summary>True when the command prints one JSON document and nothing else on stdout.</summary>
    public bool Json { get; }

    public IAnsiConsole Out { get; }

    public IAnsiConsole Err { get; }

    public bool ShowProgress { get; }

    /// <summary>A line of human output (markup), dropped under --json.</summary>
    public void Line(string markup = "")
    {
        if (!Json)
            Out.MarkupLine(markup);
    }

    /// <summary>A warning or skip notice: stderr, so that it reaches a user of --json too.</summary>
    public void Note(string text) => Err.MarkupLine("[yellow]" + Markup.Escape(text) + "[/]");

    /// <summary>Runs <paramref name="body"/> with progress bars when they can be shown, without otherwise.</summary>
    public T WithProgress<T>(Func<IProgressBoard, T> body)
    {
        if (!ShowProgress)
            return body(new SilentBoard());
        T result = default!;
        Err.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx => result = body(new SpectreBoard(ctx)));
        return result;
    }

    private sealed class SpectreBoard(ProgressContext context) : IProgressBoard
    {
        public IPhase Begin(string description, double total)
        {
            ProgressTask task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1));
            return new SpectrePhase(task);
        }
    }

    private sealed class SpectrePhase(ProgressTask task) : IPhase
    {
        public void Report(double done) => task.Value = Math.Min(done, task.MaxValue);

        public void Finish()
        {
            task.Value = task.MaxValue;
            task.StopTask();
        }
    }

    private sealed class SilentBoard : IProgressBoard
    {
        public IPhase Begin(string description, double total) => SilentPhase.Instance;
    }

    private sealed class SilentPhase : IPhase
    {
        public static readonly SilentPhase Instance = new();

        public void Report(double done) { }

        public void Finish() { }
    }
}

/// <summary>A set of progress bars, one per phase of a command.</summary>
internal interface IProgressBoard
{
    IPhase Begin(string description, double total);
}

/// <summary>One progress bar.</summary>
internal interface IPhase
{
    void Report(double done);

    void Finish();
}
