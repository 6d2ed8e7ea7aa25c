// The scheduler workloads of bench_sched.c, written the way Boost.Fiber
// programs write them, for side-by-side figures. Same sizes and structure as
// bench_sched.c and peers/go/main.go. Prints "<workload> <value> <unit>".
//
//   g++ -O2 -std=c++17 main.cpp -lboost_fiber -lboost_context -lpthread
//   ./a.out [--threads N] [workload ...]
//   workloads: spawn_join ping_pong buffered skynet (default: all)
//
// --threads N (default: online CPUs): with N > 1 the main thread and N - 1
// helper threads all run boost::fibers::algo::work_stealing, so fibers
// spawned by the main fiber can be stolen; with N == 1 only the main thread
// runs fibers, under the default round_robin. Idle work-stealing threads
// sleep (the `true` below) rather than spin: spinning took half of this
// 2-core machine from the thread doing the work and made every figure worse.
#include <boost/fiber/all.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace fibers = boost::fibers;

namespace {

constexpr int kSpawnCount = 100000;
constexpr int kPingPongRounds = 500000;
constexpr int kBufferedItems = 5000000;
constexpr long kSkynetSize = 1000000;

// Boost's default stack is 128 KiB, which glibc's malloc serves with one
// mmap each: 100,000 live fibers would pass vm.max_map_count, and skynet's
// 1.1 million would reserve 140 GiB. 16 KiB is what FiberRuntime commits up
// front per fiber (Go starts at 8 KiB), so every fiber here gets that.
fibers::fixedsize_stack stack_alloc{16 * 1024};

void fail(const char *what)
{
    std::fprintf(stderr, "%s\n", what);
    std::fflush(stdout);
    // _Exit, not exit: helper threads may still be running fibers, and static
    // destructors would pull the work-stealing schedulers out from under them.
    std::_Exit(1);
}

std::int64_t now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// ---- spawn + join: 100,000 fibers that do nothing, counted by a WaitGroup --

// The Go program's sync.WaitGroup, from Boost.Fiber's mutex and condition
// variable (which also work across threads under work_stealing).
class WaitGroup {
public:
    void add(long n)
    {
        std::lock_guard<fibers::mutex> lk(mtx_);
        count_ += n;
    }
    void done()
    {
        std::lock_guard<fibers::mutex> lk(mtx_);
        // Notified under the lock: once wait() can see zero, the waiter may
        // return and destroy this object, so nothing may touch it after unlock.
        if (--count_ == 0)
            cv_.notify_all();
    }
    void wait()
    {
        std::unique_lock<fibers::mutex> lk(mtx_);
        cv_.wait(lk, [this] { return count_ == 0; });
    }

private:
    fibers::mutex mtx_;
    fibers::condition_variable cv_;
    long count_ = 0;
};

double spawn_join()
{
    WaitGroup wg;
    std::int64_t start = now_ns();
    for (int i = 0; i < kSpawnCount; i++) {
        wg.add(1);
        fibers::fiber(std::allocator_arg, stack_alloc, [&wg] { wg.done(); }).detach();
    }
    wg.wait();
    return double(now_ns() - start) / kSpawnCount;
}

// ---- ping-pong: one int back and forth over two unbuffered channels -------

double ping_pong()
{
    fibers::unbuffered_channel<int> ping, pong;
    fibers::fiber other(std::allocator_arg, stack_alloc, [&] {
        for (int v : ping)
            pong.push(v);
    });
    std::int64_t start = now_ns();
    for (int i = 0; i < kPingPongRounds; i++) {
        ping.push(i);
        pong.value_pop();
    }
    std::int64_t elapsed = now_ns() - start;
    ping.close();
    other.join();
    return double(elapsed) / kPingPongRounds;
}

// ---- buffered throughput: 5,000,000 ints through a 1024-slot channel ------

double buffered()
{
    // Boost requires a power-of-two capacity and keeps one slot empty, so this
    // holds 1023 items where Go's and FiberRuntime's channels hold 1024.
    fibers::buffered_channel<int> ch{1024};
    long long sum = 0;
    fibers::fiber consumer(std::allocator_arg, stack_alloc, [&] {
        for (int v : ch)
            sum += v;
    });
    std::int64_t start = now_ns();
    for (int i = 0; i < kBufferedItems; i++)
        ch.push(i);
    ch.close();
    consumer.join();
    std::int64_t elapsed = now_ns() - start;
    if (sum != (long long)kBufferedItems * (kBufferedItems - 1) / 2)
        fail("buffered: wrong sum");
    return double(elapsed) / kBufferedItems;
}

// ---- skynet: 1,000,000 leaf fibers in a 10-ary tree, summing their ids ----

using SkynetChannel = fibers::unbuffered_channel<long>;

// Children are launched with the default launch::post, as go and fbr_spawn
// do: the parent keeps running and the child waits its turn. (Boost's own
// skynet benchmarks use launch::dispatch, which runs each child before its
// parent continues; that would measure a different schedule.) `results`
// lives on the parent's stack as in those benchmarks, although under
// work_stealing a child on another thread may, in a rare window, still be
// releasing the channel's internal lock after its value has been taken.
void skynet_node(SkynetChannel &out, long num, long size)
{
    if (size == 1) {
        out.push(num);
        return;
    }
    SkynetChannel results;
    long part = size / 10;
    for (long i = 0; i < 10; i++)
        fibers::fiber(std::allocator_arg, stack_alloc, skynet_node, std::ref(results), num + i * part, part)
            .detach();
    long sum = 0;
    for (int i = 0; i < 10; i++)
        sum += results.value_pop();
    out.push(sum);
}

double skynet()
{
    SkynetChannel out;
    std::int64_t start = now_ns();
    fibers::fiber(std::allocator_arg, stack_alloc, skynet_node, std::ref(out), 0L, kSkynetSize).detach();
    long sum = out.value_pop();
    std::int64_t elapsed = now_ns() - start;
    if (sum != 499999500000L)
        fail("skynet: wrong sum");
    return double(elapsed) / 1e6;
}

// ---- threads --------------------------------------------------------------

// The helper threads' main fibers wait here until the workloads are over.
fibers::mutex done_mtx;
fibers::condition_variable done_cv;
bool done = false;

void helper(unsigned threads)
{
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads, true);
    // A fiber wait: while it lasts, this thread's dispatcher steals and runs
    // fibers spawned on the other threads.
    std::unique_lock<fibers::mutex> lk(done_mtx);
    done_cv.wait(lk, [] { return done; });
}

} // namespace

int main(int argc, char **argv)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = online > 0 ? unsigned(online) : 1;
    std::vector<const char *> wanted;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--threads") == 0) {
            char *end = nullptr;
            long n = i + 1 < argc ? std::strtol(argv[++i], &end, 10) : 0;
            if (n < 1 || *end != '\0') {
                std::fprintf(stderr, "--threads needs a positive number\n");
                return 2;
            }
            threads = unsigned(n);
        } else {
            wanted.push_back(argv[i]);
        }
    }

    struct Workload {
        const char *name;
        double (*run)();
        const char *unit;
    };
    const Workload workloads[] = {
        {"spawn_join", spawn_join, "ns/fiber"},
        {"ping_pong", ping_pong, "ns/round-trip"},
        {"buffered", buffered, "ns/item"},
        {"skynet", skynet, "ms"},
    };
    // Checked before anything runs, so that a typo fails at once rather than
    // after the workloads before it.
    std::vector<const Workload *> plan;
    if (wanted.empty()) {
        for (const Workload &w : workloads)
            plan.push_back(&w);
    }
    for (const char *name : wanted) {
        const Workload *found = nullptr;
        for (const Workload &w : workloads)
            if (std::strcmp(name, w.name) == 0)
                found = &w;
        if (!found) {
            std::fprintf(stderr, "unknown workload %s\n", name);
            return 2;
        }
        plan.push_back(found);
    }

    std::vector<std::thread> helpers;
    if (threads > 1) {
        // work_stealing's constructor blocks until all `threads` schedulers
        // have registered (victims are picked among all of them), so the
        // helpers must be started before the main thread registers.
        for (unsigned i = 1; i < threads; i++)
            helpers.emplace_back(helper, threads);
        fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads, true);
    }

    // The workloads run on the main thread's own fiber, as the Go program's
    // run on main's goroutine and bench_sched.c's in a fiber of their own.
    for (const Workload *w : plan) {
        double value = w->run();
        std::printf("%s %.1f %s\n", w->name, value, w->unit);
        std::fflush(stdout);
    }

    {
        std::lock_guard<fibers::mutex> lk(done_mtx);
        done = true;
    }
    done_cv.notify_all();
    for (std::thread &t : helpers)
        t.join();
    return 0;
}
