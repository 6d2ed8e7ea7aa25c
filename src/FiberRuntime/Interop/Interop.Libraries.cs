namespace FiberRuntime;

/// <summary>
/// The native entry points of libfiberrt, one partial file per area of the C API
/// (<c>native/include/fiberrt/*.h</c>). Signatures mirror the header exactly; a test
/// parses the header with libclang and fails when they drift apart.
/// </summary>
internal static partial class Interop
{
    /// <summary>
    /// Library name: libfiberrt.so under the JIT; under NativeAOT the package's targets
    /// turn this into a direct call into the statically linked libfiberrt.a.
    /// </summary>
    internal const string Library = "fiberrt";
}
