using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace FiberRuntime.Analyzers;

/// <summary>A variable of the liveness analysis: a local, a parameter, 'this', or a compiler temporary of the flow graph.</summary>
internal readonly struct VarKey : IEquatable<VarKey>
{
    private VarKey(ISymbol? symbol, CaptureId? capture, bool isThis)
    {
        Symbol = symbol;
        Capture = capture;
        IsThis = isThis;
    }

    public ISymbol? Symbol { get; }

    public CaptureId? Capture { get; }

    public bool IsThis { get; }

    public static VarKey Of(ISymbol symbol) => new(symbol, null, false);

    public static VarKey Of(CaptureId id) => new(null, id, false);

    public static VarKey This { get; } = new(null, null, true);

    public bool Equals(VarKey other) =>
        IsThis == other.IsThis && Nullable.Equals(Capture, other.Capture) && SymbolEqualityComparer.Default.Equals(Symbol, other.Symbol);

    public override bool Equals(object? obj) => obj is VarKey k && Equals(k);

    public override int GetHashCode() =>
        (IsThis ? 1 : 0) ^ (Capture?.GetHashCode() ?? 0) ^ (Symbol is null ? 0 : SymbolEqualityComparer.Default.GetHashCode(Symbol));
}

/// <summary>Applies the rules to one function that is a fiber body or can suspend.</summary>
internal sealed class FunctionChecker
{
    private enum EventKind
    {
        Read,
        Write,
        Suspend,
    }

    private readonly struct Event
    {
        public Event(EventKind kind, VarKey var, IOperation? call, IOperation[]? pending)
        {
            Kind = kind;
            Var = var;
            Call = call;
            Pending = pending;
        }

        public EventKind Kind { get; }

        public VarKey Var { get; }

        public IOperation? Call { get; }

        public IOperation[]? Pending { get; }
    }

    private readonly FiberAnalyzer.CompilationSession _session;
    private readonly FiberAnalyzer.FunctionInfo _f;
    private readonly HashSet<IMethodSymbol> _maySuspend;
    private readonly CompilationAnalysisContext _context;
    private readonly Dictionary<CaptureId, IFlowCaptureOperation> _captures = new();
    private readonly HashSet<ISymbol> _capturedByNested = new(SymbolEqualityComparer.Default);
    private readonly HashSet<(VarKey, IOperation)> _reported = new();
    private List<Event> _events = new();
    private List<IOperation> _pending = new();

    public FunctionChecker(FiberAnalyzer.CompilationSession session, FiberAnalyzer.FunctionInfo f, HashSet<IMethodSymbol> maySuspend, CompilationAnalysisContext context)
    {
        _session = session;
        _f = f;
        _maySuspend = maySuspend;
        _context = context;
    }

    public void Run()
    {
        foreach (var capture in _f.Operations().OfType<IFlowCaptureOperation>())
        {
            _captures[capture.Id] = capture;
        }

        foreach (var nested in _session.Functions.Where(g => IsNestedIn(g, _f)))
        {
            foreach (var op in nested.Operations())
            {
                var symbol = op switch
                {
                    ILocalReferenceOperation l => (ISymbol)l.Local,
                    IParameterReferenceOperation p => p.Parameter,
                    _ => null,
                };
                if (symbol is not null && SymbolEqualityComparer.Default.Equals(symbol.ContainingSymbol, _f.Symbol))
                {
                    _capturedByNested.Add(symbol);
                }
            }
        }

        if (_f.CanSuspend)
        {
            CheckLiveness();
            CheckProtectedRegions();
        }

        CheckCaptures();
        CheckAwaits();
        CheckOptimised();
    }

    private static bool IsNestedIn(FiberAnalyzer.FunctionInfo g, FiberAnalyzer.FunctionInfo f)
    {
        for (var p = g.Parent; p is not null; p = p.Parent)
        {
            if (ReferenceEquals(p, f))
            {
                return true;
            }
        }

        return false;
    }

    private string Describe() => _f.Symbol.MethodKind switch
    {
        MethodKind.AnonymousFunction => _f.IsFiberBody ? "this fiber body lambda" : "this lambda, which can suspend the fiber",
        MethodKind.LocalFunction => $"local function '{_f.Symbol.Name}', which can suspend the fiber",
        _ => _f.IsFiberBody ? $"fiber body '{_f.Symbol.Name}'" : $"'{_f.Symbol.Name}', which can suspend the fiber",
    };

    private bool IsSuspension(IOperation call) => _session.IsSuspension(call, _maySuspend);

    // ---------------------------------------------------------------- FBR1001 / FBR1005: liveness

    private void CheckLiveness()
    {
        var blocks = _f.Cfg.Blocks;
        var events = new List<Event>[blocks.Length];
        for (int i = 0; i < blocks.Length; i++)
        {
            _events = new List<Event>();
            _pending = new List<IOperation>();
            foreach (var op in blocks[i].Operations)
            {
                Walk(op);
            }

            if (blocks[i].BranchValue is { } branch)
            {
                Walk(branch);
            }

            events[i] = _events;
        }

        if (!events.Any(list => list.Any(e => e.Kind == EventKind.Suspend)))
        {
            return;
        }

        var handlers = blocks.Select(HandlerEntries).ToArray();
        var liveIn = blocks.Select(_ => new HashSet<VarKey>()).ToArray();
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int i = blocks.Length - 1; i >= 0; i--)
            {
                var live = LiveOut(blocks, i, liveIn, handlers);
                Transfer(events[i], live, handlers[i], liveIn, report: false);
                int before = liveIn[i].Count;
                liveIn[i].UnionWith(live);
                changed |= liveIn[i].Count != before;
            }
        }

        for (int i = 0; i < blocks.Length; i++)
        {
            Transfer(events[i], LiveOut(blocks, i, liveIn, handlers), handlers[i], liveIn, report: true);
        }
    }

    /// <summary>The first blocks of the catch/filter/finally handlers that may run after any point of block b.</summary>
    /// <remarks>
    /// The root region of a lambda's or local function's graph is linked to the region of the enclosing graph
    /// that contains the function (a lambda written inside a <c>using</c> or <c>try</c>), so the walk stops at
    /// this graph's own root: the enclosing graph's handlers are not this function's, and their block
    /// ordinals index the other graph.
    /// </remarks>
    private static List<int> HandlerEntries(BasicBlock b)
    {
        var result = new List<int>();
        for (var region = b.EnclosingRegion; region is not null && region.Kind != ControlFlowRegionKind.Root; region = region.EnclosingRegion)
        {
            if (region.Kind == ControlFlowRegionKind.Try && region.EnclosingRegion is { } tryAnd)
            {
                foreach (var handler in tryAnd.NestedRegions)
                {
                    if (!ReferenceEquals(handler, region))
                    {
                        result.Add(handler.FirstBlockOrdinal);
                    }
                }
            }
        }

        return result;
    }

    private static HashSet<VarKey> LiveOut(System.Collections.Immutable.ImmutableArray<BasicBlock> blocks, int i, HashSet<VarKey>[] liveIn, List<int>[] handlers)
    {
        var live = new HashSet<VarKey>();
        var b = blocks[i];
        foreach (var branch in new[] { b.ConditionalSuccessor, b.FallThroughSuccessor })
        {
            if (branch is null)
            {
                continue;
            }

            if (branch.Destination is { } dest)
            {
                live.UnionWith(liveIn[dest.Ordinal]);
            }

            foreach (var fin in branch.FinallyRegions)
            {
                live.UnionWith(liveIn[fin.FirstBlockOrdinal]);
            }

            if (branch.Semantics == ControlFlowBranchSemantics.StructuredExceptionHandling)
            {
                // The end of a finally (or filter) region: wherever the branches that ran it go next.
                var region = b.EnclosingRegion;
                while (region is not null && region.Kind is not (ControlFlowRegionKind.Root or ControlFlowRegionKind.Finally or ControlFlowRegionKind.Filter or ControlFlowRegionKind.Catch))
                {
                    region = region.EnclosingRegion;
                }

                if (region is not null && region.Kind == ControlFlowRegionKind.Finally)
                {
                    foreach (var other in blocks)
                    {
                        foreach (var ob in new[] { other.ConditionalSuccessor, other.FallThroughSuccessor })
                        {
                            if (ob is not null && ob.FinallyRegions.Contains(region) && ob.Destination is { } d)
                            {
                                live.UnionWith(liveIn[d.Ordinal]);
                            }
                        }
                    }
                }
            }
        }

        foreach (var h in handlers[i])
        {
            live.UnionWith(liveIn[h]);
        }

        return live;
    }

    private void Transfer(List<Event> events, HashSet<VarKey> live, List<int> handlers, HashSet<VarKey>[] liveIn, bool report)
    {
        for (int k = events.Count - 1; k >= 0; k--)
        {
            var e = events[k];
            switch (e.Kind)
            {
                case EventKind.Read:
                    live.Add(e.Var);
                    break;
                case EventKind.Write:
                    live.Remove(e.Var);
                    break;
                case EventKind.Suspend when report:
                    var across = new HashSet<VarKey>(live);
                    foreach (var h in handlers)
                    {
                        across.UnionWith(liveIn[h]);
                    }

                    ReportAcross(e.Call!, across, e.Pending!);
                    break;
            }
        }
    }

    private void ReportAcross(IOperation call, HashSet<VarKey> live, IOperation[] pending)
    {
        string callText = Shorten(call.Syntax.ToString());
        foreach (var key in live.OrderBy(k => k.Symbol?.Name ?? string.Empty, StringComparer.Ordinal))
        {
            if (!IsTracked(key, out var type, out bool isRef) || IsExempt(key) || !(isRef || IsManagedType(type) || IsCapturedByNested(key)))
            {
                continue;
            }

            if (IsLockScopeType(type) || !_reported.Add((key, call)))
            {
                continue; // a Lock scope held across a suspension is FBR1002's
            }

            if (key.Capture is { } id)
            {
                var capture = _captures[id];
                if (capture.Syntax.Parent is LockStatementSyntax || capture.Syntax is LockStatementSyntax || IsLockScopeType(capture.Value.Type))
                {
                    continue; // FBR1002 reports the lock itself.
                }

                bool isEnumerator = capture.Value is IInvocationOperation { TargetMethod.Name: "GetEnumerator" };
                string what = capture.Value is IInvocationOperation { TargetMethod.Name: "GetEnumerator" } getEnumerator
                    ? $"The enumerator of '{Shorten((getEnumerator.Instance ?? getEnumerator.Arguments.FirstOrDefault()?.Value ?? capture.Value).Syntax.ToString())}'"
                    : $"'{Shorten(capture.Value.Syntax.ToString())}'";
                _context.ReportDiagnostic(Diagnostic.Create(Descriptors.ManagedTemporaryAcrossSuspension, call.Syntax.GetLocation(), what, callText,
                    isEnumerator ? FixForeach : FixTemporary));
                continue;
            }

            string name = key.IsThis ? "this" : key.Symbol!.Name;
            string typeText = IsCapturedByNested(key) && !IsManagedType(type) && !isRef
                ? $"captured by a lambda, so it lives in a closure object"
                : (isRef ? "ref " : string.Empty) + type!.ToDisplayString(TypeFormat);
            _context.ReportDiagnostic(Diagnostic.Create(Descriptors.ManagedLocalAcrossSuspension, call.Syntax.GetLocation(), name, typeText, callText));
        }

        foreach (var op in pending)
        {
            var key = KeyOf(op);
            if (key is { } k && !IsExempt(k))
            {
                if (IsTracked(k, out var type, out bool isRef) && (isRef || IsManagedType(type)) && _reported.Add((k, call)))
                {
                    string typeText = (isRef ? "ref " : string.Empty) + type!.ToDisplayString(TypeFormat);
                    _context.ReportDiagnostic(Diagnostic.Create(Descriptors.ManagedLocalAcrossSuspension, call.Syntax.GetLocation(), k.IsThis ? "this" : k.Symbol!.Name, typeText, callText));
                }

                continue;
            }

            _context.ReportDiagnostic(Diagnostic.Create(Descriptors.ManagedTemporaryAcrossSuspension, op.Syntax.GetLocation(), $"'{Shorten(op.Syntax.ToString())}'", callText, FixOperand));
        }
    }

    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.MinimallyQualifiedFormat
        .RemoveMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private static readonly char[] LineBreaks = { '\r', '\n' };

    private const string FixOperand = "Make the suspending call a statement of its own that stores its result in a local, then use the local";
    private const string FixForeach = "Loop by index instead, reading the collection through the state parameter after each suspension";
    private const string FixTemporary = "Keep the value in the fiber's state object and read it through the state parameter after the suspension";

    private bool IsLockScopeType(ITypeSymbol? type) =>
        type is not null && _session.LockType is { } lockType && SymbolEqualityComparer.Default.Equals(type.ContainingType, lockType);

    private static string Shorten(string text)
    {
        text = string.Join(" ", text.Split(LineBreaks, StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()));
        return text.Length <= 60 ? text : text.Substring(0, 57) + "...";
    }

    private static VarKey? KeyOf(IOperation op) => op switch
    {
        ILocalReferenceOperation l => VarKey.Of(l.Local),
        IParameterReferenceOperation p => VarKey.Of(p.Parameter),
        IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance } => VarKey.This,
        _ => null,
    };

    /// <summary>Whether this function owns the variable (captured ones are FBR1003's), with its type.</summary>
    private bool IsTracked(VarKey key, out ITypeSymbol? type, out bool isRef)
    {
        type = null;
        isRef = false;
        if (key.Capture is { } id)
        {
            type = _captures.TryGetValue(id, out var c) ? c.Value.Type : null;
            return type is not null;
        }

        if (key.IsThis)
        {
            if (_f.Symbol.MethodKind is MethodKind.AnonymousFunction or MethodKind.LocalFunction || _f.Symbol.IsStatic)
            {
                return false;
            }

            type = _f.Symbol.ContainingType;
            isRef = type.IsValueType; // 'this' of a struct is a ref to wherever the struct lives.
            return true;
        }

        switch (key.Symbol)
        {
            case ILocalSymbol local when SymbolEqualityComparer.Default.Equals(local.ContainingSymbol, _f.Symbol):
                type = local.Type;
                isRef = local.RefKind != RefKind.None;
                return true;
            case IParameterSymbol parameter when SymbolEqualityComparer.Default.Equals(parameter.ContainingSymbol, _f.Symbol):
                type = parameter.Type;
                isRef = parameter.RefKind != RefKind.None;
                return true;
            default:
                return false;
        }
    }

    private bool IsCapturedByNested(VarKey key) => key.Symbol is { } s && _capturedByNested.Contains(s);

    /// <summary>The documented pattern: a fiber body's <c>ref TState state</c> parameter, which points where the runtime keeps the state.</summary>
    private bool IsExempt(VarKey key) =>
        _f.IsFiberBody && key.Symbol is IParameterSymbol { RefKind: RefKind.Ref } p
        && SymbolEqualityComparer.Default.Equals(p.ContainingSymbol, _f.Symbol);

    /// <summary>Reference types, structs that contain references, ref structs (Span over managed memory).</summary>
    internal static bool IsManagedType(ITypeSymbol? type)
    {
        if (type is null)
        {
            return false;
        }

        if (type.TypeKind is TypeKind.Pointer or TypeKind.FunctionPointer)
        {
            return false;
        }

        if (type is ITypeParameterSymbol tp)
        {
            return !tp.HasUnmanagedTypeConstraint;
        }

        if (type.IsReferenceType)
        {
            return true;
        }

        return !type.IsUnmanagedType;
    }

    private void Read(VarKey key) => _events.Add(new Event(EventKind.Read, key, null, null));

    private void Write(VarKey key) => _events.Add(new Event(EventKind.Write, key, null, null));

    private void Hold(IOperation op)
    {
        if (!op.ConstantValue.HasValue && IsManagedType(op.Type))
        {
            _pending.Add(op);
        }
    }

    private void Pop(int mark) => _pending.RemoveRange(mark, _pending.Count - mark);

    /// <summary>Walks an operation in evaluation order, recording reads, writes and suspensions.</summary>
    private void Walk(IOperation op)
    {
        switch (op)
        {
            case ILocalReferenceOperation or IParameterReferenceOperation or IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance }:
                Read(KeyOf(op)!.Value);
                return;
            case IFlowCaptureReferenceOperation captureRef:
                Read(VarKey.Of(captureRef.Id));
                return;
            case IFlowCaptureOperation capture:
                Walk(capture.Value);
                Write(VarKey.Of(capture.Id));
                return;
            case IFlowAnonymousFunctionOperation or ILocalFunctionOperation:
                return;
            case ISimpleAssignmentOperation assignment:
                {
                    int mark = _pending.Count;
                    var writes = new List<VarKey>();
                    var reads = new List<VarKey>();
                    WalkLocation(assignment.Target, writes, reads, full: true, isRefAssignment: assignment.IsRef);
                    Walk(assignment.Value);
                    Pop(mark);
                    reads.ForEach(Read);
                    writes.ForEach(Write);
                    return;
                }

            case ICompoundAssignmentOperation or ICoalesceAssignmentOperation or IIncrementOrDecrementOperation:
                {
                    var target = op switch
                    {
                        ICompoundAssignmentOperation c => c.Target,
                        ICoalesceAssignmentOperation c => c.Target,
                        _ => ((IIncrementOrDecrementOperation)op).Target,
                    };
                    var value = op switch
                    {
                        ICompoundAssignmentOperation c => c.Value,
                        ICoalesceAssignmentOperation c => c.Value,
                        _ => null,
                    };
                    int mark = _pending.Count;
                    var writes = new List<VarKey>();
                    var reads = new List<VarKey>();
                    WalkLocation(target, writes, reads, full: true, isRefAssignment: false);
                    writes.ForEach(Read);
                    Hold(target); // the old value is read before the right-hand side runs
                    if (value is not null)
                    {
                        Walk(value);
                    }

                    Pop(mark);
                    reads.ForEach(Read);
                    writes.ForEach(Write);
                    return;
                }

            case IInvocationOperation invocation:
                {
                    int mark = _pending.Count;
                    var reads = new List<VarKey>();
                    var writes = new List<VarKey>();
                    if (invocation.Instance is { } instance)
                    {
                        if (instance.Type is { IsValueType: true })
                        {
                            WalkLocation(instance, reads, reads, full: false, isRefAssignment: false);
                        }
                        else
                        {
                            Walk(instance);
                            Hold(instance);
                        }
                    }

                    foreach (var argument in invocation.Arguments)
                    {
                        WalkArgument(argument, reads, writes);
                    }

                    Pop(mark);
                    reads.ForEach(Read);
                    if (IsSuspension(invocation))
                    {
                        _events.Add(new Event(EventKind.Suspend, default, invocation, _pending.ToArray()));
                    }

                    writes.ForEach(Write);
                    return;
                }

            case IObjectCreationOperation creation:
                {
                    int mark = _pending.Count;
                    var reads = new List<VarKey>();
                    var writes = new List<VarKey>();
                    foreach (var argument in creation.Arguments)
                    {
                        WalkArgument(argument, reads, writes);
                    }

                    Pop(mark);
                    reads.ForEach(Read);
                    if (IsSuspension(creation))
                    {
                        _events.Add(new Event(EventKind.Suspend, default, creation, _pending.ToArray()));
                    }

                    writes.ForEach(Write);
                    if (creation.Initializer is { } initializer)
                    {
                        Hold(creation);
                        Walk(initializer);
                    }

                    Pop(mark);
                    return;
                }

            default:
                {
                    int mark = _pending.Count;
                    foreach (var child in op.ChildOperations)
                    {
                        Walk(child);
                        Hold(child);
                    }

                    Pop(mark);
                    return;
                }
        }
    }

    private void WalkArgument(IArgumentOperation argument, List<VarKey> reads, List<VarKey> writes)
    {
        var refKind = argument.Parameter?.RefKind ?? RefKind.None;
        if (refKind == RefKind.None)
        {
            Walk(argument.Value);
            Hold(argument.Value);
            return;
        }

        var direct = new List<VarKey>();
        WalkLocation(argument.Value, direct, reads, full: false, isRefAssignment: false);
        if (refKind != RefKind.Out)
        {
            reads.AddRange(direct);
        }

        if (refKind is RefKind.Out or RefKind.Ref)
        {
            writes.AddRange(direct);
        }
    }

    /// <summary>
    /// Walks an assigned (or by-ref) location. A local or parameter goes to <paramref name="direct"/>; the
    /// object a field or element lives in is evaluated first and held until the store.
    /// </summary>
    private void WalkLocation(IOperation target, List<VarKey> direct, List<VarKey> reads, bool full, bool isRefAssignment)
    {
        switch (target)
        {
            case IDeclarationExpressionOperation declaration:
                WalkLocation(declaration.Expression, direct, reads, full, isRefAssignment);
                return;
            case ITupleOperation tuple:
                foreach (var element in tuple.Elements)
                {
                    WalkLocation(element, direct, reads, full, isRefAssignment);
                }

                return;
            case ILocalReferenceOperation { Local.RefKind: not RefKind.None } when !isRefAssignment:
            case IParameterReferenceOperation { Parameter.RefKind: not RefKind.None } when !isRefAssignment:
                {
                    // Stores go through the ref: the ref itself is read, and held until the store.
                    var key = KeyOf(target)!.Value;
                    Read(key);
                    if (!IsExempt(key))
                    {
                        _pending.Add(target);
                    }

                    return;
                }

            case ILocalReferenceOperation or IParameterReferenceOperation:
                if (full)
                {
                    direct.Add(KeyOf(target)!.Value);
                }
                else
                {
                    // Passed by ref or used as a struct receiver: read and written when the call runs.
                    direct.Add(KeyOf(target)!.Value);
                }

                return;
            case IInstanceReferenceOperation:
                reads.Add(VarKey.This);
                return;
            case IFieldReferenceOperation field:
                if (field.Instance is { } fieldInstance && !field.Field.IsStatic)
                {
                    if (fieldInstance.Type is { IsValueType: true })
                    {
                        WalkLocation(fieldInstance, reads, reads, full: false, isRefAssignment: false);
                    }
                    else
                    {
                        Walk(fieldInstance);
                        Hold(fieldInstance);
                    }
                }

                return;
            case IPropertyReferenceOperation property:
                if (property.Instance is { } propertyInstance)
                {
                    if (propertyInstance.Type is { IsValueType: true })
                    {
                        WalkLocation(propertyInstance, reads, reads, full: false, isRefAssignment: false);
                    }
                    else
                    {
                        Walk(propertyInstance);
                        Hold(propertyInstance);
                    }
                }

                foreach (var argument in property.Arguments)
                {
                    Walk(argument.Value);
                    Hold(argument.Value);
                }

                return;
            case IArrayElementReferenceOperation element:
                Walk(element.ArrayReference);
                Hold(element.ArrayReference);
                foreach (var index in element.Indices)
                {
                    Walk(index);
                }

                return;
            case IFlowCaptureReferenceOperation captureRef:
                reads.Add(VarKey.Of(captureRef.Id));
                return;
            case IDiscardOperation:
                return; // '_ = ...' stores nothing
            default:
                Walk(target);
                _pending.Add(target); // a ref-returning call or similar: a byref that may point into the heap
                return;
        }
    }

    // ---------------------------------------------------------------- FBR1002: catch, finally, lock

    private void CheckProtectedRegions()
    {
        foreach (var invocation in _f.Invocations().Where(IsSuspension))
        {
            if (FindProtectedRegion(invocation) is { } found)
            {
                _context.ReportDiagnostic(Diagnostic.Create(Descriptors.SuspensionInProtectedRegion, invocation.Syntax.GetLocation(),
                    Shorten(invocation.Syntax.ToString()), found.Where, found.Why));
            }
        }
    }

    private const string EhWhy = "CoreCLR crashes when a fiber suspends while an exception is being handled";
    private const string LockWhy = "lock ownership belongs to the OS thread, so while this fiber is suspended every other fiber on its worker enters the lock too";

    private (string Where, string Why)? FindProtectedRegion(IOperation invocation)
    {
        var model = _f.Model;
        SyntaxNode child = invocation.Syntax;
        for (var node = child.Parent; node is not null; child = node, node = node.Parent)
        {
            switch (node)
            {
                case AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or BaseMethodDeclarationSyntax or AccessorDeclarationSyntax:
                    return null;
                case CatchClauseSyntax:
                    return ("a catch block", EhWhy);
                case FinallyClauseSyntax:
                    return ("a finally block", EhWhy);
                case LockStatementSyntax lockStatement when child == lockStatement.Statement:
                    return ("a lock statement", LockWhy);
                case UsingStatementSyntax usingStatement when child == usingStatement.Statement && IsLockScope(model, usingStatement.Declaration?.Type, usingStatement.Expression):
                    return ("a Lock scope", LockWhy);
                case TryStatementSyntax tryStatement when child == tryStatement.Block && tryStatement.Finally is { } fin && ExitsLock(model, fin.Block):
                    return ("a region guarded by Monitor/Lock Enter and Exit", LockWhy);
                case BlockSyntax block when child is StatementSyntax statement:
                    foreach (var earlier in block.Statements.TakeWhile(s => s != statement))
                    {
                        if (earlier is LocalDeclarationStatementSyntax { UsingKeyword.RawKind: not 0 } declaration
                            && IsLockScope(model, declaration.Declaration.Type, declaration.Declaration.Variables.FirstOrDefault()?.Initializer?.Value))
                        {
                            return ("a Lock scope ('using' declaration)", LockWhy);
                        }
                    }

                    break;
            }
        }

        return null;
    }

    private bool IsLockScope(SemanticModel? model, TypeSyntax? type, ExpressionSyntax? expression)
    {
        if (model is null || _session.LockType is not { } lockType)
        {
            return false;
        }

        ITypeSymbol? t = null;
        if (type is not null && !type.IsVar)
        {
            t = model.GetTypeInfo(type, _context.CancellationToken).Type;
        }
        else if (expression is not null)
        {
            t = model.GetTypeInfo(expression, _context.CancellationToken).Type;
        }

        return t is not null && SymbolEqualityComparer.Default.Equals(t.ContainingType, lockType);
    }

    private bool ExitsLock(SemanticModel? model, BlockSyntax block)
    {
        if (model is null)
        {
            return false;
        }

        foreach (var call in block.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (model.GetSymbolInfo(call, _context.CancellationToken).Symbol is IMethodSymbol { Name: "Exit" } method
                && (SymbolEqualityComparer.Default.Equals(method.ContainingType, _session.MonitorType)
                    || SymbolEqualityComparer.Default.Equals(method.ContainingType, _session.LockType)))
            {
                return true;
            }
        }

        return false;
    }

    // ---------------------------------------------------------------- FBR1003: captures

    private void CheckCaptures()
    {
        if (_f.Symbol.MethodKind is not (MethodKind.AnonymousFunction or MethodKind.LocalFunction))
        {
            return;
        }

        var seen = new HashSet<VarKey>();
        foreach (var op in _f.Operations())
        {
            ISymbol? symbol = op switch
            {
                ILocalReferenceOperation l => l.Local,
                IParameterReferenceOperation p => p.Parameter,
                _ => null,
            };
            VarKey key;
            string name;
            if (symbol is not null)
            {
                if (SymbolEqualityComparer.Default.Equals(symbol.ContainingSymbol, _f.Symbol) || symbol is ILocalSymbol { IsConst: true })
                {
                    continue;
                }

                key = VarKey.Of(symbol);
                name = symbol.Name;
            }
            else if (op is IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance })
            {
                key = VarKey.This;
                name = "this";
            }
            else
            {
                continue;
            }

            if (seen.Add(key))
            {
                _context.ReportDiagnostic(Diagnostic.Create(Descriptors.CapturingSuspendingFunction, op.Syntax.GetLocation(), name, Describe()));
            }
        }
    }

    // ---------------------------------------------------------------- FBR1004: await

    private void CheckAwaits()
    {
        foreach (var op in _f.Operations().OfType<IAwaitOperation>())
        {
            var syntax = op.Syntax is AwaitExpressionSyntax a ? a.AwaitKeyword.GetLocation() : op.Syntax.GetLocation();
            _context.ReportDiagnostic(Diagnostic.Create(Descriptors.AwaitOnFiber, syntax, Describe()));
        }
    }

    // ---------------------------------------------------------------- FBR1006: AggressiveOptimization

    /// <summary>MethodImplOptions.AggressiveOptimization (not in netstandard2.0's enums).</summary>
    private const int AggressiveOptimization = 0x200;

    private void CheckOptimised()
    {
        // A method that carries [MaySuspend] and calls no other suspension is a declared suspension point
        // (a primitive that suspends through native code): its frame is the runtime's business.
        if (!_f.IsFiberBody && _f.IsDeclaredSuspension && !_f.Invocations().Any(IsSuspension))
        {
            return;
        }

        if (IsOptimised(_f.Symbol))
        {
            return;
        }

        _context.ReportDiagnostic(Diagnostic.Create(Descriptors.UnoptimisedFiberCode, HeaderLocation(), Describe()));
    }

    private static bool IsOptimised(IMethodSymbol method)
    {
        if (((int)method.MethodImplementationFlags & AggressiveOptimization) != 0)
        {
            return true;
        }

        foreach (var attribute in method.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() == "System.Runtime.CompilerServices.MethodImplAttribute"
                && attribute.ConstructorArguments.Length == 1
                && attribute.ConstructorArguments[0].Value is { } value
                && (System.Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture) & AggressiveOptimization) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Where FBR1006 goes: a lambda's head (up to its arrow), a method's or local function's name.</summary>
    private Location HeaderLocation()
    {
        switch (_f.Syntax)
        {
            case ParenthesizedLambdaExpressionSyntax lambda:
                return Location.Create(lambda.SyntaxTree, Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(lambda.SpanStart, lambda.ArrowToken.Span.End));
            case SimpleLambdaExpressionSyntax lambda:
                return Location.Create(lambda.SyntaxTree, Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(lambda.SpanStart, lambda.ArrowToken.Span.End));
            case AnonymousMethodExpressionSyntax anonymous:
                return anonymous.DelegateKeyword.GetLocation();
            case LocalFunctionStatementSyntax local:
                return local.Identifier.GetLocation();
        }

        var declared = _f.Symbol.Locations.FirstOrDefault(l => l.IsInSource);
        return declared ?? _f.Syntax.GetLocation();
    }
}
