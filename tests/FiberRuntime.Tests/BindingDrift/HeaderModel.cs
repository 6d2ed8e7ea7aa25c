using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using static FiberRuntime.Tests.BindingDrift.LibClang;

namespace FiberRuntime.Tests.BindingDrift;

internal enum CTypeKind
{
    Unsupported,
    Void,
    Integer,
    Floating,
    Enum,
    Pointer,
    Function,
    Record,
    Array,
}

/// <summary>How the width of a C integer is defined, which decides the C# type that can mirror it.</summary>
internal enum IntegerWidth
{
    /// <summary>The same on every platform (int, unsigned, int64_t...): a C# integer of that size.</summary>
    Fixed,
    /// <summary>size_t, uintptr_t, ptrdiff_t...: follows the pointer size, so only nint/nuint track it.</summary>
    PointerSized,
    /// <summary>Plain long: 8 bytes on LP64 Unix, 4 on Windows; only CLong/CULong track it.</summary>
    CLong,
}

/// <summary>A C type reduced to what decides whether a C# type can stand in for it at the ABI.</summary>
internal sealed class CType
{
    public CTypeKind Kind { get; init; }

    /// <summary>As written in the header ("size_t", "fbr_chan **"), for messages.</summary>
    public string Spelling { get; init; } = "";

    /// <summary>Bytes; negative for incomplete types (opaque structs, functions).</summary>
    public long Size { get; init; }

    public bool IsSigned { get; init; }

    public IntegerWidth Width { get; init; }

    /// <summary>Plain char, whose signedness is the ABI's choice: byte and sbyte both mirror it.</summary>
    public bool IsPlainChar { get; init; }

    /// <summary>Tag name of a struct or enum.</summary>
    public string? Name { get; init; }

    /// <summary>Pointee of a pointer, element of an array.</summary>
    public CType? Target { get; init; }

    public long Length { get; init; }

    public IReadOnlyList<CType> Parameters { get; init; } = [];

    public CType? Result { get; init; }

    public bool IsVariadic { get; init; }

    public override string ToString() => Spelling;
}

internal sealed record CParameter(string Name, CType Type);

internal sealed record CFunction(string Name, CType Result, IReadOnlyList<CParameter> Parameters, bool IsVariadic,
                                 string Location)
{
    public override string ToString() =>
        $"{Result.Spelling} {Name}({string.Join(", ", Parameters.Select(p => $"{p.Type.Spelling} {p.Name}"))})";
}

internal sealed record CField(string Name, CType Type, long Offset, long Size, bool IsBitField);

internal sealed record CStruct(string Name, long Size, bool IsComplete, IReadOnlyList<CField> Fields, string Location);

/// <summary>
/// An enum constant or an object-like macro. Value is set when the macro is an integer constant
/// expression, Text when it is a string literal; neither for macros that are not values.
/// </summary>
internal sealed record CConstant(string Name, Int128? Value, string? Text, string Origin, string Location);

/// <summary>
/// The public C API as libclang sees it after preprocessing fiberrt.h: the functions, structs
/// and constants whose names start with fbr_/FBR_ and are declared under native/include.
/// </summary>
internal sealed class HeaderModel
{
    private const string ApiPrefix = "fbr_";
    private const string ConstantPrefix = "FBR_";
    private const string MacroVariablePrefix = "fbr_binding_drift_macro_";

    // Typedefs whose width is the pointer width by definition, however the platform spells them.
    private static readonly HashSet<string> PointerSizedTypedefs =
        ["size_t", "ssize_t", "ptrdiff_t", "intptr_t", "uintptr_t"];

    private readonly string _includeDirectory;

    private HeaderModel(string includeDirectory, IReadOnlyList<string> arguments)
    {
        _includeDirectory = Path.GetFullPath(includeDirectory);
        CompilerArguments = arguments;
    }

    public Dictionary<string, CFunction> Functions { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, CStruct> Structs { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, CConstant> Constants { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<string> CompilerArguments { get; }

    /// <summary>Parses native/include/fiberrt.h of the repository at <paramref name="repoRoot"/>.</summary>
    public static HeaderModel Load(string repoRoot)
    {
        EnsureAvailable();
        string includeDirectory = Path.Combine(repoRoot, "native", "include");
        string header = Path.Combine(includeDirectory, "fiberrt.h");
        if (!File.Exists(header))
            throw new FileNotFoundException($"The public header is not where the drift test expects it: {header}");

        var model = new HeaderModel(includeDirectory, CompilerArgumentsFor(includeDirectory));
        nint index = CreateIndex();
        try
        {
            List<(string Name, string Location)> macros;
            nint unit = Parse(index, header, null, CXTranslationUnitFlags.DetailedPreprocessingRecord,
                               model.CompilerArguments);
            try
            {
                ThrowOnErrors(unit, header, model.CompilerArguments);
                macros = model.CollectDeclarations(unit);
            }
            finally
            {
                clang_disposeTranslationUnit(unit);
            }
            model.EvaluateMacros(index, macros);
        }
        finally
        {
            clang_disposeIndex(index);
        }
        return model;
    }

    /// <summary>
    /// Without clang's own stddef.h (its resource directory, from libclang-common-14-dev, or gcc's
    /// equivalent) libclang still returns a translation unit: the only sign is a diagnostic nobody
    /// prints, and size_t quietly becomes int, so every size_t parameter would look like drift.
    /// Hence a directory that has it is passed explicitly, and any error fails the load.
    /// </summary>
    private static string[] CompilerArgumentsFor(string includeDirectory)
    {
        // No error limit: the macro unit has one deliberate error per macro that is not a value,
        // and clang stops parsing after the 20th error by default.
        var arguments = new List<string> { "-x", "c", "-std=c11", "-I", includeDirectory, "-ferror-limit=0" };
        string? resourceDirectory = FindDirectoryWithStddef("/usr/lib/llvm-14/lib/clang", "include");
        if (resourceDirectory is not null)
        {
            arguments.AddRange(["-resource-dir", resourceDirectory]);
        }
        else
        {
            string triple = RuntimeInformation.ProcessArchitecture == Architecture.Arm64
                ? "aarch64-linux-gnu"
                : "x86_64-linux-gnu";
            string? gccVersionDirectory = FindDirectoryWithStddef($"/usr/lib/gcc/{triple}", "include");
            if (gccVersionDirectory is not null)
                arguments.AddRange(["-isystem", Path.Combine(gccVersionDirectory, "include")]);
        }
        return [.. arguments];
    }

    /// <summary>The newest version directory under <paramref name="parent"/> whose sub/stddef.h exists.</summary>
    private static string? FindDirectoryWithStddef(string parent, string sub)
    {
        if (!Directory.Exists(parent))
            return null;
        return Directory.GetDirectories(parent)
            .Where(d => File.Exists(Path.Combine(d, sub, "stddef.h")))
            .OrderByDescending(d => Version.TryParse(Path.GetFileName(d), out Version? v) ? v : new Version(0, 0))
            .FirstOrDefault();
    }

    private static unsafe nint Parse(nint index, string path, string? contents, CXTranslationUnitFlags flags,
                                     IReadOnlyList<string> arguments)
    {
        var allocations = new List<nint>();
        byte* Utf8(string s)
        {
            nint p = Marshal.StringToCoTaskMemUTF8(s);
            allocations.Add(p);
            return (byte*)p;
        }
        try
        {
            byte** argv = stackalloc byte*[arguments.Count];
            for (int i = 0; i < arguments.Count; i++)
                argv[i] = Utf8(arguments[i]);
            byte* file = Utf8(path);
            CXUnsavedFile unsaved = default;
            if (contents is not null)
            {
                unsaved.Filename = file;
                unsaved.Contents = Utf8(contents);
                unsaved.Length = (nuint)Encoding.UTF8.GetByteCount(contents);
            }
            nint unit;
            CXErrorCode rc = clang_parseTranslationUnit2(index, file, argv, arguments.Count, &unsaved,
                                                          contents is null ? 0u : 1u, flags, &unit);
            if (rc != CXErrorCode.Success)
                throw new InvalidOperationException($"libclang could not parse {path}: {rc}");
            return unit;
        }
        finally
        {
            allocations.ForEach(Marshal.FreeCoTaskMem);
        }
    }

    private static void ThrowOnErrors(nint unit, string path, IReadOnlyList<string> arguments)
    {
        var errors = new List<string>();
        uint count = clang_getNumDiagnostics(unit);
        for (uint i = 0; i < count; i++)
        {
            nint diagnostic = clang_getDiagnostic(unit, i);
            try
            {
                if (clang_getDiagnosticSeverity(diagnostic) >= CXDiagnosticSeverity.Error)
                    errors.Add(Take(clang_formatDiagnostic(diagnostic, clang_defaultDiagnosticDisplayOptions())));
            }
            finally
            {
                clang_disposeDiagnostic(diagnostic);
            }
        }
        if (errors.Count == 0)
            return;
        string hint = errors.Any(e => e.Contains("file not found", StringComparison.Ordinal))
            ? "\nA system header is missing: clang's built-in headers come with libclang-common-14-dev, " +
              "gcc's (used instead when that is absent) with gcc; libc's with libc6-dev."
            : "";
        throw new InvalidOperationException(
            $"libclang reported errors parsing {path} (arguments: {string.Join(' ', arguments)}); " +
            $"the model would be wrong, so nothing is compared:\n{string.Join('\n', errors)}{hint}");
    }

    private string RelativeLocation(string file, uint line) =>
        $"{Path.GetRelativePath(_includeDirectory, file)}:{line.ToString(CultureInfo.InvariantCulture)}";

    private bool IsOurs(CXCursor cursor, out string location)
    {
        (string file, uint line) = Location(cursor);
        location = file.Length == 0 ? "" : RelativeLocation(file, line);
        return file.Length != 0 &&
               Path.GetFullPath(file).StartsWith(_includeDirectory + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }

    /// <summary>Fills the functions, structs and enum constants; returns the object-like FBR_ macros to evaluate.</summary>
    private List<(string Name, string Location)> CollectDeclarations(nint unit)
    {
        var macros = new List<(string, string)>();
        foreach (CXCursor cursor in Children(clang_getTranslationUnitCursor(unit)))
        {
            if (!IsOurs(cursor, out string location))
                continue;
            string name = Spelling(cursor);
            switch (clang_getCursorKind(cursor))
            {
                case CXCursorKind.FunctionDecl when name.StartsWith(ApiPrefix, StringComparison.Ordinal):
                    Functions[name] = ReadFunction(cursor, name, location);
                    break;
                case CXCursorKind.StructDecl when name.StartsWith(ApiPrefix, StringComparison.Ordinal):
                    AddStruct(cursor, name, location);
                    break;
                case CXCursorKind.TypedefDecl when name.StartsWith(ApiPrefix, StringComparison.Ordinal):
                    AddAnonymousStructTypedef(cursor, name, location);
                    break;
                case CXCursorKind.EnumDecl:
                    AddEnumConstants(cursor, name);
                    break;
                case CXCursorKind.MacroDefinition when name.StartsWith(ConstantPrefix, StringComparison.Ordinal) &&
                                                       clang_Cursor_isMacroFunctionLike(cursor) == 0 &&
                                                       clang_Cursor_isMacroBuiltin(cursor) == 0:
                    macros.Add((name, location));
                    break;
            }
        }
        return macros;
    }

    private static CFunction ReadFunction(CXCursor cursor, string name, string location)
    {
        CType type = ReadType(clang_getCursorType(cursor));
        if (type.Kind != CTypeKind.Function || type.Result is null)
        {
            // int f() in C takes anything: there is no parameter list to compare, which the
            // comparison reports like a variadic function.
            var unknown = new CType { Kind = CTypeKind.Unsupported, Spelling = type.Spelling, Size = -1 };
            return new CFunction(name, unknown, [], true, location);
        }
        List<string> names = Children(cursor)
            .Where(c => clang_getCursorKind(c) == CXCursorKind.ParmDecl)
            .Select(Spelling)
            .ToList();
        var parameters = type.Parameters
            .Select((t, i) => new CParameter(i < names.Count && names[i].Length > 0 ? names[i] : $"#{i + 1}", t))
            .ToList();
        return new CFunction(name, type.Result, parameters, type.IsVariadic, location);
    }

    private void AddStruct(CXCursor cursor, string name, string location)
    {
        bool isDefinition = clang_isCursorDefinition(cursor) != 0;
        // An opaque forward declaration must not replace a definition seen earlier.
        if (!isDefinition && Structs.ContainsKey(name))
            return;
        Structs[name] = ReadStruct(cursor, name, location, isDefinition);
    }

    /// <summary>typedef struct { ... } fbr_x; has no tag, so the typedef name is the one the C# struct uses.</summary>
    private void AddAnonymousStructTypedef(CXCursor cursor, string name, string location)
    {
        if (Structs.ContainsKey(name))
            return;
        CXType underlying = clang_getCanonicalType(clang_getTypedefDeclUnderlyingType(cursor));
        if (underlying.Kind != CXTypeKind.Record)
            return;
        CXCursor record = clang_getTypeDeclaration(underlying);
        string tag = Spelling(record);
        if (tag.Length == 0 || tag.Contains('(', StringComparison.Ordinal))
            Structs[name] = ReadStruct(record, name, location, clang_isCursorDefinition(record) != 0);
    }

    private static CStruct ReadStruct(CXCursor cursor, string name, string location, bool isDefinition)
    {
        CXType type = clang_getCursorType(cursor);
        long size = clang_Type_getSizeOf(type);
        var fields = new List<CField>();
        if (isDefinition)
        {
            foreach (CXCursor field in Children(cursor).Where(c => clang_getCursorKind(c) == CXCursorKind.FieldDecl))
            {
                CXType fieldType = clang_getCursorType(field);
                fields.Add(new CField(Spelling(field), ReadType(fieldType), clang_Cursor_getOffsetOfField(field) / 8,
                                      clang_Type_getSizeOf(fieldType), clang_Cursor_isBitField(field) != 0));
            }
        }
        return new CStruct(name, size, isDefinition && size >= 0, fields, location);
    }

    private void AddEnumConstants(CXCursor enumDecl, string enumName)
    {
        bool unsigned = !IsSignedInteger(clang_getCanonicalType(clang_getEnumDeclIntegerType(enumDecl)).Kind);
        string origin = enumName.Length == 0 || enumName.Contains('(', StringComparison.Ordinal)
            ? "anonymous enum"
            : $"enum {enumName}";
        foreach (CXCursor constant in Children(enumDecl))
        {
            if (clang_getCursorKind(constant) != CXCursorKind.EnumConstantDecl)
                continue;
            string name = Spelling(constant);
            if (!name.StartsWith(ConstantPrefix, StringComparison.Ordinal) || !IsOurs(constant, out string location))
                continue;
            Int128 value = unsigned
                ? (Int128)clang_getEnumConstantDeclUnsignedValue(constant)
                : clang_getEnumConstantDeclValue(constant);
            Constants[name] = new CConstant(name, value, null, origin, location);
        }
    }

    /// <summary>
    /// libclang has no API that evaluates a macro, but it evaluates initialisers. A second
    /// translation unit, held in memory, includes the header and gives each macro a variable of
    /// the macro's own type; a macro that is not a value (FBR_API, say) just leaves an invalid
    /// declaration, which reads as "not a constant" rather than failing the whole parse.
    /// </summary>
    private void EvaluateMacros(nint index, List<(string Name, string Location)> macros)
    {
        var source = new StringBuilder("#include \"fiberrt.h\"\n");
        for (int i = 0; i < macros.Count; i++)
        {
            source.Append(CultureInfo.InvariantCulture,
                          $"static const __typeof__(({macros[i].Name})) {MacroVariablePrefix}{i} = ({macros[i].Name});\n");
        }
        // A path that does not exist: libclang reads the contents from memory, nothing is written.
        string path = Path.Combine(_includeDirectory, "fbr_binding_drift_macros.c");
        nint unit = Parse(index, path, source.ToString(), CXTranslationUnitFlags.SkipFunctionBodies, CompilerArguments);
        try
        {
            foreach (CXCursor cursor in Children(clang_getTranslationUnitCursor(unit)))
            {
                if (clang_getCursorKind(cursor) != CXCursorKind.VarDecl)
                    continue;
                string variable = Spelling(cursor);
                if (!variable.StartsWith(MacroVariablePrefix, StringComparison.Ordinal) ||
                    !int.TryParse(variable.AsSpan(MacroVariablePrefix.Length), NumberStyles.None,
                                  CultureInfo.InvariantCulture, out int i) ||
                    i >= macros.Count)
                {
                    continue;
                }
                (string name, string location) = macros[i];
                (Int128? value, string? text) = Evaluate(cursor);
                // An enum constant of the same name would be a redefinition error in C; keep the first.
                Constants.TryAdd(name, new CConstant(name, value, text, "#define", location));
            }
            foreach ((string name, string location) in macros)
                Constants.TryAdd(name, new CConstant(name, null, null, "#define", location));
        }
        finally
        {
            clang_disposeTranslationUnit(unit);
        }
    }

    private static unsafe (Int128? Value, string? Text) Evaluate(CXCursor variable)
    {
        nint result = clang_Cursor_Evaluate(variable);
        if (result == 0)
            return (null, null);
        try
        {
            return clang_EvalResult_getKind(result) switch
            {
                CXEvalResultKind.Int => (clang_EvalResult_isUnsignedInt(result) != 0
                                             ? (Int128)clang_EvalResult_getAsUnsigned(result)
                                             : clang_EvalResult_getAsLongLong(result), null),
                CXEvalResultKind.StrLiteral => (null, Marshal.PtrToStringUTF8((nint)clang_EvalResult_getAsStr(result))),
                _ => (null, null),
            };
        }
        finally
        {
            clang_EvalResult_dispose(result);
        }
    }

    private static bool IsSignedInteger(CXTypeKind kind) => kind is CXTypeKind.CharS or CXTypeKind.SChar
        or CXTypeKind.WChar or CXTypeKind.Short or CXTypeKind.Int or CXTypeKind.Long or CXTypeKind.LongLong
        or CXTypeKind.Int128;

    private static bool IsUnsignedInteger(CXTypeKind kind) => kind is CXTypeKind.Bool or CXTypeKind.CharU
        or CXTypeKind.UChar or CXTypeKind.Char16 or CXTypeKind.Char32 or CXTypeKind.UShort or CXTypeKind.UInt
        or CXTypeKind.ULong or CXTypeKind.ULongLong or CXTypeKind.UInt128;

    /// <summary>
    /// Reduces a clang type to a CType. Typedefs are peeled one at a time rather than jumping to
    /// the canonical type, because the typedef names carry meaning the canonical type has lost:
    /// size_t and uint64_t are both unsigned long on Linux, but only one of them is nuint.
    /// </summary>
    private static CType ReadType(CXType written)
    {
        string spelling = written.Kind == CXTypeKind.Invalid ? "<invalid>" : Spelling(written);
        var typedefs = new List<string>();
        CXType type = written;
        for (int depth = 0; depth < 64; depth++)
        {
            if (type.Kind == CXTypeKind.Typedef)
            {
                typedefs.Add(Take(clang_getTypedefName(type)));
                type = clang_getTypedefDeclUnderlyingType(clang_getTypeDeclaration(type));
            }
            else if (type.Kind == CXTypeKind.Elaborated)
            {
                type = clang_Type_getNamedType(type);
            }
            else
            {
                break;
            }
        }
        if (type.Kind is not (CXTypeKind.Pointer or CXTypeKind.ConstantArray or CXTypeKind.FunctionProto
                              or CXTypeKind.Record or CXTypeKind.Enum or CXTypeKind.Void)
            && !IsSignedInteger(type.Kind) && !IsUnsignedInteger(type.Kind))
        {
            // Other sugar (parentheses around a function type, attributes) has no meaning here.
            type = clang_getCanonicalType(type);
        }
        long size = clang_Type_getSizeOf(type);
        CXTypeKind kind = type.Kind;

        if (kind == CXTypeKind.Void)
            return new CType { Kind = CTypeKind.Void, Spelling = spelling, Size = 0 };
        if (IsSignedInteger(kind) || IsUnsignedInteger(kind))
        {
            IntegerWidth width = typedefs.Any(PointerSizedTypedefs.Contains) ? IntegerWidth.PointerSized
                : typedefs.Count == 0 && kind is CXTypeKind.Long or CXTypeKind.ULong ? IntegerWidth.CLong
                : IntegerWidth.Fixed;
            return new CType
            {
                Kind = CTypeKind.Integer, Spelling = spelling, Size = size, IsSigned = IsSignedInteger(kind),
                Width = width, IsPlainChar = kind is CXTypeKind.CharS or CXTypeKind.CharU,
            };
        }
        switch (kind)
        {
            case CXTypeKind.Float or CXTypeKind.Double or CXTypeKind.LongDouble or CXTypeKind.Float128
                or CXTypeKind.Half or CXTypeKind.Float16:
                return new CType { Kind = CTypeKind.Floating, Spelling = spelling, Size = size, IsSigned = true };
            case CXTypeKind.Enum:
                return new CType
                {
                    Kind = CTypeKind.Enum, Spelling = spelling, Size = size,
                    Name = TagName(type, typedefs),
                };
            case CXTypeKind.Record:
                return new CType
                {
                    Kind = CTypeKind.Record, Spelling = spelling, Size = size, Name = TagName(type, typedefs),
                };
            case CXTypeKind.Pointer:
                return new CType
                {
                    Kind = CTypeKind.Pointer, Spelling = spelling, Size = size,
                    Target = ReadType(clang_getPointeeType(type)),
                };
            case CXTypeKind.ConstantArray:
                return new CType
                {
                    Kind = CTypeKind.Array, Spelling = spelling, Size = size,
                    Target = ReadType(clang_getArrayElementType(type)), Length = clang_getArraySize(type),
                };
            case CXTypeKind.FunctionProto:
                int count = clang_getNumArgTypes(type);
                return new CType
                {
                    Kind = CTypeKind.Function, Spelling = spelling, Size = -1,
                    Result = ReadType(clang_getResultType(type)),
                    Parameters = Enumerable.Range(0, Math.Max(count, 0))
                        .Select(i => ReadType(clang_getArgType(type, (uint)i)))
                        .ToList(),
                    IsVariadic = clang_isFunctionTypeVariadic(type) != 0,
                };
            default:
                return new CType { Kind = CTypeKind.Unsupported, Spelling = spelling, Size = size };
        }
    }

    private static string TagName(CXType type, List<string> typedefs)
    {
        string tag = Spelling(clang_getTypeDeclaration(type));
        bool anonymous = tag.Length == 0 || tag.Contains('(', StringComparison.Ordinal);
        return anonymous && typedefs.Count > 0 ? typedefs[^1] : tag;
    }
}
