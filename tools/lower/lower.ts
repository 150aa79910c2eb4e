/**
 * The generator lowering: a TypeScript transformer (a `before` transformer of the build's
 * emit, tools/build.ts) that compiles every `Task` generator — a generator function or
 * method whose yield type is the scheduler's `Yielded` (SchedPoint | BlockOn) — into a
 * class extending `Frame` (src/kernel/sched/frame.ts) whose locals and resume point are
 * plain fields, and replaces the generator by a plain function returning a new frame.
 * docs/ARCHITECTURE.md, "The lowering", says what it does and what it refuses.
 *
 * How a body is cut:
 * - a statement with no `yield` in it is emitted as it is (in one case of the frame's
 *   switch), its references to the frame's fields rewritten (`x` → `this.x`, `this` →
 *   `this.$self`) and its `break`/`continue`/`return` that leave it turned into jumps;
 * - a statement with a `yield` is taken apart: blocks, `if`, loops (`for`, `for...of` over
 *   an array, `while`, `do`), `switch`, labels, `try`/`catch`/`finally`, and expressions
 *   with a `yield` anywhere in them (operands evaluated before the `yield` are kept in
 *   temporaries; `&&`, `||`, `??` and `?:` keep their short circuits);
 * - the locals of a block that is taken apart, the parameters, the variables a nested
 *   generator captures from its enclosing function (which must not be reassigned) and
 *   the temporaries are the frame's fields; the other locals stay JavaScript locals (they
 *   cannot live across a scheduling point).
 *
 * What it refuses, with file:line:col (LowerError): a `yield` in a position it does not
 * take apart, `for...of` over something that is not an array around a scheduling point (an
 * iterator cannot be copied: iterate `Array.from(...)`), `for...in` around one, `var`,
 * `arguments`, `super`, destructured parameters, a nested `function` that uses the frame's
 * locals, and a closure that outlives the step it was made in (an arrow function that uses
 * the frame's locals or `this` anywhere but as the callback argument of a call).
 */
import ts from 'typescript';

/** A construct the lowering does not take, at a position in a source file. */
export class LowerError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    readonly why: string,
  ) {
    super(`${file}:${line}:${col}: cannot lower this Task generator: ${why}`);
    this.name = 'LowerError';
  }
}

/** Whether `fn` is a Task generator (its yield type is the scheduler's Yielded). */
export function isTaskGenerator(checker: ts.TypeChecker, fn: ts.SignatureDeclaration): boolean {
  if (!isGeneratorLike(fn)) return false;
  const types: ts.Type[] = [];
  const sig = checker.getSignatureFromDeclaration(fn);
  if (sig !== undefined) types.push(checker.getReturnTypeOfSignature(sig));
  // An object literal's method typed by its context (a scenario op's `*run(ctx, a)`).
  if (fn.type === undefined && (ts.isMethodDeclaration(fn) || ts.isFunctionExpression(fn))) {
    let ctx: ts.Type | undefined;
    if (ts.isFunctionExpression(fn)) ctx = checker.getContextualType(fn);
    else if (ts.isObjectLiteralExpression(fn.parent) && ts.isIdentifier(fn.name)) {
      const obj = checker.getContextualType(fn.parent);
      const prop = obj?.getProperty(fn.name.text);
      if (prop !== undefined) ctx = checker.getTypeOfSymbol(prop);
    }
    if (ctx !== undefined) {
      for (const s of ctx.getCallSignatures()) types.push(checker.getReturnTypeOfSignature(s));
    }
  }
  for (const t of types) {
    const args = checker.getTypeArguments(t as ts.TypeReference);
    const y = args[0];
    if (y !== undefined && /\b(Yielded|SchedPoint|BlockOn)\b/.test(checker.typeToString(y))) return true;
    const alias = t.aliasSymbol?.name;
    if (alias === 'Task') return true;
  }
  return false;
}

function isGeneratorLike(n: ts.Node): n is ts.FunctionDeclaration | ts.FunctionExpression | ts.MethodDeclaration {
  return (ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isMethodDeclaration(n)) && n.asteriskToken !== undefined;
}

function isFunctionBoundary(n: ts.Node): boolean {
  return ts.isFunctionLike(n) || ts.isClassLike(n);
}

/** Options of the transformer. */
export interface LowerOptions {
  /** Absolute path of src/kernel/sched/frame.ts (the import the frames need). */
  readonly frameModule: string;
  /** Only files for which this returns true are lowered (default: all). */
  readonly include?: (fileName: string) => boolean;
  /**
   * Where refusals go: each refused generator is left as it is and its error added here,
   * so that one build reports them all. Without it the first refusal throws.
   */
  readonly errors?: LowerError[];
  /**
   * Files where a refused generator is an error (default: all). Elsewhere (test fakes that
   * count calls in a closure) a refused generator is left a plain generator: it runs the
   * same, but a thread in it cannot be copied.
   */
  readonly strict?: (fileName: string) => boolean;
}

/** What the lowering did in one program (for the build's summary and the tests). */
export interface LowerStats {
  generators: number;
  files: number;
}

/** The transformer factory: lowers every Task generator of each source file. */
export function lowerTransformer(program: ts.Program, opts: LowerOptions, stats?: LowerStats): ts.TransformerFactory<ts.SourceFile> {
  const checker = program.getTypeChecker();
  return (context) => (sf) => {
    if (opts.include !== undefined && !opts.include(sf.fileName)) return sf;
    const fl = new FileLowering(checker, context.factory, sf, opts);
    const out = fl.run();
    if (stats !== undefined && fl.count > 0) {
      stats.generators += fl.count;
      stats.files++;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------
// One source file

class FileLowering {
  readonly classes: ts.ClassDeclaration[] = [];
  count = 0;
  private readonly names = new Set<string>();
  usesTry = false;

  constructor(
    readonly checker: ts.TypeChecker,
    readonly f: ts.NodeFactory,
    readonly sf: ts.SourceFile,
    readonly opts: LowerOptions,
  ) {}

  error(node: ts.Node, why: string): LowerError {
    const { line, character } = this.sf.getLineAndCharacterOfPosition(node.getStart(this.sf));
    return new LowerError(this.sf.fileName, line + 1, character + 1, why);
  }

  /** A class name unique in the file. */
  className(base: string): string {
    let name = `${base}$frame`;
    for (let i = 2; this.names.has(name); i++) name = `${base}$frame${i}`;
    this.names.add(name);
    return name;
  }

  run(): ts.SourceFile {
    const visit = (node: ts.Node): ts.Node => {
      if (isGeneratorLike(node) && node.body !== undefined && isTaskGenerator(this.checker, node)) {
        const strict = this.opts.strict === undefined || this.opts.strict(this.sf.fileName);
        const sink = this.opts.errors;
        if (sink === undefined && strict) return this.lowerGenerator(node, null);
        const before = this.classes.length;
        try {
          return this.lowerGenerator(node, null);
        } catch (e) {
          if (!(e instanceof LowerError)) throw e;
          if (strict) {
            if (sink === undefined) throw e;
            sink.push(e);
          }
          this.classes.length = before;
          return node;
        }
      }
      return ts.visitEachChild(node, visit, undefined);
    };
    const body = ts.visitNodes(this.sf.statements, visit, ts.isStatement);
    if (this.count === 0) return this.sf;
    const f = this.f;
    const rel = relativeImport(this.sf.fileName, this.opts.frameModule);
    const specs = [
      f.createImportSpecifier(false, f.createIdentifier('Frame'), f.createIdentifier('$Frame')),
      f.createImportSpecifier(false, f.createIdentifier('FRAME_DONE'), f.createIdentifier('$DONE')),
    ];
    if (this.usesTry) specs.push(f.createImportSpecifier(false, f.createIdentifier('TryFrame'), f.createIdentifier('$TryFrame')));
    const imp = f.createImportDeclaration(undefined, f.createImportClause(false, undefined, f.createNamedImports(specs)), f.createStringLiteral(rel));
    const stmts = Array.from(body);
    let at = 0;
    while (at < stmts.length && ts.isImportDeclaration(stmts[at] as ts.Statement)) at++;
    stmts.splice(at, 0, imp, ...this.classes);
    return f.updateSourceFile(this.sf, stmts);
  }

  /**
   * Lower one generator: emit its frame class, return what replaces it (a function or
   * method of the same signature that returns a new frame). `outer`: the lowering of the
   * enclosing Task generator, if any (its fields are what a nested generator captures).
   */
  lowerGenerator(fn: ts.FunctionDeclaration | ts.FunctionExpression | ts.MethodDeclaration, outer: GenLowering | null): ts.Node {
    this.count++;
    const base = generatorName(fn);
    const g = new GenLowering(this, fn, this.className(base), outer);
    const cls = g.build();
    this.classes.push(cls);
    const f = this.f;
    const args: ts.Expression[] = [];
    args.push(g.usesThis ? f.createThis() : f.createVoidZero());
    for (const c of g.captures) args.push(f.createIdentifier(ts.isFunctionExpression(fn) ? c.param : c.name));
    for (const p of fn.parameters) args.push(f.createIdentifier((p.name as ts.Identifier).text));
    const ret = f.createReturnStatement(f.createNewExpression(f.createIdentifier(g.className), undefined, args));
    const body = f.createBlock([ret], true);
    // A declaration or method reads its captured variables from its closure when called
    // (they are never reassigned: GenLowering.analyse); inside a lowered generator they are
    // fields of its frame, which a nested declaration cannot reach.
    if (ts.isFunctionDeclaration(fn)) {
      if (g.captures.length > 0 && outer !== null) throw this.error(fn, 'a generator declaration nested in a Task generator captures its locals: pass them as parameters');
      return f.updateFunctionDeclaration(fn, fn.modifiers, undefined, fn.name, fn.typeParameters, fn.parameters, fn.type, body);
    }
    if (ts.isMethodDeclaration(fn)) {
      if (g.captures.length > 0 && outer !== null) {
        throw this.error(fn, 'a generator method nested in a Task generator captures its locals: pass them as parameters');
      }
      return f.updateMethodDeclaration(fn, fn.modifiers, undefined, fn.name, fn.questionToken, fn.typeParameters, fn.parameters, fn.type, body);
    }
    const expr = f.updateFunctionExpression(fn, fn.modifiers, undefined, fn.name, fn.typeParameters, fn.parameters, fn.type, body);
    if (g.captures.length === 0) return expr;
    // Capture by value at the point the function is made: (c0, c1) => function (...) { return new X(this, c0, c1, ...) }.
    const params = g.captures.map((c) => f.createParameterDeclaration(undefined, undefined, c.param));
    const arrow = f.createArrowFunction(undefined, undefined, params, undefined, undefined, expr);
    const values = g.captures.map((c) => (outer !== null ? outer.rwCaptured(c.symbol, c.node) : f.createIdentifier(c.name)));
    return f.createCallExpression(f.createParenthesizedExpression(arrow), undefined, values);
  }
}

function generatorName(fn: ts.FunctionDeclaration | ts.FunctionExpression | ts.MethodDeclaration): string {
  const own = fn.name !== undefined && ts.isIdentifier(fn.name) ? fn.name.text : 'anonymous';
  if (ts.isMethodDeclaration(fn)) {
    const p = fn.parent;
    if (ts.isClassLike(p) && p.name !== undefined) return `${p.name.text}$${own}`;
    return `op$${own}`;
  }
  return own;
}

function relativeImport(from: string, to: string): string {
  const a = from.split('/').slice(0, -1);
  const b = to.split('/');
  let i = 0;
  while (i < a.length && i < b.length - 1 && a[i] === b[i]) i++;
  const up = a.length - i;
  const rest = b.slice(i).join('/').replace(/\.ts$/, '.js');
  return (up === 0 ? './' : '../'.repeat(up)) + rest;
}

// ---------------------------------------------------------------------------------------
// One generator

/** A jump target in the frame's switch; `n` is its case number, given when it is placed. */
class Label {
  n = -1;
}

/** A lowered construct a `break`/`continue` can target. */
interface JumpScope {
  readonly node: ts.Node;
  readonly labels: readonly string[];
  readonly isLoop: boolean;
  readonly isSwitch: boolean;
  readonly brk: Label;
  readonly cont: Label | null;
  /** Handler-stack depth at the construct. */
  readonly depth: number;
}

/** An active handler of a lowered try statement (static view of `$hs`). */
interface Handler {
  readonly kind: 'catch' | 'finally';
  /** The try's number (its completion fields: `$c<n>`, `$v<n>`, `$t<n>`, `$d<n>`). */
  readonly n: number;
  /** Normal entry of the finally block. */
  readonly entry: Label;
  /** Set when a return / a jump leaves through this finally. */
  returns: boolean;
  jumps: boolean;
}

type Emit = () => ts.Statement[];

interface Block {
  readonly label: Label;
  readonly code: Emit[];
}

interface Capture {
  readonly symbol: ts.Symbol;
  readonly name: string;
  /** The constructor parameter (and wrapper argument) name. */
  readonly param: string;
  readonly node: ts.Identifier;
}

const RESERVED = new Set(['next', 'run', 'return', 'throw', 'constructor', 'prototype', '__proto__']);

class GenLowering {
  readonly f: ts.NodeFactory;
  readonly checker: ts.TypeChecker;
  /** Symbol → field name, for every local kept in the frame. */
  readonly fields = new Map<ts.Symbol, string>();
  /**
   * Locals declared in a block that is taken apart but used only within one step (see
   * `stepLocal`): they stay JavaScript locals of run(), under a name unique in the file
   * (every case of run()'s switch shares one scope).
   */
  private readonly stepLocals = new Map<ts.Symbol, ts.Identifier>();
  private readonly fieldNames = new Set<string>();
  readonly captures: Capture[] = [];
  usesThis = false;
  /** Whether a try statement was taken apart (the frame needs the handler stack). */
  private hasHandlers = false;
  /**
   * Temporaries in use: `$tmp0` .. `$tmp<temps-1>`. A statement's temporaries are free again
   * once its code has run (its values consumed), so the next statement reuses them: a frame
   * has as many temporary fields as its most demanding statement, not as all of them.
   */
  private temps = 0;
  private tries = 0;
  private readonly blocks: Block[] = [];
  private cur: Block;
  private readonly scopes: JumpScope[] = [];
  private readonly handlers: Handler[] = [];
  private readonly yieldCache = new Map<ts.Node, boolean>();
  /** Construct nodes (loops, switches, labeled statements) lowered as jump scopes. */
  private readonly scopeOf = new Map<ts.Node, JumpScope>();
  private readonly paramNames: string[] = [];
  /**
   * Helper closures (`const fail = (err) => ...` in a block taken apart): not kept in the
   * frame — a function cannot be copied with it — but made again at each use, where they
   * read the frame's current fields. Same behaviour for a const closure whose identity
   * nobody compares.
   */
  readonly inlined = new Map<ts.Symbol, ts.ArrowFunction>();
  private readonly inlining = new Set<ts.ArrowFunction>();

  constructor(
    readonly file: FileLowering,
    readonly fn: ts.FunctionDeclaration | ts.FunctionExpression | ts.MethodDeclaration,
    readonly className: string,
    readonly outer: GenLowering | null,
  ) {
    this.f = file.f;
    this.checker = file.checker;
    this.cur = { label: new Label(), code: [] };
  }

  // ---- fields

  private addField(sym: ts.Symbol, name: string): string {
    const existing = this.fields.get(sym);
    if (existing !== undefined) return existing;
    let n = name.startsWith('$') || RESERVED.has(name) ? `${name}$` : name;
    for (let i = 1; this.fieldNames.has(n); i++) n = `${name}$${i}`;
    this.fieldNames.add(n);
    this.fields.set(sym, n);
    return n;
  }

  /**
   * Whether the variable `name`, declared by statement `i` of `block`, never lives across a
   * scheduling point: no statement after its declaration up to its last use has a `yield`
   * (the declaration's own initializer may: the value is bound after it), and no nested
   * function or class uses it (a closure keeps the frame's refusal rules, which see fields).
   * Each time control reaches the declaration it runs again, loops included.
   */
  private stepLocal(block: ts.Block, i: number, name: ts.Identifier): boolean {
    const sym = this.symbolOfDecl(name);
    let inClosure = false;
    const uses = (n: ts.Node, inFn: boolean): boolean => {
      let found = false;
      const scan = (c: ts.Node, fn: boolean): void => {
        if (ts.isTypeNode(c)) return;
        if (ts.isIdentifier(c) && !isPropertyName(c)) {
          const s = ts.isShorthandPropertyAssignment(c.parent) && c.parent.name === c ? this.checker.getShorthandAssignmentValueSymbol(c.parent) : this.checker.getSymbolAtLocation(c);
          if (s === sym) {
            found = true;
            if (fn) inClosure = true;
          }
        }
        ts.forEachChild(c, (x) => scan(x, fn || isFunctionBoundary(x) || ts.isClassLike(x)));
      };
      scan(n, inFn);
      return found;
    };
    const stmts = block.statements;
    let last = i;
    uses(stmts[i] as ts.Statement, false);
    for (let k = i + 1; k < stmts.length; k++) if (uses(stmts[k] as ts.Statement, false)) last = k;
    if (inClosure) return false;
    for (let k = i + 1; k <= last; k++) if (this.hasYield(stmts[k] as ts.Statement)) return false;
    return true;
  }

  private newTemp(): string {
    const n = `$tmp${this.temps++}`;
    if (this.fieldNames.has(n)) return n;
    this.fieldNames.add(n);
    return n;
  }

  /**
   * The iterator result `{ value, done }` that leaves run() with `$pc` set to `pc` (-1 once
   * finished), written out in the frame's class; `value` is evaluated first.
   */
  private step(value: ts.Expression, pc: ts.Expression, done: ts.Expression): ts.ObjectLiteralExpression {
    const f = this.f;
    return f.createObjectLiteralExpression([
      f.createPropertyAssignment('value', value),
      f.createPropertyAssignment('done', f.createComma(f.createAssignment(this.self('$pc'), pc), done)),
    ]);
  }

  /** `const n = v;` */
  private konst(n: ts.Identifier, v: ts.Expression): ts.Statement {
    return this.f.createVariableStatement(undefined, this.f.createVariableDeclarationList([this.f.createVariableDeclaration(n, undefined, undefined, v)], ts.NodeFlags.Const));
  }

  private self(name: string): ts.PropertyAccessExpression {
    return this.f.createPropertyAccessExpression(this.f.createThis(), name);
  }

  private symbolOfDecl(name: ts.Identifier): ts.Symbol {
    const s = this.checker.getSymbolAtLocation(name);
    if (s === undefined) throw this.file.error(name, `no symbol for ${name.text}`);
    return s;
  }

  /** Every identifier bound by a binding name. */
  private boundNames(name: ts.BindingName, out: ts.Identifier[] = []): ts.Identifier[] {
    if (ts.isIdentifier(name)) out.push(name);
    else for (const el of name.elements) if (!ts.isOmittedExpression(el)) this.boundNames(el.name, out);
    return out;
  }

  // ---- analysis

  hasYield(n: ts.Node): boolean {
    const c = this.yieldCache.get(n);
    if (c !== undefined) return c;
    let r = false;
    if (ts.isYieldExpression(n)) r = true;
    else if (!isFunctionBoundary(n)) r = ts.forEachChild(n, (ch) => (this.hasYield(ch) ? true : undefined)) === true;
    this.yieldCache.set(n, r);
    return r;
  }

  /**
   * Decide the fields: parameters, the locals declared directly in a statement list that is
   * taken apart (it has a yield), loop variables of loops and catch bindings of trys with
   * a yield, and captured variables of enclosing functions.
   */
  private analyse(body: ts.Block): void {
    for (const p of this.fn.parameters) {
      if (!ts.isIdentifier(p.name)) throw this.file.error(p, 'destructured parameter: take the object and destructure it in the body');
      this.paramNames.push(p.name.text);
      this.addField(this.symbolOfDecl(p.name), p.name.text);
    }
    const declareList = (list: ts.VariableDeclarationList): void => {
      if ((list.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const)) === 0) throw this.file.error(list, '`var`: use let or const');
      for (const d of list.declarations) {
        const init = d.initializer !== undefined ? stripParens(d.initializer) : undefined;
        if ((list.flags & ts.NodeFlags.Const) !== 0 && ts.isIdentifier(d.name) && init !== undefined && ts.isArrowFunction(init)) {
          // A local helper closure: made again where it is used (see `inlined`).
          this.inlined.set(this.symbolOfDecl(d.name), init);
          continue;
        }
        for (const id of this.boundNames(d.name)) this.addField(this.symbolOfDecl(id), id.text);
      }
    };
    const walk = (n: ts.Node): void => {
      if (isFunctionBoundary(n)) return;
      if (!this.hasYield(n)) return;
      if (ts.isBlock(n)) {
        n.statements.forEach((s, i) => {
          if (!ts.isVariableStatement(s)) return;
          const d = s.declarationList.declarations[0];
          const helper = d?.initializer !== undefined && ts.isArrowFunction(stripParens(d.initializer)); // an inlined helper closure (declareList)
          if (s.declarationList.declarations.length === 1 && d !== undefined && !helper && ts.isIdentifier(d.name) && this.stepLocal(n, i, d.name)) {
            this.stepLocals.set(this.symbolOfDecl(d.name), this.f.createUniqueName(d.name.text));
          } else {
            declareList(s.declarationList);
          }
        });
      } else if (ts.isCaseClause(n) || ts.isDefaultClause(n)) {
        for (const s of n.statements) if (ts.isVariableStatement(s)) declareList(s.declarationList);
      } else if ((ts.isForStatement(n) && n.initializer !== undefined && ts.isVariableDeclarationList(n.initializer)) || ts.isForOfStatement(n)) {
        const init = n.initializer as ts.ForInitializer;
        if (ts.isVariableDeclarationList(init)) declareList(init);
      } else if (ts.isForInStatement(n)) {
        throw this.file.error(n, '`for...in` around a scheduling point: iterate Object.keys(...) with for...of');
      } else if (ts.isTryStatement(n) && n.catchClause?.variableDeclaration !== undefined) {
        for (const id of this.boundNames(n.catchClause.variableDeclaration.name)) this.addField(this.symbolOfDecl(id), id.text);
      } else if (ts.isVariableStatement(n) && !ts.isBlock(n.parent) && !ts.isSourceFile(n.parent) && !ts.isCaseClause(n.parent) && !ts.isDefaultClause(n.parent)) {
        declareList(n.declarationList);
      }
      ts.forEachChild(n, walk);
    };
    walk(body);
    // Captures: identifiers bound in an enclosing function of this generator.
    const fnStart = this.fn.pos;
    const fnEnd = this.fn.end;
    const enclosing: ts.Node[] = [];
    for (let p = this.fn.parent; p !== undefined && !ts.isSourceFile(p); p = p.parent) if (ts.isFunctionLike(p)) enclosing.push(p);
    if (enclosing.length === 0) return;
    const seen = new Set<ts.Symbol>();
    const scan = (n: ts.Node): void => {
      if (ts.isIdentifier(n) && !isPropertyName(n)) {
        const s = ts.isShorthandPropertyAssignment(n.parent) && n.parent.name === n ? this.checker.getShorthandAssignmentValueSymbol(n.parent) : this.checker.getSymbolAtLocation(n);
        const d = s?.valueDeclaration ?? s?.declarations?.[0];
        if (s !== undefined && d !== undefined && !seen.has(s) && d.getSourceFile() === this.fn.getSourceFile() && !(d.pos >= fnStart && d.end <= fnEnd)) {
          if (enclosing.some((e) => d.pos >= e.pos && d.end <= e.end) && (ts.isVariableDeclaration(d) || ts.isParameter(d) || ts.isBindingElement(d))) {
            seen.add(s);
            if (this.outer !== null && this.outer.inlined.has(s)) {
              throw this.file.error(n, `the nested generator uses \`${n.text}\`, a helper closure of the enclosing generator: a closure cannot be copied with the frame`);
            }
            if (isReassigned(this.checker, s, enclosing[enclosing.length - 1] as ts.Node)) {
              throw this.file.error(n, `the nested generator captures \`${n.text}\`, which its enclosing function reassigns: capture a const`);
            }
            const param = this.addField(s, n.text);
            this.captures.push({ symbol: s, name: n.text, param, node: n });
          }
        }
      }
      if (ts.isTypeNode(n)) return;
      ts.forEachChild(n, scan);
    };
    if (this.fn.body !== undefined) scan(this.fn.body);
  }

  // ---- building the switch

  /** The statement being lowered: synthesized code maps to it (source maps, stack traces). */
  private origin: ts.Node | null = null;

  private emit(e: Emit): void {
    const at = this.origin;
    this.cur.code.push(at === null ? e : () => e().map((x) => (x.pos < 0 ? ts.setSourceMapRange(x, at) : x)));
  }

  private emitStmt(s: ts.Statement): void {
    this.emit(() => [s]);
  }

  private mark(l: Label): void {
    this.blocks.push(this.cur);
    this.cur = { label: l, code: [] };
  }

  private jumpStmts(l: Label): ts.Statement[] {
    const f = this.f;
    return [
      f.createExpressionStatement(f.createAssignment(this.self('$pc'), f.createNumericLiteral(l.n))),
      f.createContinueStatement(f.createIdentifier('$run')),
    ];
  }

  private jump(l: Label): void {
    this.emit(() => this.jumpStmts(l));
  }

  private jumpIfNot(cond: ts.Expression, l: Label): void {
    const f = this.f;
    this.emit(() => [f.createIfStatement(f.createLogicalNot(f.createParenthesizedExpression(cond)), f.createBlock(this.jumpStmts(l)))]);
  }

  private jumpIf(cond: ts.Expression, l: Label): void {
    const f = this.f;
    this.emit(() => [f.createIfStatement(cond, f.createBlock(this.jumpStmts(l)))]);
  }

  private setHandlerDepth(d: number): ts.Statement[] {
    const f = this.f;
    return [f.createExpressionStatement(f.createAssignment(f.createPropertyAccessExpression(this.self('$hs'), 'length'), f.createNumericLiteral(d)))];
  }

  /** `yield* task`: the task's value is in `this.$got` after it. */
  private delegate(task: ts.Expression): void {
    const f = this.f;
    const resume = new Label();
    // The delegation written out: `this` is this class here, so its fields are read and written
    // through this class's own shape, not through a base-class method that sees every frame
    // class (a megamorphic property access, the lowering's main cost before; ARCHITECTURE.md).
    this.emit(() => {
      const t = f.createUniqueName('t');
      const r = f.createUniqueName('r');
      return [
        f.createBlock([
          this.konst(t, task),
          f.createExpressionStatement(f.createAssignment(this.self('$pc'), f.createNumericLiteral(resume.n))),
          this.konst(r, f.createCallExpression(f.createPropertyAccessExpression(t, 'next'), undefined, [])),
          f.createIfStatement(
            f.createStrictInequality(f.createPropertyAccessExpression(r, 'done'), f.createTrue()),
            f.createBlock([f.createExpressionStatement(f.createAssignment(this.self('$sub'), t)), f.createReturnStatement(r)]),
          ),
          f.createExpressionStatement(f.createAssignment(this.self('$got'), f.createPropertyAccessExpression(r, 'value'))),
        ]),
      ];
    });
    this.mark(resume);
  }

  /** `yield value`. */
  private yieldPoint(value: ts.Expression): void {
    const f = this.f;
    const resume = new Label();
    this.emit(() => [f.createReturnStatement(this.step(value, f.createNumericLiteral(resume.n), f.createFalse()))]);
    this.mark(resume);
  }

  // ---- expressions

  /** Rewrite an expression or statement with no yield: fields, this, jumps out of it. */
  private rw<T extends ts.Node>(node: T, jumpsFrom: ts.Node | null = null): T {
    const f = this.f;
    const visit = (n: ts.Node, inFn: boolean, inArrow = false): ts.Node => {
      if (ts.isTypeNode(n)) return n;
      if (ts.isIdentifier(n)) {
        if (isPropertyName(n)) return n;
        if (n.text === 'arguments' && !inFn) throw this.file.error(n, '`arguments`: name the parameters');
        // the name of a shorthand property taken apart by an object literal with a yield (`{ ret, data: yield* t }`) stands for the variable
        const s = ts.isShorthandPropertyAssignment(n.parent) && n.parent.name === n ? this.checker.getShorthandAssignmentValueSymbol(n.parent) : this.checker.getSymbolAtLocation(n);
        const fieldName = s !== undefined ? this.fields.get(s) : undefined;
        if (fieldName !== undefined) {
          if (inFn) throw this.file.error(n, `a nested function uses \`${n.text}\`, a local of the frame: use an arrow function, or pass it`);
          return ts.setTextRange(this.self(fieldName), n);
        }
        const local = s !== undefined ? this.stepLocals.get(s) : undefined;
        if (local !== undefined) return local;
        const arrow = s !== undefined ? this.inlined.get(s) : undefined;
        if (arrow !== undefined) {
          if (inFn) throw this.file.error(n, `a nested function uses \`${n.text}\`, a helper closure of the frame`);
          this.inlining.add(arrow);
          return this.f.createParenthesizedExpression(visit(arrow, false) as ts.Expression);
        }
        return n;
      }
      if (ts.isShorthandPropertyAssignment(n)) {
        const s = this.checker.getShorthandAssignmentValueSymbol(n);
        const fieldName = s !== undefined ? this.fields.get(s) : undefined;
        if (fieldName !== undefined) {
          if (inFn) throw this.file.error(n, `a nested function uses \`${n.name.text}\`, a local of the frame`);
          return f.createPropertyAssignment(n.name, this.self(fieldName));
        }
        const local = s !== undefined ? this.stepLocals.get(s) : undefined;
        if (local !== undefined) return f.createPropertyAssignment(n.name, local);
        return n;
      }
      if (n.kind === ts.SyntaxKind.ThisKeyword && !inFn) {
        this.usesThis = true;
        return this.self('$self');
      }
      if (n.kind === ts.SyntaxKind.SuperKeyword) throw this.file.error(n, '`super` in a Task generator');
      if (isGeneratorLike(n) && n.body !== undefined && isTaskGenerator(this.checker, n)) {
        if (inFn) throw this.file.error(n, 'a Task generator nested in a nested function');
        return this.file.lowerGenerator(n, this);
      }
      if (ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isMethodDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n) || ts.isConstructorDeclaration(n) || ts.isClassLike(n)) {
        return ts.visitEachChild(n, (c) => visit(c, true), undefined);
      }
      if (ts.isArrowFunction(n) && !inFn) {
        this.checkClosure(n);
        return ts.visitEachChild(n, (c) => visit(c, false, true), undefined);
      }
      if (jumpsFrom !== null && !inFn && !inArrow) {
        if (ts.isReturnStatement(n)) {
          const v = n.expression !== undefined ? (visit(n.expression, false) as ts.Expression) : f.createVoidZero();
          return ts.setTextRange(f.createBlock(this.returnStmts(v), false), n);
        }
        if (ts.isBreakStatement(n) || ts.isContinueStatement(n)) {
          const target = jumpTarget(n);
          if (target !== undefined && !(target.pos >= jumpsFrom.pos && target.end <= jumpsFrom.end)) {
            return ts.setTextRange(f.createBlock(this.jumpOut(n, target), false), n);
          }
          return n;
        }
      }
      return ts.visitEachChild(n, (c) => visit(c, inFn, inArrow), undefined);
    };
    return visit(node, false) as T;
  }

  /** An expression from a captured variable, as the enclosing (lowered) generator reads it. */
  rwCaptured(sym: ts.Symbol, node: ts.Identifier): ts.Expression {
    const name = this.fields.get(sym);
    return name !== undefined ? this.self(name) : this.f.createIdentifier(node.text);
  }

  /**
   * An arrow function made by a frame: allowed when it uses no local of the frame and no
   * `this`, or when it is the callback argument of a call (used during the step).
   */
  private checkClosure(a: ts.ArrowFunction): void {
    if (this.inlining.has(a)) return;
    if (ts.isCallExpression(a.parent) && a.parent.arguments.includes(a)) return;
    let uses: ts.Node | null = null;
    const scan = (n: ts.Node): void => {
      if (uses !== null || ts.isTypeNode(n)) return;
      if (n.kind === ts.SyntaxKind.ThisKeyword) uses = n;
      else if (ts.isIdentifier(n) && !isPropertyName(n)) {
        const s = this.checker.getSymbolAtLocation(n);
        if (s !== undefined && this.fields.has(s)) uses = n;
      }
      if (ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n)) return;
      ts.forEachChild(n, scan);
    };
    scan(a.body);
    if (uses !== null) {
      throw this.file.error(a, 'a closure over the frame (its locals or `this`) that may outlive the step: the thread could not be copied with the world; pass a task or an object instead');
    }
  }

  /** Whether an expression can be evaluated after a later operand's yield without being kept in a temporary. */
  private isStable(e: ts.Expression): boolean {
    if (ts.isLiteralExpression(e) || e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword || e.kind === ts.SyntaxKind.NullKeyword) return true;
    if (ts.isIdentifier(e)) {
      const s = this.checker.getSymbolAtLocation(e);
      if (s === undefined) return false;
      if (this.fields.has(s)) return false;
      const d = s.valueDeclaration ?? s.declarations?.[0];
      if (d === undefined) return true; // a global
      // Imports (functions and constants) and module-level consts, functions and classes do
      // not change while the frame sleeps; a module-level `let` may.
      if (ts.isImportSpecifier(d) || ts.isImportClause(d) || ts.isNamespaceImport(d)) return true;
      if (!ts.isSourceFile(containerOf(d))) return false;
      if (ts.isVariableDeclaration(d)) return (d.parent.flags & ts.NodeFlags.Const) !== 0;
      return ts.isFunctionDeclaration(d) || ts.isClassDeclaration(d) || ts.isEnumDeclaration(d);
    }
    return false;
  }

  /** Keep a lowered operand in a temporary when a later operand yields. */
  private spill(e: ts.Expression): ts.Expression {
    const t = this.newTemp();
    this.emitStmt(this.f.createExpressionStatement(this.f.createAssignment(this.self(t), e)));
    return this.self(t);
  }

  /** Lower operands in order: every operand evaluated before the last one with a yield is spilled. */
  private operands(ops: readonly ts.Expression[]): ts.Expression[] {
    let last = -1;
    ops.forEach((o, i) => {
      if (this.hasYield(o)) last = i;
    });
    return ops.map((o, i) => {
      if (i > last) return this.rw(o);
      const v = this.expr(o);
      return i < last && !this.isStable(o) ? this.spill(v) : v;
    });
  }

  /** Lower an expression that may contain yields; returns what stands for its value. */
  private expr(e: ts.Expression): ts.Expression {
    if (!this.hasYield(e)) return this.rw(e);
    const f = this.f;
    if (ts.isYieldExpression(e)) {
      const v = e.expression !== undefined ? this.expr(e.expression) : f.createVoidZero();
      if (e.asteriskToken !== undefined) {
        // `$got` is read before the next delegation can change it: every consumer uses the
        // value at once, and `operands` spills an operand that a later yield would outlive
        this.delegate(v);
        return this.self('$got');
      }
      this.yieldPoint(v);
      return f.createVoidZero();
    }
    if (ts.isParenthesizedExpression(e)) return f.createParenthesizedExpression(this.expr(e.expression));
    if (ts.isAsExpression(e) || ts.isNonNullExpression(e) || ts.isTypeAssertionExpression(e) || ts.isSatisfiesExpression(e)) return this.expr(e.expression);
    if (ts.isPrefixUnaryExpression(e)) {
      if (e.operator === ts.SyntaxKind.PlusPlusToken || e.operator === ts.SyntaxKind.MinusMinusToken) throw this.file.error(e, 'increment of a yield');
      return f.createPrefixUnaryExpression(e.operator, this.expr(e.operand));
    }
    if (ts.isTypeOfExpression(e)) return f.createTypeOfExpression(this.expr(e.expression));
    if (ts.isVoidExpression(e)) return f.createVoidExpression(this.expr(e.expression));
    if (ts.isConditionalExpression(e)) {
      const t = this.newTemp();
      const elseL = new Label();
      const endL = new Label();
      this.jumpIfNot(this.expr(e.condition), elseL);
      this.assignTemp(t, this.expr(e.whenTrue));
      this.jump(endL);
      this.mark(elseL);
      this.assignTemp(t, this.expr(e.whenFalse));
      this.mark(endL);
      return this.self(t);
    }
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.QuestionQuestionToken) {
        const t = this.newTemp();
        const endL = new Label();
        this.assignTemp(t, this.expr(e.left));
        const tv = this.self(t);
        const skip =
          op === ts.SyntaxKind.AmpersandAmpersandToken
            ? f.createLogicalNot(tv)
            : op === ts.SyntaxKind.BarBarToken
              ? tv
              : f.createBinaryExpression(tv, ts.SyntaxKind.ExclamationEqualsToken, f.createNull());
        this.jumpIf(skip, endL);
        this.assignTemp(t, this.expr(e.right));
        this.mark(endL);
        return this.self(t);
      }
      if (op === ts.SyntaxKind.CommaToken) {
        const l = this.expr(e.left);
        this.emitStmt(f.createExpressionStatement(l));
        return this.expr(e.right);
      }
      if (op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment) return this.assignment(e);
      const [l, r] = this.operands([e.left, e.right]) as [ts.Expression, ts.Expression];
      return f.createBinaryExpression(l, e.operatorToken, r);
    }
    if (ts.isCallExpression(e) || ts.isNewExpression(e)) {
      if (ts.isCallExpression(e) && e.questionDotToken !== undefined) throw this.file.error(e, 'optional call with a yield');
      const args = e.arguments ?? ts.factory.createNodeArray<ts.Expression>([]);
      if (args.some((a) => ts.isSpreadElement(a))) throw this.file.error(e, 'spread argument in a call with a yield');
      const callee = e.expression;
      if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(callee) && !this.hasYield(callee.name)) {
        const [obj, ...rest] = this.operands([callee.expression, ...args]) as [ts.Expression, ...ts.Expression[]];
        return f.createCallExpression(f.createPropertyAccessExpression(obj, callee.name), undefined, rest);
      }
      const [c, ...rest] = this.operands([callee, ...args]) as [ts.Expression, ...ts.Expression[]];
      return ts.isCallExpression(e) ? f.createCallExpression(c, undefined, rest) : f.createNewExpression(c, undefined, rest);
    }
    if (ts.isPropertyAccessExpression(e)) {
      if (e.questionDotToken !== undefined) throw this.file.error(e, 'optional chain on a yield');
      return f.createPropertyAccessExpression(this.expr(e.expression), e.name);
    }
    if (ts.isElementAccessExpression(e)) {
      const [o, k] = this.operands([e.expression, e.argumentExpression]) as [ts.Expression, ts.Expression];
      return f.createElementAccessExpression(o, k);
    }
    if (ts.isArrayLiteralExpression(e)) {
      if (e.elements.some((x) => ts.isSpreadElement(x) || ts.isOmittedExpression(x))) throw this.file.error(e, 'spread in an array literal with a yield');
      return f.createArrayLiteralExpression(this.operands(e.elements));
    }
    if (ts.isObjectLiteralExpression(e)) {
      const props = e.properties;
      if (!props.every((p) => ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p))) throw this.file.error(e, 'object literal with a yield and methods, accessors or spreads');
      const values = this.operands(props.map((p) => (ts.isPropertyAssignment(p) ? p.initializer : (p as ts.ShorthandPropertyAssignment).name)));
      return f.createObjectLiteralExpression(
        props.map((p, i) => f.createPropertyAssignment(ts.isPropertyAssignment(p) ? p.name : (p as ts.ShorthandPropertyAssignment).name, values[i] as ts.Expression)),
        false,
      );
    }
    if (ts.isTemplateExpression(e)) {
      const vals = this.operands(e.templateSpans.map((s) => s.expression));
      return f.createTemplateExpression(
        e.head,
        e.templateSpans.map((s, i) => f.createTemplateSpan(vals[i] as ts.Expression, s.literal)),
      );
    }
    throw this.file.error(e, `a yield inside ${ts.SyntaxKind[e.kind]} is not taken apart: compute it into a const first`);
  }

  private assignTemp(t: string, v: ts.Expression): void {
    this.emitStmt(this.f.createExpressionStatement(this.f.createAssignment(this.self(t), v)));
  }

  /** `target op= value` with a yield in it. */
  private assignment(e: ts.BinaryExpression): ts.Expression {
    const f = this.f;
    const op = e.operatorToken.kind;
    const left = e.left;
    if (ts.isObjectLiteralExpression(left) || ts.isArrayLiteralExpression(left)) {
      if (this.hasYield(left)) throw this.file.error(left, 'a yield in a destructuring target');
      return f.createAssignment(this.rw(left), this.expr(e.right));
    }
    let target: ts.Expression;
    if (ts.isIdentifier(left)) {
      target = this.rw(left);
    } else if (ts.isPropertyAccessExpression(left)) {
      target = f.createPropertyAccessExpression(this.hasYield(e.right) && !this.isStable(left.expression) ? this.spill(this.expr(left.expression)) : this.expr(left.expression), left.name);
    } else if (ts.isElementAccessExpression(left)) {
      const [o, k] = this.operands([left.expression, left.argumentExpression]) as [ts.Expression, ts.Expression];
      const os = this.hasYield(e.right) ? this.spill(o) : o;
      const ks = this.hasYield(e.right) ? this.spill(k) : k;
      target = f.createElementAccessExpression(os, ks);
    } else {
      throw this.file.error(left, 'assignment target with a yield');
    }
    if (op === ts.SyntaxKind.EqualsToken) return f.createAssignment(target, this.expr(e.right));
    // Compound: the old value is read before the right side runs.
    const old = this.hasYield(e.right) ? this.spill(target) : target;
    const binop = compoundToBinary(op);
    if (binop === undefined) throw this.file.error(e, 'logical assignment with a yield');
    return f.createAssignment(target, f.createBinaryExpression(old, binop, this.expr(e.right)));
  }

  // ---- statements

  private returnStmts(v: ts.Expression): ts.Statement[] {
    const f = this.f;
    const h = this.innermostFinally(0);
    if (h === null) return [f.createReturnStatement(this.step(v, f.createPrefixMinus(f.createNumericLiteral(1)), f.createTrue()))];
    h.returns = true;
    return [
      f.createExpressionStatement(f.createAssignment(this.self(`$c${h.n}`), f.createNumericLiteral(2))),
      f.createExpressionStatement(f.createAssignment(this.self(`$v${h.n}`), v)),
      ...this.setHandlerDepth(this.handlers.indexOf(h)),
      ...this.jumpStmts(h.entry),
    ];
  }

  /** The innermost active finally handler at index >= depth, or null. */
  private innermostFinally(depth: number, stack: readonly Handler[] = this.handlers): Handler | null {
    for (let i = stack.length - 1; i >= depth; i--) {
      const h = stack[i] as Handler;
      if (h.kind === 'finally') return h;
    }
    return null;
  }

  /** The statements of a break/continue to a lowered construct, through finally blocks. */
  private jumpOut(n: ts.BreakStatement | ts.ContinueStatement, target: ts.Node): ts.Statement[] {
    const scope = this.scopeOf.get(target);
    if (scope === undefined) throw this.file.error(n, 'jump to a construct the lowering did not see');
    const to = ts.isContinueStatement(n) ? scope.cont : scope.brk;
    if (to === null) throw this.file.error(n, 'continue to a non-loop');
    return this.jumpTo(to, scope.depth, this.handlers);
  }

  private jumpTo(to: Label, depth: number, stack: readonly Handler[]): ts.Statement[] {
    const f = this.f;
    const h = this.innermostFinally(depth, stack);
    if (h === null) {
      const pop = stack.length > depth ? this.setHandlerDepth(depth) : [];
      return [...pop, ...this.jumpStmts(to)];
    }
    h.jumps = true;
    return [
      f.createExpressionStatement(f.createAssignment(this.self(`$c${h.n}`), f.createNumericLiteral(3))),
      f.createExpressionStatement(f.createAssignment(this.self(`$t${h.n}`), f.createNumericLiteral(to.n))),
      f.createExpressionStatement(f.createAssignment(this.self(`$d${h.n}`), f.createNumericLiteral(depth))),
      ...this.setHandlerDepth(stack.indexOf(h)),
      ...this.jumpStmts(h.entry),
    ];
  }

  /** Emit a statement with no yield (lazily: its jumps need the case numbers). */
  private plain(s: ts.Statement): void {
    if (ts.isVariableStatement(s)) {
      const decls = s.declarationList.declarations.filter((d) => !(ts.isIdentifier(d.name) && this.inlined.has(this.symbolOfDecl(d.name))));
      if (decls.length === 0) return;
      if (decls.length < s.declarationList.declarations.length) {
        throw this.file.error(s, 'declare a helper closure in its own `const` statement');
      }
      const asFields = decls.some((d) => this.boundNames(d.name).some((id) => this.fields.has(this.symbolOfDecl(id))));
      if (asFields) {
        for (const d of decls) this.emitStmt(this.f.createExpressionStatement(this.initField(d.name, d.initializer !== undefined ? this.rw(d.initializer) : this.f.createVoidZero())));
        return;
      }
    }
    const handlers = this.handlers.slice();
    const scopes = this.scopes.slice();
    this.emit(() => {
      const saveH = this.handlers.splice(0, this.handlers.length, ...handlers);
      const saveS = this.scopes.splice(0, this.scopes.length, ...scopes);
      try {
        return [ts.setTextRange(this.rw(s, s), s)];
      } finally {
        this.handlers.splice(0, this.handlers.length, ...saveH);
        this.scopes.splice(0, this.scopes.length, ...saveS);
      }
    });
  }

  /** `field = value` for a declaration's binding name (a destructuring assigns the fields). */
  private initField(name: ts.BindingName, value: ts.Expression): ts.Expression {
    return this.f.createAssignment(this.bindingTarget(name), value);
  }

  private bindingTarget(name: ts.BindingName): ts.Expression {
    const f = this.f;
    if (ts.isIdentifier(name)) {
      const field = this.fields.get(this.symbolOfDecl(name));
      if (field === undefined) throw this.file.error(name, `internal: ${name.text} is not a field`);
      return this.self(field);
    }
    if (ts.isObjectBindingPattern(name)) {
      return f.createObjectLiteralExpression(
        name.elements.map((el) => {
          if (el.dotDotDotToken !== undefined) return f.createSpreadAssignment(this.bindingTarget(el.name));
          const key = el.propertyName ?? (el.name as ts.Identifier);
          const t = this.bindingTarget(el.name);
          return f.createPropertyAssignment(key, el.initializer !== undefined ? f.createAssignment(t, this.rw(el.initializer)) : t);
        }),
      );
    }
    return f.createArrayLiteralExpression(
      name.elements.map((el) => {
        if (ts.isOmittedExpression(el)) return f.createOmittedExpression();
        const t = this.bindingTarget(el.name);
        if (el.dotDotDotToken !== undefined) return f.createSpreadElement(t);
        return el.initializer !== undefined ? f.createAssignment(t, this.rw(el.initializer)) : t;
      }),
    );
  }

  private stmt(s: ts.Statement): void {
    const saved = this.origin;
    const temps = this.temps;
    this.origin = s;
    try {
      this.stmtAt(s);
    } finally {
      this.origin = saved;
    }
    // every value the statement kept in a temporary has been used by the end of its code
    this.temps = temps;
  }


  private stmtAt(s: ts.Statement): void {
    if (!this.hasYield(s)) {
      this.plain(s);
      return;
    }
    const f = this.f;
    if (ts.isBlock(s)) {
      for (const x of s.statements) this.stmt(x);
      return;
    }
    if (ts.isExpressionStatement(s)) {
      const e = stripParens(s.expression);
      if (ts.isYieldExpression(e)) {
        const v = e.expression !== undefined ? this.expr(e.expression) : f.createVoidZero();
        if (e.asteriskToken !== undefined) this.delegate(v);
        else this.yieldPoint(v);
        return;
      }
      if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isIdentifier(e.left) && isDelegation(e.right)) {
        const target = this.rw(e.left);
        this.delegate(this.expr((stripParens(e.right) as ts.YieldExpression).expression as ts.Expression));
        this.emitStmt(f.createExpressionStatement(f.createAssignment(target, this.self('$got'))));
        return;
      }
      const v = this.expr(e);
      this.emitStmt(ts.setTextRange(f.createExpressionStatement(v), s));
      return;
    }
    if (ts.isVariableStatement(s)) {
      const one = s.declarationList.declarations[0];
      const local = one !== undefined && ts.isIdentifier(one.name) ? this.stepLocals.get(this.symbolOfDecl(one.name)) : undefined;
      if (local !== undefined && one !== undefined && one.initializer !== undefined) {
        // a step-local bound to what the statement's yield resumed with
        let v: ts.Expression;
        if (isDelegation(one.initializer)) {
          this.delegate(this.expr((stripParens(one.initializer) as ts.YieldExpression).expression as ts.Expression));
          v = this.self('$got');
        } else {
          v = this.expr(one.initializer);
        }
        const flags = s.declarationList.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const);
        const decl = f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(local, undefined, undefined, v)], flags));
        this.emitStmt(ts.setTextRange(decl, s));
        return;
      }
      for (const d of s.declarationList.declarations) {
        if (d.initializer === undefined) {
          this.emitStmt(f.createExpressionStatement(this.initField(d.name, f.createVoidZero())));
        } else if (isDelegation(d.initializer)) {
          this.delegate(this.expr((stripParens(d.initializer) as ts.YieldExpression).expression as ts.Expression));
          this.emitStmt(ts.setTextRange(f.createExpressionStatement(this.initField(d.name, this.self('$got'))), d));
        } else {
          const v = this.expr(d.initializer);
          this.emitStmt(ts.setTextRange(f.createExpressionStatement(this.initField(d.name, v)), d));
        }
      }
      return;
    }
    if (ts.isReturnStatement(s)) {
      const e = s.expression as ts.Expression; // has a yield, so it has an expression
      let v: ts.Expression;
      if (isDelegation(e)) {
        this.delegate(this.expr((stripParens(e) as ts.YieldExpression).expression as ts.Expression));
        v = this.self('$got');
      } else {
        v = this.expr(e);
      }
      const stmts = this.returnStmts(v);
      this.emit(() => stmts.map((x) => ts.setTextRange(x, s)));
      return;
    }
    if (ts.isThrowStatement(s)) {
      this.emitStmt(f.createThrowStatement(this.expr(s.expression)));
      return;
    }
    if (ts.isIfStatement(s)) {
      const elseL = new Label();
      const endL = new Label();
      this.jumpIfNot(this.expr(s.expression), s.elseStatement !== undefined ? elseL : endL);
      this.stmt(s.thenStatement);
      if (s.elseStatement !== undefined) {
        this.jump(endL);
        this.mark(elseL);
        this.stmt(s.elseStatement);
      }
      this.mark(endL);
      return;
    }
    if (ts.isLabeledStatement(s)) {
      this.labeled(s.statement, [s.label.text], s);
      return;
    }
    if (ts.isIterationStatement(s, false) || ts.isSwitchStatement(s)) {
      this.labeled(s, [], null);
      return;
    }
    if (ts.isTryStatement(s)) {
      this.tryStmt(s);
      return;
    }
    throw this.file.error(s, `a yield inside ${ts.SyntaxKind[s.kind]} is not taken apart`);
  }

  /** A loop, switch or other statement with labels (a labeled statement's break target is its end). */
  private labeled(s: ts.Statement, labels: string[], labelNode: ts.LabeledStatement | null): void {
    if (ts.isLabeledStatement(s)) {
      this.labeled(s.statement, [...labels, s.label.text], labelNode);
      return;
    }
    const brk = new Label();
    const isLoop = ts.isIterationStatement(s, false);
    const cont = isLoop ? new Label() : null;
    const scope: JumpScope = { node: s, labels, isLoop, isSwitch: ts.isSwitchStatement(s), brk, cont, depth: this.handlers.length };
    this.scopeOf.set(s, scope);
    if (labelNode !== null) this.scopeOf.set(labelNode, scope);
    for (let p: ts.Node = s; p.parent !== undefined && ts.isLabeledStatement(p.parent); p = p.parent) this.scopeOf.set(p.parent, scope);
    this.scopes.push(scope);
    try {
      if (ts.isWhileStatement(s)) this.whileLoop(s, scope);
      else if (ts.isDoStatement(s)) this.doLoop(s, scope);
      else if (ts.isForStatement(s)) this.forLoop(s, scope);
      else if (ts.isForOfStatement(s)) this.forOfLoop(s, scope);
      else if (ts.isSwitchStatement(s)) this.switchStmt(s, scope);
      else if (ts.isForInStatement(s)) throw this.file.error(s, '`for...in` around a scheduling point: iterate Object.keys(...) with for...of');
      else this.stmt(s);
    } finally {
      this.scopes.pop();
    }
    this.mark(brk);
  }

  private whileLoop(s: ts.WhileStatement, sc: JumpScope): void {
    const head = sc.cont as Label;
    this.mark(head);
    this.jumpIfNot(this.expr(s.expression), sc.brk);
    this.stmt(s.statement);
    this.jump(head);
  }

  private doLoop(s: ts.DoStatement, sc: JumpScope): void {
    const top = new Label();
    this.mark(top);
    this.stmt(s.statement);
    this.mark(sc.cont as Label);
    this.jumpIf(this.expr(s.expression), top);
  }

  private forLoop(s: ts.ForStatement, sc: JumpScope): void {
    const f = this.f;
    const init = s.initializer;
    if (init !== undefined) {
      if (ts.isVariableDeclarationList(init)) {
        for (const d of init.declarations) this.emitStmt(f.createExpressionStatement(this.initField(d.name, d.initializer !== undefined ? this.expr(d.initializer) : f.createVoidZero())));
      } else {
        this.emitStmt(f.createExpressionStatement(this.expr(init)));
      }
    }
    const head = new Label();
    this.mark(head);
    if (s.condition !== undefined) this.jumpIfNot(this.expr(s.condition), sc.brk);
    this.stmt(s.statement);
    this.mark(sc.cont as Label);
    if (s.incrementor !== undefined) this.emitStmt(f.createExpressionStatement(this.expr(s.incrementor)));
    this.jump(head);
  }

  private forOfLoop(s: ts.ForOfStatement, sc: JumpScope): void {
    const f = this.f;
    if (s.awaitModifier !== undefined) throw this.file.error(s, 'for await');
    const t = this.checker.getTypeAtLocation(s.expression);
    if (!this.checker.isArrayType(t) && !this.checker.isTupleType(t)) {
      throw this.file.error(s.expression, `for...of over ${this.checker.typeToString(t)} around a scheduling point: an iterator cannot be copied with the world; iterate an array (Array.from(...))`);
    }
    const arr = this.newTemp();
    const idx = this.newTemp();
    this.assignTemp(arr, this.expr(s.expression));
    this.assignTemp(idx, f.createNumericLiteral(0));
    this.mark(sc.cont as Label);
    this.jumpIf(f.createBinaryExpression(this.self(idx), ts.SyntaxKind.GreaterThanEqualsToken, f.createPropertyAccessExpression(this.self(arr), 'length')), sc.brk);
    const item = f.createElementAccessExpression(this.self(arr), f.createPostfixIncrement(this.self(idx)));
    const init = s.initializer;
    if (ts.isVariableDeclarationList(init)) {
      const d = init.declarations[0] as ts.VariableDeclaration; // for...of declares exactly one
      this.emitStmt(f.createExpressionStatement(this.initField(d.name, item)));
    } else {
      this.emitStmt(f.createExpressionStatement(f.createAssignment(this.rw(init), item)));
    }
    this.stmt(s.statement);
    this.jump(sc.cont as Label);
  }

  private switchStmt(s: ts.SwitchStatement, sc: JumpScope): void {
    const f = this.f;
    const d = this.newTemp();
    this.assignTemp(d, this.expr(s.expression));
    const labels = s.caseBlock.clauses.map(() => new Label());
    let def: Label | null = null;
    s.caseBlock.clauses.forEach((c, i) => {
      if (ts.isDefaultClause(c)) def = labels[i] as Label;
      else {
        if (this.hasYield(c.expression)) throw this.file.error(c.expression, 'a yield in a case expression');
        this.jumpIf(f.createStrictEquality(this.self(d), this.rw(c.expression)), labels[i] as Label);
      }
    });
    this.jump(def ?? sc.brk);
    s.caseBlock.clauses.forEach((c, i) => {
      this.mark(labels[i] as Label);
      for (const x of c.statements) this.stmt(x);
    });
  }

  private tryStmt(s: ts.TryStatement): void {
    this.file.usesTry = true;
    this.hasHandlers = true;
    if (s.finallyBlock !== undefined) {
      const n = this.tries++;
      for (const x of ['c', 'v', 't', 'd']) this.fieldNames.add(`$${x}${n}`);
      const entry = new Label();
      const thrown = new Label();
      const end = new Label();
      const h: Handler = { kind: 'finally', n, entry, returns: false, jumps: false };
      this.emit(() => [this.pushHandler(thrown, 1)]);
      this.handlers.push(h);
      try {
        if (s.catchClause !== undefined) this.tryCatch(s.tryBlock, s.catchClause);
        else this.stmt(s.tryBlock);
      } finally {
        this.handlers.pop();
      }
      const f = this.f;
      this.emit(() => [
        f.createExpressionStatement(f.createCallExpression(f.createPropertyAccessExpression(this.self('$hs'), 'pop'), undefined, [])),
        f.createExpressionStatement(f.createAssignment(this.self(`$c${n}`), f.createNumericLiteral(0))),
        ...this.jumpStmts(entry),
      ]);
      this.mark(thrown);
      this.emitStmt(f.createExpressionStatement(f.createAssignment(this.self(`$c${n}`), f.createNumericLiteral(1))));
      this.emitStmt(f.createExpressionStatement(f.createAssignment(this.self(`$v${n}`), this.self('$exc'))));
      this.mark(entry);
      this.stmt(s.finallyBlock);
      // The end of the finally block: go on as the try block ended.
      const stack = this.handlers.slice();
      this.emit(() => {
        const out: ts.Statement[] = [];
        const c = this.self(`$c${n}`);
        out.push(f.createIfStatement(f.createStrictEquality(c, f.createNumericLiteral(1)), f.createThrowStatement(this.self(`$v${n}`))));
        if (h.returns) {
          const save = this.handlers.splice(0, this.handlers.length, ...stack);
          try {
            out.push(f.createIfStatement(f.createStrictEquality(this.self(`$c${n}`), f.createNumericLiteral(2)), f.createBlock(this.returnStmts(this.self(`$v${n}`)))));
          } finally {
            this.handlers.splice(0, this.handlers.length, ...save);
          }
        }
        if (h.jumps) {
          // Through the enclosing finally blocks the jump crosses, then to its target.
          const inner: ts.Statement[] = [];
          for (let i = stack.length - 1; i >= 0; i--) {
            const o = stack[i] as Handler;
            if (o.kind !== 'finally') continue;
            o.jumps = true;
            inner.push(
              f.createIfStatement(
                f.createLessThanEquals(this.self(`$d${n}`), f.createNumericLiteral(i)),
                f.createBlock([
                  f.createExpressionStatement(f.createAssignment(this.self(`$c${o.n}`), f.createNumericLiteral(3))),
                  f.createExpressionStatement(f.createAssignment(this.self(`$t${o.n}`), this.self(`$t${n}`))),
                  f.createExpressionStatement(f.createAssignment(this.self(`$d${o.n}`), this.self(`$d${n}`))),
                  ...this.setHandlerDepth(i),
                  ...this.jumpStmts(o.entry),
                ]),
              ),
            );
          }
          inner.push(
            f.createExpressionStatement(f.createAssignment(f.createPropertyAccessExpression(this.self('$hs'), 'length'), this.self(`$d${n}`))),
            f.createExpressionStatement(f.createAssignment(this.self('$pc'), this.self(`$t${n}`))),
            f.createContinueStatement(f.createIdentifier('$run')),
          );
          out.push(f.createIfStatement(f.createStrictEquality(this.self(`$c${n}`), f.createNumericLiteral(3)), f.createBlock(inner)));
        }
        return out;
      });
      this.mark(end);
      return;
    }
    if (s.catchClause !== undefined) this.tryCatch(s.tryBlock, s.catchClause);
  }

  private pushHandler(l: Label, finallyBit: 0 | 1): ts.Statement {
    const f = this.f;
    return f.createExpressionStatement(
      f.createCallExpression(f.createPropertyAccessExpression(this.self('$hs'), 'push'), undefined, [f.createNumericLiteral(l.n * 2 + finallyBit)]),
    );
  }

  private tryCatch(body: ts.Block, c: ts.CatchClause): void {
    const f = this.f;
    this.file.usesTry = true;
    this.hasHandlers = true;
    const catchL = new Label();
    const end = new Label();
    this.emit(() => [this.pushHandler(catchL, 0)]);
    this.handlers.push({ kind: 'catch', n: -1, entry: catchL, returns: false, jumps: false });
    try {
      this.stmt(body);
    } finally {
      this.handlers.pop();
    }
    this.emit(() => [f.createExpressionStatement(f.createCallExpression(f.createPropertyAccessExpression(this.self('$hs'), 'pop'), undefined, [])), ...this.jumpStmts(end)]);
    this.mark(catchL);
    const v = c.variableDeclaration;
    if (v !== undefined) {
      const names = this.boundNames(v.name);
      const isField = names.some((id) => this.fields.has(this.symbolOfDecl(id)));
      if (isField) this.emitStmt(f.createExpressionStatement(this.initField(v.name, this.self('$exc'))));
      else {
        // The catch block has no yield: its binding is a local of the block.
        const block = f.createBlock([f.createVariableStatement(undefined, f.createVariableDeclarationList([f.createVariableDeclaration(v.name, undefined, undefined, this.self('$exc'))], ts.NodeFlags.Const)), ...c.block.statements]);
        this.plain(ts.setTextRange(block, c.block));
        this.mark(end);
        return;
      }
    }
    this.stmt(c.block);
    this.mark(end);
  }

  // ---- the class

  /**
   * Frame.next written out in this class (`$next` for a TryFrame, whose next() wraps it in
   * the handler loop): resume the delegated task, or run the body from `$pc`. Per class so
   * that its reads of `$sub`/`$pc` see one shape and `this.run()` one target.
   */
  private nextMethod(): ts.MethodDeclaration {
    const f = this.f;
    const s = f.createUniqueName('s');
    const r = f.createUniqueName('r');
    const body = f.createBlock(
      [
        this.konst(s, this.self('$sub')),
        f.createIfStatement(
          f.createStrictInequality(s, f.createNull()),
          f.createBlock([
            this.konst(r, f.createCallExpression(f.createPropertyAccessExpression(s, 'next'), undefined, [])),
            f.createIfStatement(f.createStrictInequality(f.createPropertyAccessExpression(r, 'done'), f.createTrue()), f.createReturnStatement(r)),
            f.createExpressionStatement(f.createAssignment(this.self('$sub'), f.createNull())),
            f.createExpressionStatement(f.createAssignment(this.self('$got'), f.createPropertyAccessExpression(r, 'value'))),
          ]),
          f.createIfStatement(f.createLessThan(this.self('$pc'), f.createNumericLiteral(0)), f.createReturnStatement(f.createIdentifier('$DONE'))),
        ),
        f.createReturnStatement(f.createCallExpression(this.self('run'), undefined, [])),
      ],
      true,
    );
    return f.createMethodDeclaration(undefined, undefined, this.hasHandlers ? '$next' : 'next', undefined, undefined, [], undefined, body);
  }

  build(): ts.ClassDeclaration {
    const f = this.f;
    const body = this.fn.body as ts.Block; // generators handled here all have bodies
    this.analyse(body);
    this.cur.label.n = 0;
    for (const s of body.statements) this.stmt(s);
    this.emit(() => [f.createReturnStatement(this.step(f.createVoidZero(), f.createPrefixMinus(f.createNumericLiteral(1)), f.createTrue()))]);
    this.blocks.push(this.cur);
    this.blocks.forEach((b, i) => {
      b.label.n = i;
    });
    const clauses: ts.CaseOrDefaultClause[] = this.blocks.map((b) => {
      const stmts: ts.Statement[] = [];
      for (const e of b.code) stmts.push(...e());
      return f.createCaseClause(f.createNumericLiteral(b.label.n), stmts);
    });
    clauses.push(
      f.createDefaultClause([
        f.createThrowStatement(f.createNewExpression(f.createIdentifier('Error'), undefined, [f.createStringLiteral(`[model] ${this.className}: bad resume point`)])),
      ]),
    );
    const loop = f.createLabeledStatement(f.createIdentifier('$run'), f.createForStatement(undefined, undefined, undefined, f.createSwitchStatement(this.self('$pc'), f.createCaseBlock(clauses))));
    const run = f.createMethodDeclaration(undefined, undefined, 'run', undefined, undefined, [], undefined, f.createBlock([loop], true));
    // Constructor: every field assigned, in one order (one hidden class per frame class).
    const ctorParams = [f.createParameterDeclaration(undefined, undefined, '$self')];
    const ctorBody: ts.Statement[] = [f.createExpressionStatement(f.createCallExpression(f.createSuper(), undefined, []))];
    const assign = (name: string, v: ts.Expression): void => {
      ctorBody.push(f.createExpressionStatement(f.createAssignment(this.self(name), v)));
    };
    if (this.usesThis) assign('$self', f.createIdentifier('$self'));
    for (const c of this.captures) {
      ctorParams.push(f.createParameterDeclaration(undefined, undefined, c.param));
      assign(c.param, f.createIdentifier(c.param));
    }
    const params = new Set<string>(this.captures.map((c) => c.param));
    this.fn.parameters.forEach((p) => {
      const name = this.fields.get(this.symbolOfDecl(p.name as ts.Identifier)) as string; // every parameter is a field (analyse)
      ctorParams.push(f.createParameterDeclaration(undefined, p.dotDotDotToken !== undefined ? undefined : undefined, name));
      assign(name, f.createIdentifier(name));
      params.add(name);
    });
    for (const name of this.fieldNames) if (!params.has(name)) assign(name, f.createVoidZero());
    for (let i = 0; i < this.tries; i++) assign(`$c${i}`, f.createNumericLiteral(0));
    const ctor = f.createConstructorDeclaration(undefined, ctorParams, f.createBlock(ctorBody, true));
    const base = this.hasHandlers ? '$TryFrame' : '$Frame';
    return ts.setTextRange(
      f.createClassDeclaration(
        undefined,
        this.className,
        undefined,
        [f.createHeritageClause(ts.SyntaxKind.ExtendsKeyword, [f.createExpressionWithTypeArguments(f.createIdentifier(base), undefined)])],
        [ctor, this.nextMethod(), run],
      ),
      this.fn,
    );
  }

}

// ---------------------------------------------------------------------------------------
// helpers

function stripParens(e: ts.Expression): ts.Expression {
  while (ts.isParenthesizedExpression(e)) e = e.expression;
  return e;
}

function isDelegation(e: ts.Expression): boolean {
  const s = stripParens(e);
  return ts.isYieldExpression(s) && s.asteriskToken !== undefined && s.expression !== undefined;
}

/** An identifier that names a property, not a variable. */
function isPropertyName(n: ts.Identifier): boolean {
  const p = n.parent;
  if (p === undefined) return false;
  if ((ts.isPropertyAccessExpression(p) || ts.isQualifiedName(p)) && (p as ts.PropertyAccessExpression).name === n) return true;
  if ((ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isPropertySignature(p) || ts.isMethodSignature(p) || ts.isEnumMember(p)) && p.name === n) return true;
  if (ts.isBindingElement(p) && p.propertyName === n) return true;
  if (ts.isLabeledStatement(p) || ts.isBreakStatement(p) || ts.isContinueStatement(p)) return true;
  if (ts.isImportSpecifier(p) || ts.isExportSpecifier(p)) return true;
  return false;
}

function containerOf(d: ts.Node): ts.Node {
  let p = d.parent;
  while (p !== undefined && !ts.isSourceFile(p) && !ts.isFunctionLike(p) && !ts.isBlock(p) && !ts.isClassLike(p)) p = p.parent;
  return p ?? d;
}

/** The statement a break/continue jumps to (null: none found inside the function). */
function jumpTarget(n: ts.BreakStatement | ts.ContinueStatement): ts.Node | undefined {
  const label = n.label?.text;
  for (let p = n.parent; p !== undefined && !isFunctionBoundary(p); p = p.parent) {
    if (label !== undefined) {
      if (ts.isLabeledStatement(p) && p.label.text === label) return ts.isContinueStatement(n) ? innerLoop(p) : p;
    } else if (ts.isIterationStatement(p, false) || (ts.isBreakStatement(n) && ts.isSwitchStatement(p))) {
      return p;
    }
  }
  return undefined;
}

function innerLoop(l: ts.LabeledStatement): ts.Node {
  let s: ts.Statement = l.statement;
  while (ts.isLabeledStatement(s)) s = s.statement;
  return s;
}

function isReassigned(checker: ts.TypeChecker, s: ts.Symbol, within: ts.Node): boolean {
  const d = s.valueDeclaration;
  if (d !== undefined && ts.isVariableDeclaration(d) && (d.parent.flags & ts.NodeFlags.Const) !== 0) return false;
  let found = false;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isBinaryExpression(n) && n.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && n.operatorToken.kind <= ts.SyntaxKind.LastAssignment) {
      const l = stripParens(n.left);
      if (ts.isIdentifier(l) && checker.getSymbolAtLocation(l) === s) found = true;
    }
    if ((ts.isPrefixUnaryExpression(n) || ts.isPostfixUnaryExpression(n)) && (n.operator === ts.SyntaxKind.PlusPlusToken || n.operator === ts.SyntaxKind.MinusMinusToken)) {
      const o = stripParens(n.operand);
      if (ts.isIdentifier(o) && checker.getSymbolAtLocation(o) === s) found = true;
    }
    ts.forEachChild(n, visit);
  };
  visit(within);
  return found;
}

function compoundToBinary(op: ts.SyntaxKind): ts.BinaryOperator | undefined {
  switch (op) {
    case ts.SyntaxKind.PlusEqualsToken:
      return ts.SyntaxKind.PlusToken;
    case ts.SyntaxKind.MinusEqualsToken:
      return ts.SyntaxKind.MinusToken;
    case ts.SyntaxKind.AsteriskEqualsToken:
      return ts.SyntaxKind.AsteriskToken;
    case ts.SyntaxKind.SlashEqualsToken:
      return ts.SyntaxKind.SlashToken;
    case ts.SyntaxKind.PercentEqualsToken:
      return ts.SyntaxKind.PercentToken;
    case ts.SyntaxKind.BarEqualsToken:
      return ts.SyntaxKind.BarToken;
    case ts.SyntaxKind.AmpersandEqualsToken:
      return ts.SyntaxKind.AmpersandToken;
    case ts.SyntaxKind.CaretEqualsToken:
      return ts.SyntaxKind.CaretToken;
    case ts.SyntaxKind.LessThanLessThanEqualsToken:
      return ts.SyntaxKind.LessThanLessThanToken;
    case ts.SyntaxKind.GreaterThanGreaterThanEqualsToken:
      return ts.SyntaxKind.GreaterThanGreaterThanToken;
    case ts.SyntaxKind.GreaterThanGreaterThanGreaterThanEqualsToken:
      return ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken;
    default:
      return undefined;
  }
}
