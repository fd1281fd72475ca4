/**
 * No function in lib/train/ is longer than MAX_LINES lines (from its header
 * to its closing brace): the training loop stays a short loop a newcomer
 * reads top to bottom, with the differences between one process, ranks and
 * CUDA-graph replay behind the step runners.
 *
 * The functions come from a small scanner rather than a TypeScript parser
 * (none is among the project's dependencies): comments, strings, template
 * literals and regular expressions are blanked out, then function
 * declarations, methods and arrow functions with a block (or parenthesised)
 * body are found and their braces matched.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The most lines a function in lib/train/ may span. */
export const MAX_LINES = 80;

/** A function the scanner found: its name, first line (1-based) and length in lines. */
export interface FunctionSpan {
  name: string;
  line: number;
  lines: number;
}

const KEYWORDS = new Set([
  "if",
  "for",
  "while",
  "switch",
  "catch",
  "function",
  "return",
  "with",
  "typeof",
  "await",
  "new",
  "in",
  "of",
  "do",
  "else",
  "case",
  "throw",
  "void",
  "delete",
  "yield",
]);

/** Keywords after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX = new Set(["return", "typeof", "case", "do", "else", "in", "of", "yield"]);

/**
 * The source with comments, string and template contents and regular
 * expressions replaced by spaces (newlines kept, so lines still count);
 * a template's `${...}` code stays.
 */
export function blank(src: string): string {
  const out = src.split("");
  const clear = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  // Stack of open template literals: the brace depth at which each `${` began.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  const lastToken = (): string => {
    let k = i - 1;
    while (k >= 0 && /\s/.test(out[k])) k--;
    if (k < 0) return "";
    if (/[\w$]/.test(out[k])) {
      let s = k;
      while (s > 0 && /[\w$]/.test(out[s - 1])) s--;
      return out.slice(s, k + 1).join("");
    }
    return out[k];
  };
  const template = (): void => {
    // i is just past a ` or a }: scan to the closing ` or the next ${.
    const from = i;
    while (i < src.length) {
      if (src[i] === "\\") i += 2;
      else if (src[i] === "`") {
        clear(from, i);
        i++;
        return;
      } else if (src[i] === "$" && src[i + 1] === "{") {
        clear(from, i);
        templates.push(depth);
        depth++;
        i += 2;
        return;
      } else i++;
    }
    clear(from, src.length);
  };
  while (i < src.length) {
    const ch = src[i];
    if (ch === "/" && src[i + 1] === "/") {
      const end = src.indexOf("\n", i);
      const to = end < 0 ? src.length : end;
      clear(i, to);
      i = to;
    } else if (ch === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const to = end < 0 ? src.length : end + 2;
      clear(i, to);
      i = to;
    } else if (ch === "'" || ch === '"') {
      const from = ++i;
      while (i < src.length && src[i] !== ch && src[i] !== "\n") i += src[i] === "\\" ? 2 : 1;
      clear(from, i);
      i++;
    } else if (ch === "`") {
      i++;
      template();
    } else if (ch === "/") {
      const t = lastToken();
      const regex = t === "" || BEFORE_REGEX.has(t) || (!/[\w$)\]]/.test(t) && t !== "}");
      if (!regex) {
        i++;
        continue;
      }
      const from = i;
      let inClass = false;
      i++;
      while (i < src.length && src[i] !== "\n") {
        if (src[i] === "\\") i += 2;
        else if (src[i] === "[") inClass = true, i++;
        else if (src[i] === "]") inClass = false, i++;
        else if (src[i] === "/" && !inClass) break;
        else i++;
      }
      i++;
      while (i < src.length && /[a-z]/.test(src[i])) i++;
      clear(from, i);
    } else if (ch === "{") {
      depth++;
      i++;
    } else if (ch === "}") {
      depth--;
      if (templates.length > 0 && templates.at(-1) === depth) {
        templates.pop();
        i++;
        template();
      } else i++;
    } else i++;
  }
  return out.join("");
}

/** The position of the bracket closing the one at `open` in blanked code (-1 if none). */
function matching(code: string, open: number): number {
  const pairs: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
  const stack: string[] = [];
  for (let k = open; k < code.length; k++) {
    const ch = code[k];
    if (ch in pairs) stack.push(pairs[ch]);
    else if (ch === ")" || ch === "]" || ch === "}") {
      if (stack.pop() !== ch) return -1;
      if (stack.length === 0) return k;
    }
  }
  return -1;
}

/** The position of the bracket opening the one at `close` (-1 if none). */
function matchingBack(code: string, close: number): number {
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  const stack: string[] = [];
  for (let k = close; k >= 0; k--) {
    const ch = code[k];
    if (ch in pairs) stack.push(pairs[ch]);
    else if (ch === "(" || ch === "[" || ch === "{") {
      if (stack.pop() !== ch) return -1;
      if (stack.length === 0) return k;
    }
  }
  return -1;
}

/**
 * After a parameter list closing at `close`: the position of the body's `{`
 * (past an optional return type, whose object types are skipped), or -1
 * when none follows.
 */
function bodyAfter(code: string, close: number): number {
  let k = close + 1;
  while (/\s/.test(code[k] ?? "")) k++;
  if (code[k] === "{") return k;
  if (code[k] !== ":") return -1;
  k++;
  for (; k < code.length; k++) {
    const ch = code[k];
    if (ch === ";" || ch === "=" && code[k + 1] !== ">") return -1;
    if (ch === "(" || ch === "[") {
      k = matching(code, k);
      if (k < 0) return -1;
    } else if (ch === "{") {
      let p = k - 1;
      while (p >= 0 && /\s/.test(code[p])) p--;
      // A type's object literal follows `:`, `|`, `&`, `<`, `,` or `(`; a body the type.
      if (/[:|&<,(]/.test(code[p]) || code.slice(p - 1, p + 1) === "=>") {
        k = matching(code, k);
        if (k < 0) return -1;
      } else return k;
    }
  }
  return -1;
}

const lineOf = (code: string, pos: number): number => {
  let n = 1;
  for (let k = 0; k < pos; k++) if (code[k] === "\n") n++;
  return n;
};

/** The functions of a TypeScript source, with their lengths in lines. */
export function functionSpans(src: string): FunctionSpan[] {
  const code = blank(src);
  const found = new Map<number, FunctionSpan>();
  const add = (name: string, headerPos: number, open: number) => {
    if (found.has(open)) return;
    const close = matching(code, open);
    if (close < 0) return;
    const line = lineOf(code, headerPos);
    found.set(open, { name, line, lines: lineOf(code, close) - line + 1 });
  };
  // Declarations and expressions: function name(...) ... {
  for (const m of code.matchAll(/\bfunction\b\s*\*?\s*([\w$]*)\s*(?:<[^(]*>)?\s*\(/g)) {
    const paren = m.index! + m[0].length - 1;
    const close = matching(code, paren);
    const open = close < 0 ? -1 : bodyAfter(code, close);
    if (open >= 0) add(m[1] || "(anonymous function)", m.index!, open);
  }
  // Methods: name(...) ... { where a class or object member starts.
  for (const m of code.matchAll(/(#?[\w$]+|\])\s*(?:<[^(;{}]*>)?\s*\(/g)) {
    let nameStart = m.index!;
    let name = m[1];
    if (name === "]") {
      nameStart = matchingBack(code, m.index!);
      if (nameStart < 0) continue;
      name = code.slice(nameStart, m.index! + 1).replace(/\s+/g, "");
    }
    if (KEYWORDS.has(name)) continue;
    let p = nameStart - 1;
    while (p >= 0 && /[ \t]/.test(code[p])) p--;
    // What precedes a member: a line start, `{`, `}`, `;`, `,`, `*` or a modifier.
    const before = code.slice(0, p + 1);
    const modifier = /\b(async|static|get|set|public|private|protected|override|readonly)$/
      .test(before);
    if (!(p < 0 || /[\n{};,*]/.test(code[p]) || modifier)) continue;
    if (code[p] === "\n") {
      // A line that goes on from the line before is a call, not a member.
      let q = p;
      while (q >= 0 && /\s/.test(code[q])) q--;
      if (q >= 0 && !/[{};,]/.test(code[q])) continue;
    }
    const paren = m.index! + m[0].length - 1;
    const close = matching(code, paren);
    const open = close < 0 ? -1 : bodyAfter(code, close);
    if (open >= 0) add(name, nameStart, open);
  }
  // Arrow functions with a block or parenthesised body.
  for (const m of code.matchAll(/=>\s*([{(])/g)) {
    const open = m.index! + m[0].length - 1;
    let p = m.index! - 1;
    while (p >= 0 && /\s/.test(code[p])) p--;
    let header = p;
    if (code[p] === ")") header = matchingBack(code, p);
    else {
      // A return type between the parameters and the arrow: back to the `(`.
      const params = code.lastIndexOf(")", p);
      if (params >= 0 && /^\s*:/.test(code.slice(params + 1, p + 1))) {
        header = matchingBack(code, params);
      }
    }
    if (header < 0) header = m.index!;
    // Named after the variable or property it is assigned to, when there is one.
    const lineStart = code.lastIndexOf("\n", header) + 1;
    const name =
      /^\s*(?:export\s+)?(?:(?:const|let|var)\s+)?([\w$#]+)\s*(?::[^=]*)?[=:]\s*(?:async\s*)?$/
        .exec(code.slice(lineStart, header))?.[1] ?? "(arrow function)";
    add(name, header, open);
  }
  return [...found.values()].sort((a, b) => a.line - b.line);
}

/** The functions of the .ts files under `dir` longer than `max` lines, as `file:line name (n lines)`. */
export async function tooLong(dir: string, max: number): Promise<string[]> {
  const out: string[] = [];
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".ts")) files.push(e.name);
  }
  for (const f of files.sort()) {
    const src = await Deno.readTextFile(`${dir}/${f}`);
    for (const s of functionSpans(src)) {
      if (s.lines > max) out.push(`${f}:${s.line} ${s.name} (${s.lines} lines)`);
    }
  }
  return out;
}

const body = (n: number) => Array.from({ length: n }, (_, k) => `  x += ${k};`).join("\n");

Deno.test("the scanner measures a function from its header to its closing brace", () => {
  const src = `function long(x: number): number {\n${body(79)}\n}\n`;
  assert.deepEqual(functionSpans(src), [{ name: "long", line: 1, lines: 81 }]);
});

Deno.test("the scanner reports a synthetic 81-line function and passes an 80-line one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.ts`, `export function ok() {\n${body(78)}\n}\n`);
    assert.deepEqual(await tooLong(dir, MAX_LINES), []);
    await Deno.writeTextFile(`${dir}/b.ts`, `\nexport function over() {\n${body(79)}\n}\n`);
    assert.deepEqual(await tooLong(dir, MAX_LINES), ["b.ts:2 over (81 lines)"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the scanner finds methods and arrows, and skips braces in strings, comments and regexes", () => {
  const src = [
    "const re = /[{]+/g; // {",
    "class A {",
    "  async run(a: { b: number }): Promise<{ c: string }> {",
    '    const s = "{{" + `${"}"}{`;',
    "    /* } */",
    "    return { c: s };",
    "  }",
    "  [Symbol.dispose](): void {}",
    "  #hidden(): void {",
    "    void this.run({ b: 1 }).catch(() => {});",
    "  }",
    "}",
    "export const f = (x: number): number => {",
    "  if (x) {",
    "    return x / 2 / 3;",
    "  }",
    "  return g(x);",
    "};",
    "const h = () => ({",
    "  a: 1,",
    "});",
  ].join("\n");
  assert.deepEqual(functionSpans(src).map((s) => [s.name, s.line, s.lines]), [
    ["run", 3, 5],
    ["[Symbol.dispose]", 8, 1],
    ["#hidden", 9, 3],
    ["(arrow function)", 10, 1],
    ["f", 13, 6],
    ["h", 19, 3],
  ]);
});

Deno.test(`no function in lib/train/ is longer than ${MAX_LINES} lines`, async () => {
  const dir = fileURLToPath(new URL("../../lib/train", import.meta.url));
  const over = await tooLong(dir, MAX_LINES);
  assert.deepEqual(
    over,
    [],
    `functions in lib/train/ longer than ${MAX_LINES} lines:\n${over.join("\n")}`,
  );
});
