using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NUnit.Framework;

namespace FiberRuntime.Tests.BindingDrift;

/// <summary>
/// Guards the hand-written C# bindings (src/FiberRuntime/Interop) against drifting away from the
/// C headers they mirror: a wrong width or a missing parameter there is not a compile error on
/// either side, only memory corruption at run time.
/// </summary>
[Category("BindingDrift")]
[Category("HostOnly")] // run_arm64.sh filters these out: the aarch64 sysroot has no libclang
public class BindingDriftTests
{
    // Parsed once for all tests; a failure to parse (no libclang, say) is cached too, so every
    // test reports the same cause instead of passing on an empty model.
    private static readonly Lazy<HeaderModel> s_header = new(() => HeaderModel.Load(FindRepoRoot()));

    private static HeaderModel Header => s_header.Value;

    [Test]
    public void The_header_model_and_the_binding_reflection_both_see_the_real_api()
    {
        HeaderModel header = Header;
        Assert.That(header.Functions, Does.ContainKey("fbr_chan_create"));
        CFunction create = header.Functions["fbr_chan_create"];
        CStruct stats = header.Structs.GetValueOrDefault("fbr_sched_stats")
                        ?? throw new AssertionException("fbr_sched_stats is missing from the header model");
        using (Assert.EnterMultipleScope())
        {
            Assert.That(create.Parameters, Has.Count.EqualTo(3), create.ToString);
            Assert.That(create.Parameters[0].Type.Target?.Target?.Name, Is.EqualTo("fbr_chan"), create.ToString);
            // The resource directory is what keeps size_t from silently parsing as int.
            Assert.That(create.Parameters[1].Type.Spelling, Is.EqualTo("size_t"));
            Assert.That(create.Parameters[1].Type.Size, Is.EqualTo(IntPtr.Size));
            Assert.That(create.Parameters[1].Type.Width, Is.EqualTo(IntegerWidth.PointerSized));
            Assert.That(header.Constants["FBR_ECLOSED"].Value, Is.EqualTo((Int128)(-11)), "an enum constant");
            Assert.That(header.Constants["FBR_CHAN_MAX_CAPACITY"].Value, Is.EqualTo((Int128)1 << 30), "a #define");
            Assert.That(header.Constants["FBR_NO_DEADLINE"].Value, Is.EqualTo((Int128)long.MaxValue), "INT64_MAX");
            Assert.That(stats.IsComplete, Is.True);
            Assert.That(stats.Fields.Single(f => f.Name == "spawned").Size, Is.EqualTo(8));
            Assert.That(header.Functions, Has.Count.GreaterThanOrEqualTo(40));
            Assert.That(header.Structs.Values.Count(s => s.IsComplete), Is.GreaterThanOrEqualTo(5));
            Assert.That(header.Constants.Values.Count(c => c.Value is not null), Is.GreaterThanOrEqualTo(30));

            Assert.That(BindingComparison.Imports(typeof(Interop)).Count(), Is.GreaterThanOrEqualTo(40),
                        "LibraryImport methods found on Interop");
            Assert.That(BindingComparison.MirroredStructs(typeof(Interop)).Count(), Is.GreaterThanOrEqualTo(5),
                        "structs found on Interop");
            Assert.That(BindingComparison.Constants(typeof(Interop)).Count(), Is.GreaterThanOrEqualTo(20),
                        "FBR_ constants found on Interop");
        }
    }

    [Test]
    public void Every_imported_function_matches_its_C_declaration()
    {
        List<string> problems = BindingComparison.CompareFunctions(Header, typeof(Interop));
        List<string> unbound = BindingComparison.UnboundFunctions(Header, typeof(Interop));
        TestContext.Out.WriteLine($"C functions with no binding (not an error): {string.Join(", ", unbound)}");
        Assert.That(problems, Is.Empty, () => Report("function", problems));
    }

    [Test]
    public void Every_mirrored_struct_has_the_C_layout()
    {
        List<string> problems =
            BindingComparison.CompareStructs(Header, BindingComparison.MirroredStructs(typeof(Interop)));
        Assert.That(problems, Is.Empty, () => Report("struct", problems));
    }

    [Test]
    public void Every_FBR_constant_has_the_C_value()
    {
        List<string> problems = BindingComparison.CompareConstants(Header, typeof(Interop));
        Assert.That(problems, Is.Empty, () => Report("constant", problems));
    }

    [Test]
    public void Planted_function_drift_is_reported()
    {
        List<string> problems = BindingComparison.CompareFunctions(Header, typeof(DriftSamples));
        using (Assert.EnterMultipleScope())
        {
            AssertReported(problems, nameof(DriftSamples.ChanCreateWithIntSize), "parameter 2", "size_t");
            AssertReported(problems, nameof(DriftSamples.ChanSendWithoutElem), "2 parameters", "C# has 1");
            AssertReported(problems, nameof(DriftSamples.ChanLenReturningInt), "return", "size_t");
            AssertReported(problems, nameof(DriftSamples.NowReturningInt), "return", "int64_t");
            AssertReported(problems, nameof(DriftSamples.WaitGroupAddWithNint), "parameter 2", "int64_t");
            AssertReported(problems, nameof(DriftSamples.StatsIntoTheWrongStruct), "parameter 2", "fbr_sched_stats");
            AssertReported(problems, nameof(DriftSamples.SpawnWithTwoArgumentEntry), "parameter 3", "1 parameter");
            AssertReported(problems, "fbr_no_such_function", "no function");
            Assert.That(problems, Has.None.Contains(nameof(DriftSamples.ChanCloseAsDeclared))
                                      .And.None.Contains(nameof(DriftSamples.StackStatsAsDeclared)),
                        () => Report("function", problems));
        }
    }

    [Test]
    public void Planted_struct_drift_is_reported()
    {
        List<string> problems =
            BindingComparison.CompareStructs(Header, BindingComparison.MirroredStructs(typeof(DriftSamples)));
        using (Assert.EnterMultipleScope())
        {
            AssertReported(problems, "fbr_sched_stats", "workers", "unsigned int");
            AssertReported(problems, "fbr_sched_stats", "finished", "no C# field");
            AssertReported(problems, "fbr_sched_stats", "extra", "no C field");
            AssertReported(problems, "fbr_worker_stats", "size", "32");
            AssertReported(problems, "fbr_select_case", "result", "offset");
            AssertReported(problems, "fbr_renamed_options", "no C struct");
            Assert.That(problems, Has.None.Contains("fbr_stack_stats"), () => Report("struct", problems));
        }
    }

    [Test]
    public void Planted_constant_drift_is_reported()
    {
        List<string> problems = BindingComparison.CompareConstants(Header, typeof(DriftSamples));
        using (Assert.EnterMultipleScope())
        {
            AssertReported(problems, nameof(DriftSamples.FBR_ECLOSED), "-11", "-12");
            AssertReported(problems, nameof(DriftSamples.FBR_SECOND), "1000000000");
            AssertReported(problems, nameof(DriftSamples.FBR_NOT_IN_THE_HEADER), "no macro or enum constant");
            Assert.That(problems, Has.None.Contains(nameof(DriftSamples.FBR_CHAN_MAX_CAPACITY)),
                        () => Report("constant", problems));
        }
    }

    private static void AssertReported(List<string> problems, params string[] fragments) =>
        Assert.That(problems.Any(p => fragments.All(f => p.Contains(f, StringComparison.Ordinal))), Is.True,
                    () => $"expected a problem mentioning all of [{string.Join(", ", fragments)}]; got:\n  " +
                          string.Join("\n  ", problems));

    private static string Report(string what, List<string> problems) =>
        $"{problems.Count} {what} mismatch(es) between native/include/fiberrt.h and the C# bindings:\n  " +
        string.Join("\n  ", problems);

    private static string FindRepoRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FiberRuntime.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException(
            $"No FiberRuntime.sln above {AppContext.BaseDirectory}: the drift tests read the C headers " +
            "from the repository the tests were built in.");
    }
}

/// <summary>
/// Compares C# declarations, found by reflection, with the header model. Every method returns
/// the complete list of mismatches so that one run shows all the drift at once.
/// </summary>
internal static class BindingComparison
{
    private const string StructPrefix = "fbr_";
    private const string ConstantPrefix = "FBR_";

    private const BindingFlags DeclaredStatics =
        BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(void)] = "void", [typeof(bool)] = "bool", [typeof(char)] = "char", [typeof(sbyte)] = "sbyte",
        [typeof(byte)] = "byte", [typeof(short)] = "short", [typeof(ushort)] = "ushort", [typeof(int)] = "int",
        [typeof(uint)] = "uint", [typeof(long)] = "long", [typeof(ulong)] = "ulong", [typeof(nint)] = "nint",
        [typeof(nuint)] = "nuint", [typeof(float)] = "float", [typeof(double)] = "double",
        [typeof(string)] = "string",
    };

    /// <summary>
    /// The P/Invokes declared on a class and the C function each calls. The LibraryImport
    /// attribute stays on the declared partial method, whose signature is the one written by
    /// hand; the generator's inner [DllImport] stubs have compiler names and are skipped.
    /// </summary>
    public static IEnumerable<(MethodInfo Method, string EntryPoint)> Imports(Type bindingClass)
    {
        foreach (MethodInfo method in bindingClass.GetMethods(DeclaredStatics))
        {
            if (method.Name.Contains('<', StringComparison.Ordinal))
                continue;
            if (method.GetCustomAttribute<LibraryImportAttribute>() is { } import)
                yield return (method, import.EntryPoint ?? method.Name);
            else if (method.GetCustomAttribute<DllImportAttribute>() is { } dllImport)
                yield return (method, dllImport.EntryPoint ?? method.Name);
        }
    }

    public static IEnumerable<FieldInfo> Constants(Type bindingClass) =>
        bindingClass.GetFields(DeclaredStatics)
            .Where(f => f.IsLiteral && f.Name.StartsWith(ConstantPrefix, StringComparison.Ordinal));

    /// <summary>The structs nested in the class, plus any other struct its imports pass to C.</summary>
    public static IEnumerable<Type> MirroredStructs(Type bindingClass)
    {
        var found = new HashSet<Type>();
        void Visit(Type type)
        {
            while (type.HasElementType)
                type = type.GetElementType()!;
            if (type.IsFunctionPointer)
            {
                foreach (Type t in type.GetFunctionPointerParameterTypes().Append(type.GetFunctionPointerReturnType()))
                    Visit(t);
                return;
            }
            if (!type.IsValueType || type.IsPrimitive || type.IsEnum || type.Name.Contains('<', StringComparison.Ordinal) ||
                type.Assembly == typeof(object).Assembly || !found.Add(type))
            {
                return;
            }
            foreach (FieldInfo field in InstanceFields(type))
                Visit(field.FieldType);
        }
        foreach (Type nested in bindingClass.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
            Visit(nested);
        foreach ((MethodInfo method, _) in Imports(bindingClass))
        {
            foreach (ParameterInfo parameter in method.GetParameters())
                Visit(parameter.ParameterType);
            Visit(method.ReturnType);
        }
        return found;
    }

    public static List<string> UnboundFunctions(HeaderModel header, Type bindingClass)
    {
        var bound = Imports(bindingClass).Select(i => i.EntryPoint).ToHashSet(StringComparer.Ordinal);
        return header.Functions.Keys.Where(name => !bound.Contains(name)).Order(StringComparer.Ordinal).ToList();
    }

    public static List<string> CompareFunctions(HeaderModel header, Type bindingClass)
    {
        var problems = new List<string>();
        foreach ((MethodInfo method, string entry) in Imports(bindingClass))
        {
            string label = method.Name == entry ? entry : $"{method.Name} (entry point {entry})";
            if (!header.Functions.TryGetValue(entry, out CFunction? function))
            {
                problems.Add($"{label}: the header declares no function {entry} (renamed or removed?)");
                continue;
            }
            string where = $"[C: {function} at {function.Location}; C#: {Signature(method)}]";
            if (function.IsVariadic)
            {
                problems.Add($"{label}: the C function is variadic or has no prototype, so its arguments " +
                             $"cannot be checked {where}");
                continue;
            }
            ParameterInfo[] parameters = method.GetParameters();
            if (parameters.Length != function.Parameters.Count)
            {
                problems.Add($"{label}: C has {Count(function.Parameters.Count, "parameter")}, " +
                             $"C# has {parameters.Length.ToString(CultureInfo.InvariantCulture)} {where}");
                continue;
            }
            for (int i = 0; i < parameters.Length; i++)
            {
                CParameter c = function.Parameters[i];
                if (Mismatch(c.Type, parameters[i].ParameterType, parameters[i]) is { } reason)
                {
                    problems.Add($"{label} parameter {(i + 1).ToString(CultureInfo.InvariantCulture)} " +
                                 $"(C {c.Type.Spelling} {c.Name}, C# {Describe(parameters[i].ParameterType)} " +
                                 $"{parameters[i].Name}): {reason} {where}");
                }
            }
            if (Mismatch(function.Result, method.ReturnType, method.ReturnParameter) is { } returnReason)
            {
                problems.Add($"{label} return (C {function.Result.Spelling}, C# {Describe(method.ReturnType)}): " +
                             $"{returnReason} {where}");
            }
        }
        return problems;
    }

    public static List<string> CompareStructs(HeaderModel header, IEnumerable<Type> structs)
    {
        var problems = new List<string>();
        foreach (Type type in structs.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            string name = type.Name;
            if (!header.Structs.TryGetValue(name, out CStruct? c))
            {
                if (name.StartsWith(StructPrefix, StringComparison.Ordinal))
                    problems.Add($"struct {name}: the header has no C struct of that name (renamed or removed?)");
                continue;
            }
            if (!c.IsComplete)
            {
                problems.Add($"struct {name}: opaque in the header ({c.Location}), so it has no layout to mirror");
                continue;
            }
            if (type.StructLayoutAttribute?.Value == LayoutKind.Auto)
                problems.Add($"struct {name}: LayoutKind.Auto lets the runtime reorder fields; use Sequential");
            foreach (FieldInfo field in InstanceFields(type).Where(f => !IsBlittable(f.FieldType)))
            {
                problems.Add($"struct {name} field {field.Name}: {Describe(field.FieldType)} is not blittable, so " +
                             "the layout native code sees through a pointer differs from Marshal's");
            }
            long size = SizeOf(type);
            if (size != c.Size)
                problems.Add($"struct {name}: size is {Bytes(c.Size)} in C ({c.Location}), {Bytes(size)} in C#");

            var fields = InstanceFields(type).ToDictionary(f => f.Name, StringComparer.Ordinal);
            foreach (CField cField in c.Fields)
            {
                string label = $"struct {name} field {cField.Name}";
                if (!fields.TryGetValue(cField.Name, out FieldInfo? field))
                {
                    problems.Add($"{label} (C {cField.Type.Spelling}, " +
                                 $"offset {cField.Offset.ToString(CultureInfo.InvariantCulture)}, " +
                                 $"{Bytes(cField.Size)}): no C# field of that name");
                    continue;
                }
                if (cField.IsBitField)
                {
                    problems.Add($"{label}: a bit-field in C, which no C# field can mirror");
                    continue;
                }
                long offset = Marshal.OffsetOf(type, field.Name).ToInt64();
                if (offset != cField.Offset)
                {
                    problems.Add($"{label}: offset {cField.Offset.ToString(CultureInfo.InvariantCulture)} in C, " +
                                 $"{offset.ToString(CultureInfo.InvariantCulture)} in C#");
                }
                // The type check names the cause of most size differences; the size check
                // catches the rest (a by-value struct field whose mirror has the right name).
                long fieldSize = SizeOf(field.FieldType);
                if (Mismatch(cField.Type, field.FieldType, field) is { } reason)
                    problems.Add($"{label} (C {cField.Type.Spelling}, C# {Describe(field.FieldType)}): {reason}");
                else if (fieldSize != cField.Size)
                    problems.Add($"{label}: {Bytes(cField.Size)} in C ({cField.Type.Spelling}), {Bytes(fieldSize)} in C#");
            }
            var cNames = c.Fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
            foreach (string extra in fields.Keys.Where(n => !cNames.Contains(n)))
                problems.Add($"struct {name} field {extra}: no C field of that name ({c.Location})");
        }
        return problems;
    }

    public static List<string> CompareConstants(HeaderModel header, Type bindingClass)
    {
        var problems = new List<string>();
        foreach (FieldInfo field in Constants(bindingClass))
        {
            object? raw = field.GetRawConstantValue();
            string csValue = Convert.ToString(raw, CultureInfo.InvariantCulture) ?? "null";
            if (!header.Constants.TryGetValue(field.Name, out CConstant? c))
            {
                problems.Add($"{field.Name} = {csValue} in C#: the header has no macro or enum constant of that name");
                continue;
            }
            string origin = $"{c.Origin} at {c.Location}";
            if (raw is string text)
            {
                if (c.Text != text)
                {
                    string cText = c.Text is null ? "is not a string literal" : $"\"{c.Text}\"";
                    problems.Add($"{field.Name}: C {cText} ({origin}), C# \"{text}\"");
                }
            }
            else if (AsInteger(raw) is { } value)
            {
                if (c.Value is null)
                {
                    problems.Add($"{field.Name}: C is not an integer constant expression ({origin}), C# {csValue}");
                }
                else if (c.Value != value)
                {
                    problems.Add($"{field.Name}: C {c.Value.Value.ToString(CultureInfo.InvariantCulture)} " +
                                 $"({origin}), C# {csValue}");
                }
            }
            else
            {
                problems.Add($"{field.Name}: a C# {Describe(field.FieldType)} constant cannot be compared with C ({origin})");
            }
        }
        return problems;
    }

    /// <summary>Null when the C# type carries the C type across the ABI unchanged; otherwise why it does not.</summary>
    private static string? Mismatch(CType c, Type cs, ICustomAttributeProvider? site)
    {
        if (cs.IsByRef)
            return PointerMismatch(c, cs);
        return c.Kind switch
        {
            CTypeKind.Void => cs == typeof(void) ? null : "C has void",
            CTypeKind.Integer => IntegerMismatch(c, cs, site),
            CTypeKind.Enum => EnumMismatch(c, cs),
            CTypeKind.Floating => (cs == typeof(float) || cs == typeof(double)) && SizeOf(cs) == c.Size
                ? null
                : $"expected a {Bytes(c.Size)} floating-point type",
            CTypeKind.Pointer => PointerMismatch(c, cs),
            CTypeKind.Record => IsStructNamed(cs, c.Name)
                ? null
                : $"C passes struct {c.Name} by value: expected the C# struct {c.Name}",
            CTypeKind.Array => ArrayMismatch(c, cs, site),
            _ => $"{c.Spelling} is a kind of C type the drift test cannot compare",
        };
    }

    private static string? IntegerMismatch(CType c, Type cs, ICustomAttributeProvider? site)
    {
        if (cs == typeof(bool))
        {
            MarshalAsAttribute? marshalAs = site?.GetCustomAttributes(typeof(MarshalAsAttribute), false)
                .OfType<MarshalAsAttribute>().FirstOrDefault();
            long boolSize = marshalAs?.Value switch
            {
                UnmanagedType.Bool => 4,
                UnmanagedType.U1 or UnmanagedType.I1 => 1,
                UnmanagedType.VariantBool => 2,
                _ => -1,
            };
            return boolSize == c.Size ? null : $"a bool must be marshalled as {Bytes(c.Size)} ([MarshalAs])";
        }
        if (cs.IsEnum)
            cs = Enum.GetUnderlyingType(cs);
        string sign = c.IsSigned ? "signed" : "unsigned";
        switch (c.Width)
        {
            case IntegerWidth.PointerSized:
                Type expected = c.IsSigned ? typeof(nint) : typeof(nuint);
                return cs == expected ? null : $"{c.Spelling} follows the pointer size: expected {Describe(expected)}";
            case IntegerWidth.CLong:
                Type clong = c.IsSigned ? typeof(CLong) : typeof(CULong);
                return cs == clong ? null : $"C long differs in size between platforms: expected {clong.Name}";
        }
        if (cs == typeof(nint) || cs == typeof(nuint))
            return $"{Describe(cs)} follows the pointer size but {c.Spelling} is always {Bytes(c.Size)}";
        if (!IsInteger(cs, out bool signed))
            return $"expected a {Bytes(c.Size)} {sign} integer";
        if (SizeOf(cs) != c.Size)
            return $"{c.Spelling} is {Bytes(c.Size)}, {Describe(cs)} {Bytes(SizeOf(cs))}";
        // Plain char is signed or not at the ABI's whim; either C# byte type holds it.
        if (signed != c.IsSigned && !c.IsPlainChar)
            return $"{c.Spelling} is {sign}, {Describe(cs)} is not";
        return null;
    }

    /// <summary>
    /// An enum's signedness in C follows its values (unsigned int when none is negative), so only
    /// the size is compared: int stays right for a C enum even if a member goes negative later.
    /// </summary>
    private static string? EnumMismatch(CType c, Type cs)
    {
        if (cs.IsEnum)
            cs = Enum.GetUnderlyingType(cs);
        if (cs == typeof(nint) || cs == typeof(nuint) || !IsInteger(cs, out _))
            return $"C enum {c.Name} is a {Bytes(c.Size)} integer: expected int";
        return SizeOf(cs) == c.Size ? null : $"C enum {c.Name} is {Bytes(c.Size)}, {Describe(cs)} {Bytes(SizeOf(cs))}";
    }

    private static string? PointerMismatch(CType c, Type cs)
    {
        if (c.Kind != CTypeKind.Pointer || c.Target is null)
            return cs.IsByRef ? $"C {c.Spelling} is not a pointer, C# passes a reference" : "C has a pointer";
        CType target = c.Target;
        if (cs == typeof(nint) || cs == typeof(nuint) || typeof(SafeHandle).IsAssignableFrom(cs))
            return null;
        if (cs.IsFunctionPointer)
            return FunctionPointerMismatch(target, cs);
        if (cs.IsPointer || cs.IsByRef || cs.IsArray)
            return TargetMismatch(target, cs.GetElementType()!);
        if (cs == typeof(string))
        {
            return target.Kind == CTypeKind.Integer && target.Size == 1
                ? null
                : $"a string is passed as char *, not {c.Spelling}";
        }
        return "C has a pointer: expected nint, a typed pointer or an unmanaged function pointer";
    }

    private static string? TargetMismatch(CType target, Type element)
    {
        // void* on either side is a pointer the binding chose not to type, or one C leaves untyped.
        if (element == typeof(void) || target.Kind == CTypeKind.Void)
            return null;
        if (target.Kind == CTypeKind.Record)
        {
            return IsStructNamed(element, target.Name)
                ? null
                : $"C points to struct {target.Name}: a typed pointer must be {target.Name}*";
        }
        if (target.Kind == CTypeKind.Function)
            return "C has a function pointer: expected delegate* unmanaged<...> or nint";
        return Mismatch(target, element, null) is { } reason ? $"pointee: {reason}" : null;
    }

    private static string? FunctionPointerMismatch(CType target, Type cs)
    {
        if (target.Kind != CTypeKind.Function || target.Result is null)
            return "C has a data pointer, C# a function pointer";
        if (!cs.IsUnmanagedFunctionPointer)
            return "a managed delegate* cannot be called from C: use delegate* unmanaged";
        if (target.IsVariadic)
            return "the C callback is variadic";
        Type[] parameters = cs.GetFunctionPointerParameterTypes();
        if (parameters.Length != target.Parameters.Count)
        {
            return $"the C callback takes {Count(target.Parameters.Count, "parameter")}, " +
                   $"the C# one {Count(parameters.Length, "parameter")}";
        }
        var reasons = new List<string>();
        for (int i = 0; i < parameters.Length; i++)
        {
            if (Mismatch(target.Parameters[i], parameters[i], null) is { } reason)
            {
                reasons.Add($"callback parameter {(i + 1).ToString(CultureInfo.InvariantCulture)} " +
                            $"(C {target.Parameters[i].Spelling}, C# {Describe(parameters[i])}): {reason}");
            }
        }
        Type result = cs.GetFunctionPointerReturnType();
        if (Mismatch(target.Result, result, null) is { } resultReason)
            reasons.Add($"callback return (C {target.Result.Spelling}, C# {Describe(result)}): {resultReason}");
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    private static string? ArrayMismatch(CType c, Type cs, ICustomAttributeProvider? site)
    {
        Type? element = null;
        int length = 0;
        if (site?.GetCustomAttributes(typeof(FixedBufferAttribute), false).FirstOrDefault() is FixedBufferAttribute buffer)
        {
            element = buffer.ElementType;
            length = buffer.Length;
        }
        else if (cs.GetCustomAttribute<InlineArrayAttribute>() is { } inline &&
                 InstanceFields(cs).SingleOrDefault() is { } inlineField)
        {
            element = inlineField.FieldType;
            length = inline.Length;
        }
        if (element is null || c.Target is null)
            return $"C {c.Spelling} is an array: expected a fixed buffer or an [InlineArray] struct";
        if (length != c.Length)
        {
            return $"C has {c.Length.ToString(CultureInfo.InvariantCulture)} elements, " +
                   $"C# {length.ToString(CultureInfo.InvariantCulture)}";
        }
        return Mismatch(c.Target, element, null) is { } reason ? $"element: {reason}" : null;
    }

    private static bool IsStructNamed(Type cs, string? name) =>
        cs.IsValueType && !cs.IsPrimitive && !cs.IsEnum && cs.Name == name;

    private static bool IsInteger(Type cs, out bool signed)
    {
        signed = cs == typeof(sbyte) || cs == typeof(short) || cs == typeof(int) || cs == typeof(long) ||
                 cs == typeof(nint);
        return signed || cs == typeof(byte) || cs == typeof(ushort) || cs == typeof(char) || cs == typeof(uint) ||
               cs == typeof(ulong) || cs == typeof(nuint);
    }

    /// <summary>
    /// Whether the type looks the same to native code through a pointer as Marshal describes it:
    /// bool and char are widened or narrowed by the marshaller but not in managed memory.
    /// </summary>
    private static bool IsBlittable(Type type)
    {
        if (type.IsPointer || type.IsFunctionPointer)
            return true;
        if (type.IsEnum)
            type = Enum.GetUnderlyingType(type);
        if (type == typeof(bool) || type == typeof(char))
            return false;
        if (type.IsPrimitive)
            return true;
        return type.IsValueType && type.StructLayoutAttribute?.Value != LayoutKind.Auto &&
               InstanceFields(type).All(f => IsBlittable(f.FieldType));
    }

    private static FieldInfo[] InstanceFields(Type type) =>
        type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);

    /// <summary>The size in managed memory, which is what native code sees through a pointer.</summary>
    private static long SizeOf(Type type)
    {
        if (type == typeof(void))
            return 0;
        if (type.IsPointer || type.IsFunctionPointer || type.IsByRef || !type.IsValueType)
            return IntPtr.Size;
        MethodInfo sizeOf = typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type);
        return (int)sizeOf.Invoke(null, null)!;
    }

    private static Int128? AsInteger(object? raw) => raw switch
    {
        sbyte v => v,
        byte v => v,
        short v => v,
        ushort v => v,
        char v => v,
        int v => v,
        uint v => v,
        long v => v,
        ulong v => v,
        _ => null,
    };

    internal static string Describe(Type type)
    {
        if (type.IsByRef)
            return "ref " + Describe(type.GetElementType()!);
        if (type.IsPointer)
            return Describe(type.GetElementType()!) + "*";
        if (type.IsArray)
            return Describe(type.GetElementType()!) + "[]";
        if (type.IsFunctionPointer)
        {
            IEnumerable<string> types = type.GetFunctionPointerParameterTypes()
                .Append(type.GetFunctionPointerReturnType())
                .Select(Describe);
            return $"delegate* {(type.IsUnmanagedFunctionPointer ? "unmanaged" : "managed")}<{string.Join(", ", types)}>";
        }
        return Keywords.GetValueOrDefault(type) ?? type.Name;
    }

    private static string Signature(MethodInfo method) =>
        $"{Describe(method.ReturnType)} {method.Name}(" +
        string.Join(", ", method.GetParameters().Select(p => $"{Describe(p.ParameterType)} {p.Name}")) + ")";

    private static string Bytes(long size) =>
        size == 1 ? "1 byte" : $"{size.ToString(CultureInfo.InvariantCulture)} bytes";

    private static string Count(int n, string noun) =>
        $"{n.ToString(CultureInfo.InvariantCulture)} {noun}{(n == 1 ? "" : "s")}";
}

/// <summary>
/// Deliberately wrong bindings that the drift checks must report, next to a few correct ones
/// they must not; never called, only reflected over.
/// </summary>
internal static unsafe partial class DriftSamples
{
    private const string Library = "fiberrt";

    internal const int FBR_ECLOSED = -12;
    internal const long FBR_SECOND = 1_000_000;
    internal const int FBR_NOT_IN_THE_HEADER = 7;
    internal const ulong FBR_CHAN_MAX_CAPACITY = 1UL << 30;

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_sched_stats
    {
        public ulong workers;
        public ulong live_fibers;
        public ulong spawned;
        public ulong extra;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_worker_stats
    {
        public ulong runs;
        public ulong steals;
        public ulong parks;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_select_case
    {
        public nint chan;
        public int op;
        public int result;
        public nint elem;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_renamed_options
    {
        public int flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct fbr_stack_stats
    {
        public nuint limit;
        public nuint reserved;
        public nuint committed;
        public nuint high_water;
        public ulong growth_faults;
    }

    [LibraryImport(Library, EntryPoint = "fbr_chan_create")]
    internal static partial int ChanCreateWithIntSize(nint* channel, int elemSize, nuint capacity);

    [LibraryImport(Library, EntryPoint = "fbr_chan_send")]
    internal static partial int ChanSendWithoutElem(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_len")]
    internal static partial int ChanLenReturningInt(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_now")]
    internal static partial int NowReturningInt();

    [LibraryImport(Library, EntryPoint = "fbr_waitgroup_add")]
    internal static partial int WaitGroupAddWithNint(nint waitGroup, nint delta);

    [LibraryImport(Library, EntryPoint = "fbr_sched_stats_get")]
    internal static partial int StatsIntoTheWrongStruct(nint scheduler, fbr_worker_stats* stats,
                                                        fbr_worker_stats* perWorker, nuint capacity);

    [LibraryImport(Library, EntryPoint = "fbr_spawn")]
    internal static partial int SpawnWithTwoArgumentEntry(nint scheduler, nint* fiber,
                                                          delegate* unmanaged<nint, nint, nint> entry, nint arg,
                                                          nint options);

    [LibraryImport(Library, EntryPoint = "fbr_no_such_function")]
    internal static partial int Vanished(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_chan_close")]
    internal static partial int ChanCloseAsDeclared(nint channel);

    [LibraryImport(Library, EntryPoint = "fbr_fiber_stack_stats")]
    internal static partial int StackStatsAsDeclared(nint fiber, fbr_stack_stats* stats);
}
