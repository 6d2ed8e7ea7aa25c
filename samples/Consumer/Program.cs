using System;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using FiberRuntime;

// Producers on plain threads feed one buffered FiberRuntime channel; an async loop drains it without
// blocking a thread; a WaitGroup tells when every producer is done, so the channel can be closed and
// the loop ends. (Fiber bodies are native functions, so a C#-only program talks to fibers through
// these same channels and wait groups.)
const int Producers = 4;
const int PerProducer = 25_000;
const long Total = Producers * PerProducer;

Console.WriteLine($"libfiberrt {Runtime.Version}, {(MappedFile("libcoreclr.so") is null ? "NativeAOT" : "JIT")}");
Console.WriteLine($"libfiberrt is {(MappedFile("libfiberrt") is { } path ? $"loaded from {path}" : "linked into this binary")}");

using var scheduler = new FiberScheduler();
using var numbers = new Channel<long>(capacity: 256);
using var producing = new WaitGroup();

producing.Add(Producers);
for (int p = 0; p < Producers; p++)
{
    long first = (long)p * PerProducer + 1;
    var producer = new Thread(() =>
    {
        for (long v = first; v < first + PerProducer; v++)
            numbers.Send(v);
        producing.Done();
    });
    producer.Start();
}
Task closing = Task.Run(() =>
{
    producing.Wait();
    numbers.Close();
});

long count = 0, sum = 0;
await foreach (long v in numbers.ReadAllAsync())
{
    count++;
    sum += v;
}
await closing;

long expected = Total * (Total + 1) / 2;
bool ok = count == Total && sum == expected;
Console.WriteLine($"{count} values from {Producers} threads through one channel, sum {sum} (expected {expected})");
Console.WriteLine($"scheduler: {scheduler.WorkerCount} workers, stack mode {Runtime.ActiveStackMode}");
Console.WriteLine(ok ? "consumer: ok" : "consumer: WRONG RESULT");
return ok ? 0 : 1;

// The file a library was mapped from, if the dynamic loader mapped it. Asking the process's memory map
// tells what really runs: RuntimeFeature.IsDynamicCodeSupported is false under the JIT too when the
// project sets PublishAot, and a NativeAOT build has libfiberrt inside itself.
static string? MappedFile(string namePrefix) =>
    File.ReadLines("/proc/self/maps")
        .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        .Where(fields => fields.Length >= 6 && Path.GetFileName(fields[^1]).StartsWith(namePrefix, StringComparison.Ordinal))
        .Select(fields => fields[^1])
        .FirstOrDefault();
