using System;
using System.IO;

namespace FiberRuntime.Cli.Measure;

/// <summary>What the kernel says this process holds: the figures per fiber and per thread are differences of these.</summary>
internal static class ProcessMemory
{
    /// <summary>Resident set size in bytes (VmRSS), or -1 where /proc is missing.</summary>
    public static long ResidentBytes() => StatusKib("VmRSS") * 1024;

    /// <summary>Peak resident set size in bytes (VmHWM), or -1.</summary>
    public static long PeakResidentBytes() => StatusKib("VmHWM") * 1024;

    /// <summary>Lines of /proc/self/maps: the memory mappings, which vm.max_map_count caps.</summary>
    public static long Mappings()
    {
        try
        {
            long lines = 0;
            using var reader = new StreamReader("/proc/self/maps");
            while (reader.ReadLine() != null)
                lines++;
            return lines;
        }
        catch (IOException) { return -1; }
        catch (UnauthorizedAccessException) { return -1; }
    }

    private static long StatusKib(string field)
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.Length > field.Length && line.StartsWith(field, StringComparison.Ordinal) && line[field.Length] == ':')
                {
                    string value = line[(field.Length + 1)..].Trim();
                    int space = value.IndexOf(' ', StringComparison.Ordinal);
                    return long.Parse(space < 0 ? value : value[..space], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return -1;
    }
}
