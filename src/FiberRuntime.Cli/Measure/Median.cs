using System;
using System.Collections.Generic;
using System.Linq;

namespace FiberRuntime.Cli.Measure;

/// <summary>Medians: one slow run (a page-cache miss, a neighbour's burst on this shared machine) must not move a figure.</summary>
internal static class Median
{
    /// <summary>The median of the finite values, or null when there are none.</summary>
    public static double? Of(IEnumerable<double> values)
    {
        double[] sorted = values.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0)
            return null;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
