using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace FiberRuntime.Tests.BindingDrift;

/// <summary>
/// The few entry points of libclang's stable C API (clang-c/Index.h) that the binding drift
/// tests need. ClangSharp is not available from the package feed here, and this subset is
/// small enough that binding it by hand is cheaper than any dependency.
/// </summary>
internal static unsafe partial class LibClang
{
    // Debian ships the unversioned libclang.so only in the -dev package, so the runtime
    // package's soname is named exactly: the default probing then finds it with no resolver
    // (the test assembly's DllImportResolver slot stays free for other tests).
    internal const string Library = "libclang-14.so.1";

    internal const string DebianPackage = "libclang1-14";

    /// <summary>Fails with the package to install rather than an opaque DllNotFoundException.</summary>
    internal static void EnsureAvailable()
    {
        if (!NativeLibrary.TryLoad(Library, typeof(LibClang).Assembly, null, out _))
        {
            throw new InvalidOperationException(
                $"{Library} could not be loaded, so the C headers cannot be compared with the C# bindings. " +
                $"Install the Debian package {DebianPackage} (apt-get install {DebianPackage}).");
        }
    }

    internal enum CXErrorCode
    {
        Success = 0,
        Failure = 1,
        Crashed = 2,
        InvalidArguments = 3,
        ASTReadError = 4,
    }

    [Flags]
    internal enum CXTranslationUnitFlags : uint
    {
        None = 0,
        DetailedPreprocessingRecord = 0x01,
        SkipFunctionBodies = 0x40,
    }

    internal enum CXDiagnosticSeverity
    {
        Ignored = 0,
        Note = 1,
        Warning = 2,
        Error = 3,
        Fatal = 4,
    }

    internal enum CXChildVisitResult
    {
        Break = 0,
        Continue = 1,
        Recurse = 2,
    }

    internal enum CXCursorKind
    {
        Unknown = 0,
        StructDecl = 2,
        UnionDecl = 3,
        EnumDecl = 5,
        FieldDecl = 6,
        EnumConstantDecl = 7,
        FunctionDecl = 8,
        VarDecl = 9,
        ParmDecl = 10,
        TypedefDecl = 20,
        MacroDefinition = 501,
    }

    internal enum CXTypeKind
    {
        Invalid = 0,
        Unexposed = 1,
        Void = 2,
        Bool = 3,
        CharU = 4,
        UChar = 5,
        Char16 = 6,
        Char32 = 7,
        UShort = 8,
        UInt = 9,
        ULong = 10,
        ULongLong = 11,
        UInt128 = 12,
        CharS = 13,
        SChar = 14,
        WChar = 15,
        Short = 16,
        Int = 17,
        Long = 18,
        LongLong = 19,
        Int128 = 20,
        Float = 21,
        Double = 22,
        LongDouble = 23,
        Float128 = 30,
        Half = 31,
        Float16 = 32,
        Pointer = 101,
        Record = 105,
        Enum = 106,
        Typedef = 107,
        FunctionNoProto = 110,
        FunctionProto = 111,
        ConstantArray = 112,
        IncompleteArray = 114,
        Elaborated = 119,
    }

    internal enum CXEvalResultKind
    {
        Unexposed = 0,
        Int = 1,
        Float = 2,
        ObjCStrLiteral = 3,
        StrLiteral = 4,
        CFStr = 5,
        Other = 6,
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CXCursor
    {
        public CXCursorKind Kind;
        public int XData;
        public nint Data0;
        public nint Data1;
        public nint Data2;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CXType
    {
        public CXTypeKind Kind;
        public nint Data0;
        public nint Data1;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CXString
    {
        public nint Data;
        public uint PrivateFlags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CXSourceLocation
    {
        public nint PtrData0;
        public nint PtrData1;
        public uint IntData;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CXUnsavedFile
    {
        public byte* Filename;
        public byte* Contents;
        public nuint Length;
    }

    [LibraryImport(Library)]
    internal static partial nint clang_createIndex(int excludeDeclarationsFromPch, int displayDiagnostics);

    [LibraryImport(Library)]
    internal static partial void clang_disposeIndex(nint index);

    [LibraryImport(Library)]
    internal static partial void clang_toggleCrashRecovery(uint isEnabled);

    [LibraryImport(Library)]
    internal static partial CXErrorCode clang_parseTranslationUnit2(nint index, byte* sourceFilename,
                                                                    byte** commandLineArgs, int numCommandLineArgs,
                                                                    CXUnsavedFile* unsavedFiles, uint numUnsavedFiles,
                                                                    CXTranslationUnitFlags options,
                                                                    nint* translationUnit);

    [LibraryImport(Library)]
    internal static partial void clang_disposeTranslationUnit(nint translationUnit);

    [LibraryImport(Library)]
    internal static partial uint clang_getNumDiagnostics(nint translationUnit);

    [LibraryImport(Library)]
    internal static partial nint clang_getDiagnostic(nint translationUnit, uint index);

    [LibraryImport(Library)]
    internal static partial CXDiagnosticSeverity clang_getDiagnosticSeverity(nint diagnostic);

    [LibraryImport(Library)]
    internal static partial uint clang_defaultDiagnosticDisplayOptions();

    [LibraryImport(Library)]
    internal static partial CXString clang_formatDiagnostic(nint diagnostic, uint options);

    [LibraryImport(Library)]
    internal static partial void clang_disposeDiagnostic(nint diagnostic);

    [LibraryImport(Library)]
    internal static partial CXCursor clang_getTranslationUnitCursor(nint translationUnit);

    [LibraryImport(Library)]
    internal static partial uint clang_visitChildren(
        CXCursor parent, delegate* unmanaged<CXCursor, CXCursor, nint, CXChildVisitResult> visitor, nint clientData);

    [LibraryImport(Library)]
    internal static partial CXCursorKind clang_getCursorKind(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial CXString clang_getCursorSpelling(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial uint clang_isCursorDefinition(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial CXSourceLocation clang_getCursorLocation(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial void clang_getExpansionLocation(CXSourceLocation location, nint* file, uint* line,
                                                            uint* column, uint* offset);

    [LibraryImport(Library)]
    internal static partial CXString clang_getFileName(nint file);

    [LibraryImport(Library)]
    internal static partial CXType clang_getCursorType(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial CXType clang_getCanonicalType(CXType type);

    [LibraryImport(Library)]
    internal static partial CXString clang_getTypeSpelling(CXType type);

    [LibraryImport(Library)]
    internal static partial CXString clang_getTypedefName(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_Type_getNamedType(CXType type);

    [LibraryImport(Library)]
    internal static partial CXCursor clang_getTypeDeclaration(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_getTypedefDeclUnderlyingType(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial long clang_Type_getSizeOf(CXType type);

    [LibraryImport(Library)]
    internal static partial long clang_Cursor_getOffsetOfField(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial uint clang_Cursor_isBitField(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial CXType clang_getPointeeType(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_getArrayElementType(CXType type);

    [LibraryImport(Library)]
    internal static partial long clang_getArraySize(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_getResultType(CXType type);

    [LibraryImport(Library)]
    internal static partial int clang_getNumArgTypes(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_getArgType(CXType type, uint index);

    [LibraryImport(Library)]
    internal static partial uint clang_isFunctionTypeVariadic(CXType type);

    [LibraryImport(Library)]
    internal static partial CXType clang_getEnumDeclIntegerType(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial long clang_getEnumConstantDeclValue(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial ulong clang_getEnumConstantDeclUnsignedValue(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial uint clang_Cursor_isMacroFunctionLike(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial uint clang_Cursor_isMacroBuiltin(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial nint clang_Cursor_Evaluate(CXCursor cursor);

    [LibraryImport(Library)]
    internal static partial CXEvalResultKind clang_EvalResult_getKind(nint result);

    [LibraryImport(Library)]
    internal static partial uint clang_EvalResult_isUnsignedInt(nint result);

    [LibraryImport(Library)]
    internal static partial long clang_EvalResult_getAsLongLong(nint result);

    [LibraryImport(Library)]
    internal static partial ulong clang_EvalResult_getAsUnsigned(nint result);

    [LibraryImport(Library)]
    internal static partial byte* clang_EvalResult_getAsStr(nint result);

    [LibraryImport(Library)]
    internal static partial void clang_EvalResult_dispose(nint result);

    [LibraryImport(Library)]
    internal static partial byte* clang_getCString(CXString text);

    [LibraryImport(Library)]
    internal static partial void clang_disposeString(CXString text);

    /// <summary>
    /// An index whose creation left the process's signal handlers as they were. clang_createIndex
    /// installs LLVM's crash-recovery handlers for SIGSEGV, SIGILL, SIGBUS... process-wide; outside
    /// a libclang call they re-raise a fault without its original context, which turned a later
    /// test's NullReferenceException (a SIGSEGV that .NET and libfiberrt's growth handler chain
    /// through) into a fatal "Illegal instruction". Disabling crash recovery at once puts back the
    /// handlers saved a moment earlier; a crash inside libclang then simply kills the run.
    /// </summary>
    internal static nint CreateIndex()
    {
        nint index = clang_createIndex(0, 0);
        clang_toggleCrashRecovery(0);
        return index;
    }

    /// <summary>Copies a CXString into managed memory and releases it (every CXString must be disposed once).</summary>
    internal static string Take(CXString text)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)clang_getCString(text)) ?? "";
        }
        finally
        {
            clang_disposeString(text);
        }
    }

    internal static string Spelling(CXCursor cursor) => Take(clang_getCursorSpelling(cursor));

    internal static string Spelling(CXType type) => Take(clang_getTypeSpelling(type));

    /// <summary>Where a cursor's declaration was written: full path (empty for built-ins) and line.</summary>
    internal static (string File, uint Line) Location(CXCursor cursor)
    {
        nint file;
        uint line, column, offset;
        clang_getExpansionLocation(clang_getCursorLocation(cursor), &file, &line, &column, &offset);
        return (file == 0 ? "" : Take(clang_getFileName(file)), line);
    }

    /// <summary>
    /// The direct children of a cursor. Collecting them into a list keeps all the walking logic in
    /// ordinary managed code, out of the callback, where an exception would kill the process.
    /// </summary>
    internal static List<CXCursor> Children(CXCursor parent)
    {
        var children = new List<CXCursor>();
        GCHandle handle = GCHandle.Alloc(children);
        try
        {
            // Non-zero means the visitor broke off, which it does only if it lost its list.
            if (clang_visitChildren(parent, &CollectChild, GCHandle.ToIntPtr(handle)) != 0)
                throw new InvalidOperationException("libclang's child visitor stopped early");
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    [UnmanagedCallersOnly]
    private static CXChildVisitResult CollectChild(CXCursor cursor, CXCursor parent, nint clientData)
    {
        if (GCHandle.FromIntPtr(clientData).Target is not List<CXCursor> children)
            return CXChildVisitResult.Break;
        children.Add(cursor);
        return CXChildVisitResult.Continue;
    }
}
