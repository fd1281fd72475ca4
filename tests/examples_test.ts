/**
 * Every function the library surface (mod.ts) exports carries a runnable
 * example: an `@example` tag with a TypeScript code block that
 * `deno test --doc` runs (not one marked `ignore`). The exports and their
 * documentation come from `deno doc --json`, as Deno's own tools see them.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

interface DocTag {
  kind: string;
  doc?: string;
}

interface DocSymbol {
  name: string;
  declarations: { kind: string; jsDoc?: { tags?: DocTag[] } }[];
}

/** The exported functions of `module` (a path) that lack a runnable `@example`. */
export async function functionsWithoutExamples(
  module: string,
): Promise<{ functions: string[]; missing: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", module],
    cwd: ROOT,
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  const functions: string[] = [];
  const missing: string[] = [];
  for (const node of Object.values(doc.nodes)) {
    for (const s of node.symbols) {
      const decl = s.declarations.find((d) => d.kind === "function");
      if (decl === undefined || functions.includes(s.name)) continue;
      functions.push(s.name);
      const runnable = (decl.jsDoc?.tags ?? []).some((t) =>
        t.kind === "example" && /^```(ts|typescript)[ \t]*$/m.test(t.doc ?? "")
      );
      if (!runnable) missing.push(s.name);
    }
  }
  return { functions, missing };
}

Deno.test("every function mod.ts exports has a runnable @example", async () => {
  const { functions, missing } = await functionsWithoutExamples("mod.ts");
  assert.ok(functions.length > 90 && functions.includes("longTailCounts"), `${functions.length}`);
  assert.deepEqual(missing, []);
});

Deno.test("the example check finds a function without one, or with an ignored one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/m.ts`,
      [
        "/**",
        " * With one.",
        " *",
        " * @example Usage",
        " * ```ts",
        " * console.log(1);",
        " * ```",
        " */",
        "export function good(): void {}",
        "/** Without: a ```ts block outside @example does not count. */",
        "export function bare(): void {}",
        "/**",
        " * Ignored.",
        " *",
        " * @example Not run",
        " * ```ts ignore",
        " * console.log(1);",
        " * ```",
        " */",
        "export function ignored(): void {}",
        "/** A constant, not a function. */",
        "export const value = 1;",
        "",
      ].join("\n"),
    );
    assert.deepEqual(await functionsWithoutExamples(`${dir}/m.ts`), {
      functions: ["good", "bare", "ignored"],
      missing: ["bare", "ignored"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
