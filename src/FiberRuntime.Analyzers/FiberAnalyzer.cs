using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace FiberRuntime.Analyzers;

/// <summary>
/// Checks C# code that runs on FiberRuntime fibers. A suspended fiber's frames are invisible to the GC, so
/// nothing managed may be live in them across a suspension point (FBR1001, FBR1005); suspending inside
/// catch/finally/lock is unsafe (FBR1002); suspending closures keep their closure object only in fiber frames
/// (FBR1003); await does not belong on a fiber (FBR1004); fiber code must be compiled optimised under the JIT,
/// or its tier-0 code reports dead references to the GC (FBR1006).
/// </summary>
/// <remarks>
/// Which methods can suspend is computed over the whole compilation (a method that calls a may-suspend method
/// can itself suspend), so the operation blocks are gathered as the compiler binds them and analysed when the
/// compilation ends.
/// </remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class FiberAnalyzer : DiagnosticAnalyzer
{
    /// <summary>Metadata name of the attribute on delegate types (and methods) that are fiber bodies.</summary>
    public const string FiberBodyAttributeName = "FiberRuntime.FiberBodyAttribute";

    /// <summary>Metadata name of the attribute on methods that can suspend the calling fiber.</summary>
    public const string MaySuspendAttributeName = "FiberRuntime.MaySuspendAttribute";

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        Descriptors.ManagedLocalAcrossSuspension,
        Descriptors.SuspensionInProtectedRegion,
        Descriptors.CapturingSuspendingFunction,
        Descriptors.AwaitOnFiber,
        Descriptors.ManagedTemporaryAcrossSuspension,
        Descriptors.UnoptimisedFiberCode);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            var fiberBody = start.Compilation.GetTypeByMetadataName(FiberBodyAttributeName);
            var maySuspend = start.Compilation.GetTypeByMetadataName(MaySuspendAttributeName);
            if (fiberBody is null && maySuspend is null)
            {
                return;
            }

            var session = new CompilationSession(start.Compilation, fiberBody, maySuspend);
            start.RegisterOperationBlockAction(session.CollectBlock);
            start.RegisterCompilationEndAction(session.Analyze);
        });
    }

    /// <summary>Everything gathered from one compilation.</summary>
    internal sealed class CompilationSession
    {
        private readonly Compilation _compilation;
        private readonly INamedTypeSymbol? _fiberBodyAttribute;
        private readonly INamedTypeSymbol? _maySuspendAttribute;
        private readonly ConcurrentBag<(ISymbol Owner, IOperation Block, SemanticModel? Model)> _blocks = new();

        public List<FunctionInfo> Functions { get; } = new();

        public CompilationSession(Compilation compilation, INamedTypeSymbol? fiberBody, INamedTypeSymbol? maySuspend)
        {
            _compilation = compilation;
            _fiberBodyAttribute = fiberBody;
            _maySuspendAttribute = maySuspend;
        }

        public void CollectBlock(OperationBlockAnalysisContext context)
        {
            if (context.OwningSymbol is not IMethodSymbol)
            {
                return;
            }

            var roots = new HashSet<IOperation>();
            foreach (var block in context.OperationBlocks)
            {
                var root = block;
                while (root.Parent is not null)
                {
                    root = root.Parent;
                }

                if ((root is IMethodBodyOperation or IConstructorBodyOperation or IBlockOperation) && roots.Add(root))
                {
                    _blocks.Add((context.OwningSymbol, root, block.SemanticModel));
                }
            }
        }

        public void Analyze(CompilationAnalysisContext context)
        {
            // 1. Every function (method, local function, lambda) with its control flow graph.
            var functions = Functions;
            foreach (var (owner, block, model) in _blocks)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                ControlFlowGraph? cfg = block switch
                {
                    IMethodBodyOperation m => ControlFlowGraph.Create(m, context.CancellationToken),
                    IConstructorBodyOperation c => ControlFlowGraph.Create(c, context.CancellationToken),
                    IBlockOperation b => ControlFlowGraph.Create(b, context.CancellationToken),
                    _ => null,
                };
                if (cfg is not null && owner is IMethodSymbol method)
                {
                    AddFunctions(functions, cfg, method, block.Syntax, null, model);
                }
            }

            // 2. Which functions are fiber bodies: [FiberBody] methods, and lambdas or method groups
            //    converted to a [FiberBody] delegate type.
            var fiberBodyMethods = new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default);
            foreach (var f in functions)
            {
                if (HasAttribute(f.Symbol, _fiberBodyAttribute))
                {
                    f.IsFiberBody = true;
                }

                foreach (var creation in f.Operations().OfType<IDelegateCreationOperation>())
                {
                    if (creation.Type is not INamedTypeSymbol delegateType || !HasAttribute(delegateType.OriginalDefinition, _fiberBodyAttribute))
                    {
                        continue;
                    }

                    switch (creation.Target)
                    {
                        case IFlowAnonymousFunctionOperation lambda:
                            f.FiberBodyLambdas.Add(lambda.Symbol);
                            break;
                        case IMethodReferenceOperation group:
                            fiberBodyMethods.Add(group.Method.OriginalDefinition);
                            break;
                    }
                }
            }

            var lambdaBodies = new HashSet<IMethodSymbol>(functions.SelectMany(f => f.FiberBodyLambdas), SymbolEqualityComparer.Default);
            foreach (var f in functions)
            {
                if (lambdaBodies.Contains(f.Symbol) || fiberBodyMethods.Contains(f.Symbol.OriginalDefinition))
                {
                    f.IsFiberBody = true;
                }
            }

            // 3. Which source methods can suspend: [MaySuspend], or calling one (to a fixed point).
            var maySuspend = new HashSet<IMethodSymbol>(SymbolEqualityComparer.Default);
            bool changed = true;
            while (changed)
            {
                changed = false;
                foreach (var f in functions)
                {
                    if (f.CanSuspend)
                    {
                        continue;
                    }

                    f.IsDeclaredSuspension = HasAttribute(f.Symbol, _maySuspendAttribute);
                    if (f.IsDeclaredSuspension || f.Invocations().Any(i => IsSuspension(i, maySuspend)))
                    {
                        f.CanSuspend = true;
                        changed = true;
                        if (f.Symbol.MethodKind != MethodKind.AnonymousFunction)
                        {
                            maySuspend.Add(f.Symbol.OriginalDefinition);
                        }
                    }
                }
            }

            // 4. Which functions run on a fiber: the fiber bodies, the functions nested in one that runs on a
            //    fiber (lambdas and local functions written there), and the source functions that can suspend
            //    and are called (or converted to a delegate) from one, to a fixed point. Code that suspends
            //    only on a plain thread (a blocking channel call in a test lambda) is not fiber code.
            MarkReachable(functions);

            // 5. The rules, in every fiber body and every function reachable from one that can suspend.
            foreach (var f in functions)
            {
                context.CancellationToken.ThrowIfCancellationRequested();
                if (f.IsReachable && (f.IsFiberBody || f.CanSuspend))
                {
                    new FunctionChecker(this, f, maySuspend, context).Run();
                }
            }
        }

        private static void MarkReachable(List<FunctionInfo> functions)
        {
            var byMethod = new Dictionary<IMethodSymbol, List<FunctionInfo>>(SymbolEqualityComparer.Default);
            var nested = new Dictionary<FunctionInfo, List<FunctionInfo>>();
            foreach (var f in functions)
            {
                if (f.Symbol.MethodKind != MethodKind.AnonymousFunction)
                {
                    var key = f.Symbol.OriginalDefinition;
                    if (!byMethod.TryGetValue(key, out var list))
                    {
                        byMethod[key] = list = new List<FunctionInfo>();
                    }

                    list.Add(f);
                }

                if (f.Parent is { } parent)
                {
                    if (!nested.TryGetValue(parent, out var children))
                    {
                        nested[parent] = children = new List<FunctionInfo>();
                    }

                    children.Add(f);
                }
            }

            var queue = new Queue<FunctionInfo>();
            void Reach(FunctionInfo g)
            {
                if (!g.IsReachable)
                {
                    g.IsReachable = true;
                    queue.Enqueue(g);
                }
            }

            foreach (var f in functions)
            {
                if (f.IsFiberBody)
                {
                    Reach(f);
                }
            }

            while (queue.Count > 0)
            {
                var f = queue.Dequeue();
                if (nested.TryGetValue(f, out var children))
                {
                    children.ForEach(Reach);
                }

                foreach (var op in f.Operations())
                {
                    var target = op switch
                    {
                        IInvocationOperation invocation => invocation.TargetMethod,
                        IObjectCreationOperation creation => creation.Constructor,
                        IMethodReferenceOperation reference => reference.Method,
                        _ => null,
                    };
                    if (target is null)
                    {
                        continue;
                    }

                    foreach (var method in new[] { target, target.ReducedFrom })
                    {
                        if (method is not null && byMethod.TryGetValue(method.OriginalDefinition, out var callees))
                        {
                            foreach (var callee in callees)
                            {
                                if (callee.CanSuspend)
                                {
                                    Reach(callee);
                                }
                            }
                        }
                    }
                }
            }
        }

        private static void AddFunctions(List<FunctionInfo> into, ControlFlowGraph cfg, IMethodSymbol symbol, SyntaxNode syntax, FunctionInfo? parent, SemanticModel? model)
        {
            var info = new FunctionInfo(cfg, symbol, syntax, parent, model);
            into.Add(info);
            foreach (var local in cfg.LocalFunctions)
            {
                var localCfg = cfg.GetLocalFunctionControlFlowGraph(local);
                AddFunctions(into, localCfg, local, localCfg.OriginalOperation.Syntax, info, model);
            }

            foreach (var lambda in info.Operations().OfType<IFlowAnonymousFunctionOperation>())
            {
                AddFunctions(into, cfg.GetAnonymousFunctionControlFlowGraph(lambda), lambda.Symbol, lambda.Syntax, info, model);
            }
        }

        /// <summary>A call (or a construction) of a method that can suspend the fiber.</summary>
        internal bool IsSuspension(IOperation call, HashSet<IMethodSymbol> maySuspend)
        {
            var target = call switch
            {
                IInvocationOperation invocation => invocation.TargetMethod,
                IObjectCreationOperation creation => creation.Constructor,
                _ => null,
            };
            return target is not null
                && (IsMaySuspendMethod(target, maySuspend) || (target.ReducedFrom is { } reduced && IsMaySuspendMethod(reduced, maySuspend)));
        }

        private bool IsMaySuspendMethod(IMethodSymbol method, HashSet<IMethodSymbol> maySuspend) =>
            HasAttribute(method, _maySuspendAttribute) || HasAttribute(method.OriginalDefinition, _maySuspendAttribute)
            || maySuspend.Contains(method.OriginalDefinition);

        internal INamedTypeSymbol? LockType => _compilation.GetTypeByMetadataName("System.Threading.Lock");

        internal INamedTypeSymbol? MonitorType => _compilation.GetTypeByMetadataName("System.Threading.Monitor");

        private static bool HasAttribute(ISymbol symbol, INamedTypeSymbol? attribute) =>
            attribute is not null && symbol.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute));
    }

    /// <summary>One method, local function or lambda and its control flow graph.</summary>
    internal sealed class FunctionInfo
    {
        public FunctionInfo(ControlFlowGraph cfg, IMethodSymbol symbol, SyntaxNode syntax, FunctionInfo? parent, SemanticModel? model)
        {
            Model = model;
            Cfg = cfg;
            Symbol = symbol;
            Syntax = syntax;
            Parent = parent;
        }

        public ControlFlowGraph Cfg { get; }

        /// <summary>The semantic model of the original operations (flow graph operations carry none).</summary>
        public SemanticModel? Model { get; }

        public IMethodSymbol Symbol { get; }

        public SyntaxNode Syntax { get; }

        public FunctionInfo? Parent { get; }

        public bool IsFiberBody { get; set; }

        public bool CanSuspend { get; set; }

        /// <summary>A fiber body, or reached from one (nested in it, or a suspending function it calls).</summary>
        public bool IsReachable { get; set; }

        /// <summary>Carries [MaySuspend] itself: a declared suspension point.</summary>
        public bool IsDeclaredSuspension { get; set; }

        public HashSet<IMethodSymbol> FiberBodyLambdas { get; } = new(SymbolEqualityComparer.Default);

        /// <summary>Every operation of this function's own graph (nested functions excluded).</summary>
        public IEnumerable<IOperation> Operations()
        {
            foreach (var block in Cfg.Blocks)
            {
                foreach (var op in block.Operations)
                {
                    foreach (var d in op.DescendantsAndSelf())
                    {
                        yield return d;
                    }
                }

                if (block.BranchValue is { } branch)
                {
                    foreach (var d in branch.DescendantsAndSelf())
                    {
                        yield return d;
                    }
                }
            }
        }

        public IEnumerable<IOperation> Invocations() => Operations().Where(o => o is IInvocationOperation or IObjectCreationOperation);
    }
}
