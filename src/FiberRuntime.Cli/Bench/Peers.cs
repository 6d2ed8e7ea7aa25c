using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;

namespace FiberRuntime.Cli.Bench;

/// <summary>A system that can run the workloads in a process of its own.</summary>
internal sealed record Peer(string Name, string Binary, Func<int, IReadOnlyList<string>, (List<string> Args, Dictionary<string, string> Env)> Command);

/// <summary>
/// Builds the peer programs of native/bench (the same steps as run_sched_bench.sh) into the output folder.
/// A peer whose toolchain is missing is skipped with a message naming the Debian package that brings it.
/// </summary>
internal static class Peers
{
    public static readonly string[] Names = ["fiberrt", "Go", "Boost.Fiber", "pthreads"];

    private static readonly string[] RepeatTwice = ["-repeat", "2"];

    public static List<Peer> Build(string repo, string buildDir, string outDir, IReadOnlyCollection<string> wanted,
                                   Action<string> skip, CancellationToken cancel)
    {
        string peersSrc = Path.Combine(repo, "native", "bench", "peers");
        Directory.CreateDirectory(outDir);
        var peers = new List<Peer>();
        TimeSpan buildTimeout = TimeSpan.FromMinutes(5);

        if (wanted.Contains("fiberrt"))
        {
            string bench = Path.Combine(buildDir, "native", "bench", "fbr_bench_sched");
            if (!File.Exists(bench) && TryCmakeBuild(repo, buildDir, "fbr_bench_sched", skip, cancel) && !File.Exists(bench))
                skip($"skipping fiberrt: {bench} was not built");
            if (File.Exists(bench))
            {
                peers.Add(new Peer("fiberrt", bench, (threads, workloads) =>
                    ([.. new[] { "--repeat", "2", "--workers", threads.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(workloads)], [])));
            }
        }
        if (wanted.Contains("Go"))
        {
            if (!ProcessRunner.OnPath("go"))
            {
                skip("skipping Go: no 'go' command (Debian: golang-go)");
            }
            else
            {
                string binary = Path.Combine(outDir, "go_peer");
                var r = ProcessRunner.Run("go", ["build", "-o", binary, "."], Path.Combine(peersSrc, "go"),
                    new Dictionary<string, string> { ["GOFLAGS"] = "-mod=mod" }, buildTimeout, cancel);
                if (r.ExitCode != 0)
                    skip("skipping Go: the build failed: " + FirstLine(r.Stderr));
                else
                    peers.Add(new Peer("Go", binary, (threads, workloads) =>
                        ([.. RepeatTwice.Concat(workloads)],
                         new Dictionary<string, string> { ["GOMAXPROCS"] = threads.ToString(System.Globalization.CultureInfo.InvariantCulture) })));
            }
        }
        if (wanted.Contains("Boost.Fiber"))
        {
            if (!File.Exists("/usr/include/boost/fiber/all.hpp") || !ProcessRunner.OnPath("g++"))
            {
                skip("skipping Boost.Fiber: headers or g++ missing (Debian: libboost-fiber-dev g++)");
            }
            else
            {
                string binary = Path.Combine(outDir, "boost_fiber_peer");
                var r = ProcessRunner.Run("g++", ["-O2", "-std=c++17", Path.Combine(peersSrc, "boost_fiber", "main.cpp"), "-o", binary,
                    "-lboost_fiber", "-lboost_context", "-lpthread"], null, null, buildTimeout, cancel);
                if (r.ExitCode != 0)
                    skip("skipping Boost.Fiber: the build failed: " + FirstLine(r.Stderr));
                else
                    peers.Add(new Peer("Boost.Fiber", binary, (threads, workloads) => (ThreadsThenTwice(threads, workloads, skynetOnce: true), [])));
            }
        }
        if (wanted.Contains("pthreads"))
        {
            if (!ProcessRunner.OnPath("gcc"))
            {
                skip("skipping pthreads: no gcc (Debian: gcc)");
            }
            else
            {
                string binary = Path.Combine(outDir, "pthreads_peer");
                var r = ProcessRunner.Run("gcc", ["-O2", "-std=c11", "-D_GNU_SOURCE", Path.Combine(peersSrc, "pthreads", "main.c"), "-o", binary, "-lpthread"],
                    null, null, buildTimeout, cancel);
                if (r.ExitCode != 0)
                    skip("skipping pthreads: the build failed: " + FirstLine(r.Stderr));
                else
                    peers.Add(new Peer("pthreads", binary, (threads, workloads) => (ThreadsThenTwice(threads, workloads, skynetOnce: false), [])));
            }
        }
        return peers;
    }

    /// <summary>
    /// Peers without a repeat option get each workload twice so the second (warm) figure can count; Boost.Fiber's
    /// skynet takes seconds and gigabytes, so it runs once, cold, as run_sched_bench.sh does.
    /// </summary>
    private static List<string> ThreadsThenTwice(int threads, IReadOnlyList<string> workloads, bool skynetOnce)
    {
        var args = new List<string> { "--threads", threads.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (string w in workloads)
        {
            args.Add(w);
            if (!(skynetOnce && w == "skynet"))
                args.Add(w);
        }
        return args;
    }

    /// <summary>Builds a target of the CMake build in <paramref name="buildDir"/>, configuring it first if needed.</summary>
    public static bool TryCmakeBuild(string repo, string buildDir, string target, Action<string> skip, CancellationToken cancel)
    {
        if (!ProcessRunner.OnPath("cmake"))
        {
            skip($"cannot build {target}: no cmake (Debian: cmake)");
            return false;
        }
        TimeSpan timeout = TimeSpan.FromMinutes(10);
        if (!File.Exists(Path.Combine(buildDir, "CMakeCache.txt")))
        {
            var configure = ProcessRunner.Run("cmake", ["-S", repo, "-B", buildDir, "-DCMAKE_BUILD_TYPE=Release", "-DFBR_BUILD_TESTS=OFF", "-DFBR_BUILD_BENCH=ON"],
                null, null, timeout, cancel);
            if (configure.ExitCode != 0)
            {
                skip($"cannot configure {buildDir}: " + FirstLine(configure.Stderr));
                return false;
            }
        }
        var build = ProcessRunner.Run("cmake", ["--build", buildDir, "--target", target, "-j", "2"], null, null, timeout, cancel);
        if (build.ExitCode != 0)
        {
            skip($"cannot build {target} in {buildDir} (is FBR_BUILD_BENCH on there?): " + FirstLine(build.Stdout + build.Stderr));
            return false;
        }
        return true;
    }

    private static string FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))
        ?? text.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "(no output)";
}
