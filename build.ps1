#!/usr/bin/env pwsh
# FiberRuntime build driver for PowerShell: the same steps as build.sh.
#
#   ./build.ps1          install what is missing, build, run the tour (the main job)
#   ./build.ps1 test     install what is missing, build and run every test suite:
#                        native (x86-64), ASan+UBSan, TSan, ARM64 under qemu
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
        'gcc-aarch64-linux-gnu', 'libc6-dev-arm64-cross')
    bench = @('cmake', 'make', 'gcc', 'libc6-dev', 'pkg-config', 'libboost-context-dev')
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

function Add-Result([string]$Name, [int]$Passed, [int]$Failed) {
    $script:TotalPassed += $Passed
    $script:TotalFailed += $Failed
    if ($Failed -gt 0) { $script:FailedSuites += $Name }
}

# Runs one CTest suite and adds its counts. Skipped tests count as neither.
function Invoke-CTest([string]$Name, [string]$Dir) {
    Say "tests: $Name"
    $junit = Join-Path $Dir 'ctest-results.xml'
    Remove-Item -Force -ErrorAction SilentlyContinue $junit
    Push-Location $Dir
    try { & ctest -j $Jobs --output-on-failure --output-junit $junit | Out-Host; $status = $LASTEXITCODE }
    finally { Pop-Location }
    $tests = 0; $failures = 0; $skipped = 0
    if (Test-Path $junit) {
        $suite = ([xml](Get-Content -Raw $junit)).testsuite
        $tests = [int]$suite.tests; $failures = [int]$suite.failures; $skipped = [int]$suite.skipped
    }
    if ($status -ne 0 -and $failures -eq 0) { $failures = 1 } # ctest itself failed: never report green
    $passed = $tests - $failures - $skipped
    Write-Host "${Name}: $passed passed, $failures failed, $skipped skipped"
    Add-Result $Name $passed $failures
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

function Invoke-Tests {
    Install-Missing 'test'
    $debugInfo = '-DCMAKE_BUILD_TYPE=RelWithDebInfo'
    Test-Native 'native x86-64' (Join-Path $BuildRoot 'test') @($debugInfo)
    Test-Native 'ASan+UBSan' (Join-Path $BuildRoot 'asan') @($debugInfo, '-DFBR_SANITIZE=address')
    Test-Native 'TSan' (Join-Path $BuildRoot 'tsan') @($debugInfo, '-DFBR_SANITIZE=thread')
    $toolchain = Join-Path $Root 'cmake/toolchains/aarch64-linux-gnu.cmake'
    Test-Native 'ARM64 (qemu)' (Join-Path $BuildRoot 'arm64') @($debugInfo, "-DCMAKE_TOOLCHAIN_FILE=$toolchain")
    Say 'summary'
    if ($script:FailedSuites.Count -gt 0) { Write-Host "failing suites: $($script:FailedSuites -join ', ')" }
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
    Say 'running the native tour'
    Invoke-Checked (Join-Path $release 'native/demo/fbr_tour') $Rest
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
}

# Options for the tour may come first: ./build.ps1 --fibers 100000
if ($Command.StartsWith('-') -and $Command -notin '-h', '--help') {
    $Rest = @($Command) + $Rest
    $Command = 'run'
}

switch ($Command) {
    'run' { Invoke-Main }
    'test' { Invoke-Tests }
    'bench' { Invoke-Bench }
    { $_ -in 'help', '-h', '--help' } { Get-Content $PSCommandPath | Select-Object -Skip 1 -First 10 | ForEach-Object { $_ -replace '^# ?', '' } }
    default { Write-Error "unknown command '$Command' (use: ./build.ps1 [test|bench])"; exit 2 }
}
