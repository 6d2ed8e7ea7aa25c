#!/usr/bin/env pwsh
# FiberRuntime build driver for PowerShell: the same steps as build.sh.
#
#   ./build.ps1 [args]   install what is missing, build the `fibers` tool (NativeAOT) and run
#                        its tour (the main job); `./build.ps1 run stress|bench|--help` runs others
#   ./build.ps1 test     install what is missing, build and run every test suite:
#                        native (x86-64), ASan+UBSan, TSan, ARM64 under qemu, then
#                        the C# suites: NUnit (JIT, and ARM64 under qemu), the
#                        NativeAOT smoke app (x86-64 and ARM64), the NuGet consumer, the tool
#   ./build.ps1 test native | dotnet    only the native or only the C# suites
#   ./build.ps1 bench    build and run the benchmarks (figures, not tests)
#
# Missing Debian packages are installed with apt-get when running as root;
# otherwise the exact command to run is printed and the build stops.
param(
    [Parameter(Position = 0)][string]$Command = 'run',
    [Parameter(Position = 1, ValueFromRemainingArguments = $true)][string[]]$Rest = @()
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Root = $PSScriptRoot
$BuildRoot = Join-Path $Root 'build'
$Jobs = [Environment]::ProcessorCount

function Say([string]$Text) { Write-Host "`n== $Text" }

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# ---- dependencies -----------------------------------------------------------

$Packages = @{
    main  = @('cmake', 'make', 'gcc', 'libc6-dev', 'pkg-config')
    test  = @('cmake', 'make', 'gcc', 'libc6-dev', 'pkg-config', 'gdb', 'valgrind', 'qemu-user',
        'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross', 'libclang1-14', 'clang-14', 'binutils', 'unzip', 'file', 'jq')
    bench = @('cmake', 'make', 'gcc', 'g++', 'libc6-dev', 'pkg-config', 'libboost-context-dev', 'libboost-fiber-dev', 'golang-go', 'wrk')
}

function Install-Missing([string]$Set) {
    $missing = @($Packages[$Set] | Where-Object {
            $status = & dpkg-query -W -f='${Status}' $_ 2>$null
            -not ($status -match 'install ok installed')
        })
    if ($missing.Count -eq 0) { return }
    if ((& id -u) -eq '0') {
        Say "installing $($missing -join ' ')"
        $env:DEBIAN_FRONTEND = 'noninteractive'
        Invoke-Checked 'apt-get' @('update', '-qq')
        Invoke-Checked 'apt-get' (@('install', '-y', '-qq', '--no-install-recommends') + $missing)
    }
    else {
        Write-Error ("These packages are missing: $($missing -join ' ')`nInstall them with:`n" +
            "  sudo apt-get install -y $($missing -join ' ')")
    }
}

# ---- building ---------------------------------------------------------------

function Build-Tree([string]$Dir, [string[]]$CMakeArgs) {
    & cmake -S $Root -B $Dir @CMakeArgs | Out-Null
    if ($LASTEXITCODE -ne 0) { return $false }
    & cmake --build $Dir -j $Jobs | Out-Null
    return ($LASTEXITCODE -eq 0)
}

# ---- tests ------------------------------------------------------------------

$script:TotalPassed = 0
$script:TotalFailed = 0
$script:FailedSuites = @()
# What each failing suite said about its failures, repeated at the end of the run: CI keeps only the
# tail of a long log, and that tail must name the test.
$script:FailureDigest = @()
$FailurePattern = '^ *failed [^0-9]|FAILED|Failed|Assert|Exception|Segmentation|Aborted|core dumped|timed out|Timeout'

function Add-Result([string]$Name, [int]$Passed, [int]$Failed, [string[]]$Log = @()) {
    $script:TotalPassed += $Passed
    $script:TotalFailed += $Failed
    if ($Failed -gt 0) {
        $script:FailedSuites += $Name
        # Each matching line and the 12 after it, overlaps merged (as grep -A does).
        $keep = [System.Collections.Generic.SortedSet[int]]::new()
        for ($i = 0; $i -lt $Log.Count; $i++) {
            if ($Log[$i] -cmatch $FailurePattern) {
                for ($j = $i; $j -le [Math]::Min($i + 12, $Log.Count - 1); $j++) { [void]$keep.Add($j) }
            }
        }
        $said = @($keep | ForEach-Object { $Log[$_] } | Where-Object { $_ -notmatch '(^| )0 failed' } | Select-Object -First 60)
        $script:FailureDigest += @("-- $Name") + $said
    }
}

# Runs one CTest suite and adds its counts. Skipped tests count as neither.
function Invoke-CTest([string]$Name, [string]$Dir) {
    Say "tests: $Name"
    $junit = Join-Path $Dir 'ctest-results.xml'
    Remove-Item -Force -ErrorAction SilentlyContinue $junit
    Push-Location $Dir
    try {
        $log = @(& ctest -j $Jobs --output-on-failure --output-junit $junit 2>&1 | ForEach-Object { $l = "$_"; Write-Host $l; $l })
        $status = $LASTEXITCODE
    }
    finally { Pop-Location }
    $tests = 0; $failures = 0; $skipped = 0
    if (Test-Path $junit) {
        $suite = ([xml](Get-Content -Raw $junit)).testsuite
        $tests = [int]$suite.tests; $failures = [int]$suite.failures; $skipped = [int]$suite.skipped
    }
    if ($status -ne 0 -and $failures -eq 0) { $failures = 1 } # ctest itself failed: never report green
    $passed = $tests - $failures - $skipped
    Write-Host "${Name}: $passed passed, $failures failed, $skipped skipped"
    Add-Result $Name $passed $failures $log
}

function Test-Native([string]$Name, [string]$Dir, [string[]]$CMakeArgs) {
    Say "building: $Name"
    if (-not (Build-Tree $Dir (@('-DFBR_BUILD_BENCH=OFF', '-DFBR_BUILD_DEMO=OFF') + $CMakeArgs))) {
        Write-Host "${Name}: the build failed"
        Add-Result "$Name (build)" 0 1
        return
    }
    Invoke-CTest $Name $Dir
}

# Runs a command whose output ends with "N passed, M failed" and adds those counts; a command that
# dies before printing it counts as one failure.
function Invoke-Counted([string]$Name, [scriptblock]$Run) {
    Say "tests: $Name"
    $lines = @(& $Run 2>&1 | ForEach-Object { $line = "$_"; Write-Host $line; $line })
    $status = $LASTEXITCODE
    $passed = 0; $failed = 1
    $summary = $lines | Where-Object { $_ -match '^(\d+) passed, (\d+) failed$' } | Select-Object -Last 1
    if ($summary -and $summary -match '^(\d+) passed, (\d+) failed$') { $passed = [int]$Matches[1]; $failed = [int]$Matches[2] }
    if ($status -ne 0 -and $failed -eq 0) { $failed = 1 }
    Write-Host "${Name}: $passed passed, $failed failed"
    Add-Result $Name $passed $failed $lines
}

# Runs `dotnet test` (Microsoft.Testing.Platform output) and prints its counts as "N passed, M failed".
function Invoke-DotNetTest([string[]]$Arguments) {
    $out = @(& dotnet test @Arguments -c Release 2>&1 | ForEach-Object { $l = "$_"; Write-Host $l; $l })
    $code = $LASTEXITCODE
    $ok = ($out | Where-Object { $_ -match '^ +succeeded: (\d+)' } | Select-Object -Last 1) -replace '\D', ''
    $bad = ($out | Where-Object { $_ -match '^ +failed: (\d+)' } | Select-Object -Last 1) -replace '\D', ''
    if (-not $ok) { $ok = 0 }; if (-not $bad) { $bad = 1 }
    "$ok passed, $bad failed"
    $global:LASTEXITCODE = $code
}

function Assert-DotNet {
    $local = Join-Path $HOME '.dotnet'
    if (-not (Get-Command dotnet -ErrorAction SilentlyContinue) -and (Test-Path (Join-Path $local 'dotnet'))) {
        $env:PATH = "${local}:$env:PATH"
    }
    if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
        throw ("The .NET 10 SDK is missing (it is not a Debian package). Install it with Microsoft's script:`n" +
            '  curl -sSL https://dot.net/v1/dotnet-install.sh | bash -s -- --channel 10.0')
    }
    $env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'; $env:DOTNET_NOLOGO = '1'
}

function Invoke-NativeSuites {
    $debugInfo = '-DCMAKE_BUILD_TYPE=RelWithDebInfo'
    Test-Native 'native x86-64' (Join-Path $BuildRoot 'test') @($debugInfo)
    Test-Native 'ASan+UBSan' (Join-Path $BuildRoot 'asan') @($debugInfo, '-DFBR_SANITIZE=address')
    Test-Native 'TSan' (Join-Path $BuildRoot 'tsan') @($debugInfo, '-DFBR_SANITIZE=thread')
    $toolchain = Join-Path $Root 'cmake/toolchains/aarch64-linux-gnu.cmake'
    Test-Native 'ARM64 (qemu)' (Join-Path $BuildRoot 'arm64') @($debugInfo, "-DCMAKE_TOOLCHAIN_FILE=$toolchain")
}

function Invoke-DotNetSuites {
    Assert-DotNet
    Say 'building: Release native libraries for .NET (x86-64, arm64)'
    $release = Join-Path $BuildRoot 'release'
    $arm64 = Join-Path $BuildRoot 'arm64-release'
    $toolchain = Join-Path $Root 'cmake/toolchains/aarch64-linux-gnu.cmake'
    $built = (Build-Tree $release @('-DCMAKE_BUILD_TYPE=Release', '-DFBR_BUILD_TESTS=OFF', '-DFBR_BUILD_BENCH=OFF')) -and
        (Build-Tree $arm64 @('-DCMAKE_BUILD_TYPE=Release', '-DFBR_BUILD_TESTS=OFF', '-DFBR_BUILD_BENCH=OFF',
            '-DFBR_BUILD_DEMO=OFF', "-DCMAKE_TOOLCHAIN_FILE=$toolchain"))
    if (-not $built) {
        Write-Host 'the Release native build failed'
        Add-Result 'Release native (build)' 0 1
        return
    }
    $project = Join-Path $Root 'tests/FiberRuntime.Tests/FiberRuntime.Tests.csproj'
    $analyzers = Join-Path $Root 'tests/FiberRuntime.Analyzers.Tests/FiberRuntime.Analyzers.Tests.csproj'
    Invoke-Counted 'C# (NUnit, JIT)' { Invoke-DotNetTest @($project, "-p:FiberRuntimeNativeDir=$release/native/") }
    Invoke-Counted 'C# analyzers (NUnit)' { Invoke-DotNetTest @($analyzers) }
    Invoke-Counted 'C# (NUnit, ARM64 qemu)' { & (Join-Path $Root 'tests/FiberRuntime.Tests/run_arm64.sh') --native-build-dir $arm64 }
    Invoke-Counted 'C# smoke (JIT + NativeAOT, x86-64)' { & (Join-Path $Root 'tests/FiberRuntime.Smoke/run.sh') --rid linux-x64 }
    Invoke-Counted 'C# smoke (JIT + NativeAOT, ARM64 qemu)' { & (Join-Path $Root 'tests/FiberRuntime.Smoke/run.sh') --rid linux-arm64 }
    Invoke-Counted 'NuGet package consumer (JIT + NativeAOT)' { & (Join-Path $Root 'samples/Consumer/run.sh') }
    Invoke-Counted 'fibers tool (NativeAOT: tour, stress, bench)' { & (Join-Path $Root 'src/FiberRuntime.Cli/check.sh') }
}

function Invoke-Tests([string]$Which = 'all') {
    if ($Which -notin 'all', 'native', 'dotnet') { Write-Error "unknown test selection '$Which' (use: all, native or dotnet)"; exit 2 }
    Install-Missing 'test'
    if ($Which -ne 'dotnet') { Invoke-NativeSuites }
    if ($Which -ne 'native') { Invoke-DotNetSuites }
    Say 'summary'
    if ($script:FailedSuites.Count -gt 0) {
        Write-Host 'what the failing suites reported:'
        $script:FailureDigest | ForEach-Object { Write-Host $_ }
        Write-Host "failing suites: $($script:FailedSuites -join ', ')"
    }
    Write-Host "$($script:TotalPassed) passed, $($script:TotalFailed) failed"
    if ($script:TotalFailed -ne 0) { exit 1 }
}

# ---- main job and benchmarks ------------------------------------------------

function Invoke-Main {
    Install-Missing 'main'
    Say 'building (Release)'
    $release = Join-Path $BuildRoot 'release'
    if (-not (Build-Tree $release @('-DCMAKE_BUILD_TYPE=Release', '-DFBR_BUILD_TESTS=OFF', '-DFBR_BUILD_BENCH=OFF'))) {
        throw 'the build failed'
    }
    Assert-DotNet
    Say 'building the fibers tool (NativeAOT)'
    $out = Join-Path $Root 'artifacts/fibers'
    & dotnet publish (Join-Path $Root 'src/FiberRuntime.Cli') -c Release -r linux-x64 "-p:FibersNativeBuildDir=$release/" -o $out | Out-Null
    if ($LASTEXITCODE -ne 0) { throw 'building the fibers tool failed' }
    Say "fibers $($Rest -join ' ')"
    Invoke-Checked (Join-Path $out 'fibers') $Rest
}

function Invoke-Bench {
    Install-Missing 'bench'
    Say 'building benchmarks (Release)'
    $release = Join-Path $BuildRoot 'release'
    if (-not (Build-Tree $release @('-DCMAKE_BUILD_TYPE=Release', '-DFBR_BUILD_TESTS=OFF', '-DFBR_BUILD_BENCH=ON'))) {
        throw 'the build failed'
    }
    Say 'native core vs Boost.Context'
    Invoke-Checked (Join-Path $release 'native/bench/fbr_bench_core') $Rest
    Say 'poller: epoll vs io_uring readiness notification'
    Invoke-Checked (Join-Path $release 'native/bench/fbr_bench_poller') @()
    Say 'scheduler vs Go, Boost.Fiber and pthreads'
    Invoke-Checked (Join-Path $Root 'native/bench/run_sched_bench.sh') @($release, '--runs', '3')
    Assert-DotNet
    Say 'C# binding vs System.Threading.Channels and Tasks'
    Invoke-Checked 'dotnet' @('run', '-c', 'Release', '--project', (Join-Path $Root 'src/FiberRuntime.Bench'), "-p:FiberRuntimeNativeDir=$release/native/")
    Say 'HTTP: fibers serve vs Go net/http and ASP.NET Core (wrk, 100 and 10,000 connections)'
    $fibersOut = Join-Path $Root 'artifacts/fibers'
    & dotnet publish (Join-Path $Root 'src/FiberRuntime.Cli') -c Release -r linux-x64 "-p:FibersNativeBuildDir=$release/" -o $fibersOut | Out-Null
    if ($LASTEXITCODE -ne 0) { throw 'building the fibers tool failed' }
    Invoke-Checked (Join-Path $Root 'native/bench/run_http_bench.sh') @((Join-Path $fibersOut 'fibers'), '--runs', '3')
}

# Options for the tour may come first: ./build.ps1 --fibers 100000
if ($Command.StartsWith('-') -and $Command -notin '-h', '--help') {
    $Rest = @($Command) + $Rest
    $Command = 'run'
}

switch ($Command) {
    'run' { Invoke-Main }
    'test' { if ($Rest.Count -gt 0) { Invoke-Tests $Rest[0] } else { Invoke-Tests } }
    'bench' { Invoke-Bench }
    { $_ -in 'help', '-h', '--help' } { Get-Content $PSCommandPath | Select-Object -Skip 1 -First 14 | ForEach-Object { $_ -replace '^# ?', '' } }
    default { $Rest = @($Command) + $Rest; Invoke-Main } # a fibers command: stress, --fibers N ...
}
