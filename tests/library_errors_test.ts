/**
 * The library speaks in library terms: everything under lib/ throws only
 * the error family of lib/errors.ts ({@link LadeError} and its subclasses),
 * and no string outside lib/cli/ quotes a command-line flag (`--init`),
 * which a program calling the library cannot pass; the command line maps
 * parameter names to flags (lib/cli/flags.ts).
 *
 * Checked on the real sources with Deno's own parser (`Deno.lint.runPlugin`),
 * so comments never count and every string, template part included, does.
 * A thrown value is accepted when it is
 * - `new X(...)` with X a class that extends LadeError (in any file of lib/),
 * - `f(...)` (or `await f(...)`) with the file's function f (or, if it has
 *   none, every function f of lib/: an imported one) declaring a
 *   LadeError class (or a Promise of one) as what it returns, or an arrow
 *   function whose body is `new X(...)` of one,
 * - a variable or property: a caught error thrown on (`throw e`),
 * - a conditional whose branches are accepted.
 * And the built-in errors (`new Error`, `RangeError`, `TypeError`...) are
 * made nowhere, thrown or not (a `reject(new Error(...))` counts too).
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** JavaScript's own error classes: the library makes none of them. */
const BUILTIN_ERRORS = new Set([
  "Error",
  "RangeError",
  "TypeError",
  "SyntaxError",
  "ReferenceError",
  "EvalError",
  "URIError",
  "AggregateError",
]);

/** A command-line flag quoted in a string: `--init`, `--val-per-class`. */
const FLAG = /(?:^|[^\w-])(--[a-z][a-z0-9-]*)/;

/**
 * Strings of lib/ (outside lib/cli/) that quote a flag on purpose, by file:
 * none is a message.
 */
const FLAGS_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  // The command lines of the rank processes the launcher starts.
  "lib/distributed/launcher.ts": ["--no-config", "--no-lock", "--quiet", "--allow-all"],
  // The header of the Python module written beside exported weights, which
  // says the command that writes it.
  "lib/weights/pytorch_module.ts": [
    "Written by `lade weights export --format pytorch`; needs only torch.",
  ],
};

/**
 * Files that are the table of the command line's flags (their names and help
 * texts), declared once beneath lib/cli/ because the recipe's overrides are
 * made from it: every string of theirs may name flags; none is a message.
 */
const FLAG_TABLES: readonly string[] = ["lib/config/train_flags.ts"];

/** What one file holds that the checks need. */
interface FileFacts {
  /** `class A extends B`: [A, B] for each class with a plain-name base. */
  classes: [string, string][];
  /** Functions by name and the type name their declared return type says (Promise unwrapped), or null. */
  functions: [string, string | null][];
  /** Each thrown value that must be checked: "new X", "call f", or "bad <node type>", with its line. */
  throws: { what: string; line: number }[];
  /** `new X(...)` for each built-in error X, with its line. */
  builtins: { name: string; line: number }[];
  /** Strings (and template parts) that quote a flag, with the flag and line. */
  flags: { text: string; flag: string; line: number }[];
}

type Node = Deno.lint.Node;

/** The line (1-based) of `offset` in `source`. */
function lineOf(source: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < source.length; i++) if (source[i] === "\n") line++;
  return line;
}

/** The type name a return-type annotation says: `InputError`, `Promise<InputError>` -> InputError. */
function returnedType(annotation: Deno.lint.TSTypeAnnotation | undefined): string | null {
  let t: Node | undefined = annotation?.typeAnnotation;
  while (t?.type === "TSTypeReference" && t.typeName.type === "Identifier") {
    if (t.typeName.name !== "Promise") return t.typeName.name;
    t = t.typeArguments?.params[0];
  }
  return null;
}

/** Parses `source` (named `path`) and gathers its facts. */
export function fileFacts(path: string, source: string): FileFacts {
  const facts: FileFacts = { classes: [], functions: [], throws: [], builtins: [], flags: [] };
  const line = (node: Node) => lineOf(source, node.range[0]);
  const checkThrown = (node: Node): void => {
    switch (node.type) {
      case "Identifier":
      case "MemberExpression":
        return; // a caught error, thrown on
      case "ConditionalExpression":
        checkThrown(node.consequent);
        checkThrown(node.alternate);
        return;
      case "AwaitExpression":
        checkThrown(node.argument);
        return;
      case "NewExpression":
      case "CallExpression": {
        const kind = node.type === "NewExpression" ? "new" : "call";
        const name = node.callee.type === "Identifier" ? node.callee.name : "?";
        facts.throws.push({ what: `${kind} ${name}`, line: line(node) });
        return;
      }
      default:
        facts.throws.push({ what: `bad ${node.type}`, line: line(node) });
    }
  };
  const plugin: Deno.lint.Plugin = {
    name: "lade-library",
    rules: {
      facts: {
        create() {
          return {
            ClassDeclaration(node) {
              if (node.id && node.superClass?.type === "Identifier") {
                facts.classes.push([node.id.name, node.superClass.name]);
              }
            },
            FunctionDeclaration(node) {
              if (node.id) facts.functions.push([node.id.name, returnedType(node.returnType)]);
            },
            VariableDeclarator(node) {
              const f = node.init;
              if (
                node.id.type === "Identifier" && f &&
                (f.type === "ArrowFunctionExpression" || f.type === "FunctionExpression")
              ) {
                // `(why) => new InputError(why)` returns what it makes.
                const made = f.body.type === "NewExpression" && f.body.callee.type === "Identifier"
                  ? f.body.callee.name
                  : null;
                facts.functions.push([node.id.name, returnedType(f.returnType) ?? made]);
              }
            },
            ThrowStatement(node) {
              checkThrown(node.argument);
            },
            NewExpression(node) {
              if (node.callee.type === "Identifier" && BUILTIN_ERRORS.has(node.callee.name)) {
                facts.builtins.push({ name: node.callee.name, line: line(node) });
              }
            },
            Literal(node) {
              if (typeof node.value !== "string") return;
              const m = FLAG.exec(node.value);
              if (m) facts.flags.push({ text: node.value, flag: m[1], line: line(node) });
            },
            TemplateElement(node) {
              const m = FLAG.exec(node.cooked ?? node.raw);
              if (m) {
                facts.flags.push({ text: node.cooked ?? node.raw, flag: m[1], line: line(node) });
              }
            },
          };
        },
      },
    },
  };
  Deno.lint.runPlugin(plugin, path, source);
  return facts;
}

/** What breaks the rules in `files` (path and facts), one line each, "path:line: what". */
export function violations(files: readonly [string, FileFacts][]): string[] {
  // The error family: LadeError and every class that extends one of it.
  const base = new Map<string, string[]>();
  for (const [, f] of files) {
    for (const [name, parent] of f.classes) base.set(name, [...(base.get(name) ?? []), parent]);
  }
  const family = new Set(["LadeError"]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [name, parents] of base) {
      if (!family.has(name) && parents.every((p) => family.has(p))) {
        family.add(name);
        grew = true;
      }
    }
  }
  const returns = new Map<string, (string | null)[]>();
  for (const [, f] of files) {
    for (const [name, type] of f.functions) returns.set(name, [...(returns.get(name) ?? []), type]);
  }
  const out: string[] = [];
  for (const [path, f] of files) {
    for (const t of f.throws) {
      const [kind, name] = t.what.split(" ");
      if (kind === "new" && (family.has(name) || BUILTIN_ERRORS.has(name))) continue; // builtins: below
      if (kind === "call") {
        // The file's own function of that name, else (imported) those of lib/.
        const own = f.functions.filter(([n]) => n === name).map(([, type]) => type);
        const types = own.length > 0 ? own : returns.get(name) ?? [];
        if (types.length > 0 && types.every((r) => r !== null && family.has(r))) continue;
        out.push(`${path}:${t.line}: throws what ${name}() returns, not declared a LadeError`);
        continue;
      }
      out.push(`${path}:${t.line}: throws ${t.what.replace(/^bad /, "a ")}, not a LadeError`);
    }
    for (const b of f.builtins) out.push(`${path}:${b.line}: new ${b.name}, not a LadeError`);
    // The command line is where flags belong.
    if (path.startsWith("lib/cli/") || FLAG_TABLES.includes(path)) continue;
    for (const s of f.flags) {
      if (FLAGS_ALLOWED[path]?.includes(s.text)) continue;
      out.push(`${path}:${s.line}: names the flag ${s.flag} (name the parameter instead)`);
    }
  }
  return out;
}

/** The TypeScript files under `dir` (relative to the root), sorted. */
async function walk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${ROOT}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await walk(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** The files the rules apply to: all of lib/ (lib/cli/ for the throws only). */
async function libraryFiles(): Promise<[string, FileFacts][]> {
  const paths = await walk("lib");
  return await Promise.all(
    paths.map(async (p) =>
      [p, fileFacts(p, await Deno.readTextFile(`${ROOT}/${p}`))] as [string, FileFacts]
    ),
  );
}

Deno.test("lib/ throws only LadeErrors; outside lib/cli/ it names no command-line flag", async () => {
  const files = await libraryFiles();
  assert.ok(files.length > 100, `found only ${files.length} files`);
  // The scan sees the real sources: the family's members and their throws.
  const all = files.flatMap(([, f]) => f.throws.map((t) => t.what));
  assert.ok(all.includes("new InputError") && all.includes("new TorchError"), "no throws seen");
  assert.ok(all.includes("new UsageError"), "lib/cli/ not scanned");
  assert.deepEqual(violations(files), []);
});

Deno.test("the library check catches what it should and skips comments", () => {
  const source = [
    '/** Throws `new RangeError("--x")` in a doc comment: not code. */',
    "export class LadeError extends Error {}",
    "export class InputError extends LadeError {}",
    "class SubError extends InputError {}",
    "class Other extends Error {}",
    "// throw new TypeError('--y') in a line comment",
    "function fail(): InputError { return new InputError(); }",
    "const later = async (): Promise<SubError> => new SubError();",
    "function vague() { return new SubError(); }",
    "const made = (why: string) => new InputError(why);",
    "export async function f(x: number, e: unknown) {",
    "  if (x > 3) throw e;",
    "  if (x > 2) throw x > 1 ? new InputError('a') : await later();",
    "  if (x > 1) throw fail();",
    "  if (x > 0) throw new Other(`pass --batch-size ${x}, or --lr`);",
    "  if (x > -1) throw vague();",
    "  if (x > -1) throw made('b');",
    '  if (x > -2) throw "a string";',
    "  return Promise.reject(new Error('x--y, a -- b, -1 --z'));",
    "}",
    "",
  ].join("\n");
  const facts = fileFacts("lib/a.ts", source);
  assert.deepEqual(violations([["lib/a.ts", facts]]), [
    "lib/a.ts:15: throws new Other, not a LadeError",
    "lib/a.ts:16: throws what vague() returns, not declared a LadeError",
    "lib/a.ts:18: throws a Literal, not a LadeError",
    "lib/a.ts:19: new Error, not a LadeError",
    "lib/a.ts:15: names the flag --batch-size (name the parameter instead)",
    "lib/a.ts:15: names the flag --lr (name the parameter instead)",
    "lib/a.ts:19: names the flag --z (name the parameter instead)",
  ]);
});

Deno.test("the allowed flags are allowed in their own file only, and only as written", () => {
  const launcher = 'const a = ["--no-config", "--quiet"];\nconst b = "--no-config ";\n';
  assert.deepEqual(
    violations([["lib/distributed/launcher.ts", fileFacts("launcher.ts", launcher)]]),
    ["lib/distributed/launcher.ts:2: names the flag --no-config (name the parameter instead)"],
  );
  assert.deepEqual(violations([["lib/x.ts", fileFacts("x.ts", launcher)]]).length, 3);
  // The command line may name its flags, but throws the error family too.
  const cli = [
    "class LadeError extends Error {}",
    "class UsageError extends LadeError {}",
    'throw new UsageError("--lr and --resume");',
    'throw new Error("--lr");',
  ].join("\n");
  assert.deepEqual(violations([["lib/cli/x.ts", fileFacts("x.ts", cli)]]), [
    "lib/cli/x.ts:4: new Error, not a LadeError",
  ]);
});
