/**
 * The import layering of lib/ and where printing is allowed, checked on the
 * real sources. Imports (static, type-only, re-exports and dynamic ones)
 * come from Deno's own module graph (`deno info --json`), `console` calls
 * from Deno's linter (`no-console`), so comments and strings never count.
 *
 * The layers, bottom to top (a layer may import the ones listed for it):
 *
 * | layer                        | may import                                    |
 * | ---------------------------- | --------------------------------------------- |
 * | errors.ts                    | nothing in lib/ (every layer may import it)   |
 * | version.ts, fs.ts, input_file.ts | errors.ts (every layer may import them)   |
 * | torch                        | -                                             |
 * | data, models                 | torch                                         |
 * | weights                      | torch, models                                 |
 * | priors                       | torch, data                                   |
 * | losses                       | torch, data, priors                           |
 * | eval                         | torch, data, priors, losses                   |
 * | online                       | torch, data, priors, losses, eval             |
 * | train                        | torch, data, models, weights, priors, losses, eval |
 * | cli                          | all of the above                              |
 *
 * Nothing imports cli but main.ts, which imports nothing else (it is the
 * command tree); mod.ts (the library surface) imports everything but cli.
 */

import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/**
 * Files at the bottom of lib/: they import nothing from lib/ but errors.ts
 * (which imports nothing), and anything may import them.
 */
export const BOTTOM: readonly string[] = [
  "errors.ts",
  "version.ts",
  "fs.ts",
  "input_file.ts",
  "plural.ts",
];

/** The folders of lib/ and the folders each may import (besides itself and the bottom files). */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  torch: [],
  data: ["torch"],
  models: ["torch"],
  weights: ["torch", "models"],
  distributed: ["torch"],
  priors: ["torch", "data"],
  losses: ["torch", "data", "priors"],
  eval: ["torch", "data", "priors", "losses"],
  online: ["torch", "data", "priors", "losses", "eval"],
  config: ["torch", "data", "models", "losses"],
  run: ["torch", "models", "weights", "config"],
  predict: ["torch", "data", "models", "weights", "priors", "losses", "eval", "config", "run"],
  train: [
    "torch",
    "data",
    "models",
    "weights",
    "distributed",
    "priors",
    "losses",
    "eval",
    "config",
    "run",
    "predict",
  ],
  cli: [
    "torch",
    "data",
    "models",
    "weights",
    "distributed",
    "priors",
    "losses",
    "eval",
    "config",
    "run",
    "predict",
    "train",
    "online",
  ],
};

/** Files outside lib/ whose imports are checked, and the lib/ units each may import. */
export const ENTRY_POINTS: Readonly<Record<string, readonly string[]>> = {
  "main.ts": ["cli", ...BOTTOM],
  "mod.ts": [...Object.keys(LAYERS).filter((l) => l !== "cli"), ...BOTTOM],
};

/** Files outside lib/cli/ that may call `console`. */
export const MAY_PRINT: readonly string[] = ["lib/train/progress.ts"];

/** An import of `to` by `from` (paths relative to the repository root). */
export interface Edge {
  from: string;
  to: string;
  /** `import("...")` rather than a static import or re-export. */
  dynamic?: boolean;
}

/** The unit a path belongs to: a lib/ folder, a bottom file, an entry point, or undefined. */
function unitOf(path: string): string | undefined {
  if (ENTRY_POINTS[path]) return path;
  const m = /^lib\/(.+)$/.exec(path);
  if (!m) return undefined;
  if (BOTTOM.includes(m[1])) return m[1];
  const slash = m[1].indexOf("/");
  return slash < 0 ? `lib/${m[1]}` : m[1].slice(0, slash);
}

/** The edges that break the layering, one line each. */
export function layeringViolations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to, dynamic } of edges) {
    const a = unitOf(from);
    const b = unitOf(to);
    if (a === undefined || b === undefined) continue; // npm packages, node: modules
    if (a === b) continue;
    const how = dynamic ? " (dynamic import)" : "";
    if (BOTTOM.includes(a)) {
      if (a !== "errors.ts" && b === "errors.ts") continue;
      const but = a === "errors.ts" ? "" : " but errors.ts";
      out.push(
        `${from} -> ${to}${how}: ${a} sits at the bottom and imports nothing from lib/${but}`,
      );
      continue;
    }
    if (BOTTOM.includes(b)) continue;
    const allowed = ENTRY_POINTS[a] ?? LAYERS[a];
    if (allowed === undefined) {
      out.push(`${from}: ${a} is in no layer (add it to LAYERS in tests/architecture_test.ts)`);
    } else if (!allowed.includes(b)) {
      out.push(`${from} -> ${to}${how}: ${a} may not import ${b}`);
    }
  }
  return out;
}

/**
 * The import circles among `edges`: each strongly connected group of two or
 * more files (or a file importing itself), as its sorted file names.
 */
export function importCircles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    if (!next.has(from)) next.set(from, []);
    if (!next.has(to)) next.set(to, []);
    next.get(from)!.push(to);
  }
  // Tarjan's algorithm, iterative (no recursion depth to run out of).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const circles: string[][] = [];
  let counter = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      const [v, i] = top;
      const targets = next.get(v)!;
      if (i < targets.length) {
        top[1]++;
        const w = targets[i];
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) {
          low.set(v, Math.min(low.get(v)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const group: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          group.push(w);
        } while (w !== v);
        if (group.length > 1 || targets.includes(v)) circles.push(group.sort());
      }
    }
  }
  return circles;
}

async function deno(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success && text.trim() === "") {
    throw new Error(`deno ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function walk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await walk(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** Every TypeScript file under lib/, relative to the repository root. */
export async function libFiles(): Promise<string[]> {
  return (await walk(`${ROOT}/lib`)).map((p) => relative(ROOT, p));
}

/** The import edges of `files` (relative paths) and of what they import, from Deno's module graph. */
export async function importEdges(files: readonly string[]): Promise<Edge[]> {
  // One graph for everything: a generated module that imports every file.
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import "file://${ROOT}/${f}";\n`).join(""),
    );
    const graph = JSON.parse(await deno(["info", "--json", "--config", "deno.json", entry])) as {
      modules: {
        specifier: string;
        dependencies?: {
          code?: { specifier: string };
          type?: { specifier: string };
          isDynamic?: boolean;
        }[];
      }[];
    };
    const local = (url: string) =>
      url.startsWith(`file://${ROOT}/`) ? url.slice(`file://${ROOT}/`.length) : undefined;
    const edges: Edge[] = [];
    for (const m of graph.modules) {
      const from = local(m.specifier);
      if (from === undefined) continue;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code?.specifier, d.type?.specifier]) {
          const to = target === undefined ? undefined : local(target);
          if (to !== undefined) edges.push({ from, to, dynamic: d.isDynamic === true });
        }
      }
    }
    return edges;
  } finally {
    await Deno.remove(entry);
  }
}

/** `console` calls in `files` (absolute or relative to the root): "path:line" each. */
export async function consoleCalls(files: readonly string[]): Promise<string[]> {
  if (files.length === 0) return [];
  const report = JSON.parse(
    await deno([
      "lint",
      "--no-config",
      "--json",
      "--rules-tags=",
      "--rules-include=no-console",
      ...files,
    ]),
  ) as { diagnostics: { filename: string; range: { start: { line: number } } }[] };
  return report.diagnostics.map((d) => {
    const path = fileURLToPath(d.filename);
    return `${path.startsWith(ROOT + "/") ? relative(ROOT, path) : path}:${d.range.start.line}`;
  });
}

Deno.test("lib/ imports follow the layering; nothing but main.ts imports lib/cli", async () => {
  const files = await libFiles();
  assert.ok(files.length > 50, `found only ${files.length} files under lib/`);
  for (const f of files) {
    assert.ok(unitOf(f) !== undefined && (BOTTOM.includes(unitOf(f)!) || LAYERS[unitOf(f)!]), f);
  }
  const edges = await importEdges([...files, ...Object.keys(ENTRY_POINTS)]);
  assert.ok(edges.some((e) => e.from === "lib/cli/train.ts" && e.to === "lib/train/trainer.ts"));
  assert.deepEqual(layeringViolations(edges), []);
});

Deno.test("no import circles among lib/, main.ts and mod.ts", async () => {
  const files = await libFiles();
  const edges = await importEdges([...files, ...Object.keys(ENTRY_POINTS)]);
  assert.deepEqual(importCircles(edges), []);
});

Deno.test("the circle check finds circles of any length and ignores chains", () => {
  assert.deepEqual(
    importCircles([
      { from: "a.ts", to: "b.ts" },
      { from: "b.ts", to: "c.ts" },
      { from: "c.ts", to: "a.ts" },
      { from: "c.ts", to: "d.ts" },
      { from: "d.ts", to: "e.ts" },
      { from: "f.ts", to: "f.ts" },
    ]),
    [["a.ts", "b.ts", "c.ts"], ["f.ts"]],
  );
  assert.deepEqual(importCircles([{ from: "a.ts", to: "b.ts" }]), []);
});

Deno.test("no console calls outside lib/cli/ and the progress printer", async () => {
  const checked = (await libFiles()).filter((f) =>
    !f.startsWith("lib/cli/") && !MAY_PRINT.includes(f)
  );
  assert.deepEqual(await consoleCalls(checked), []);
});

Deno.test("the layering check catches bad edges", () => {
  assert.deepEqual(
    layeringViolations([
      { from: "lib/data/datasets.ts", to: "lib/data/files.ts" },
      { from: "lib/data/datasets.ts", to: "lib/errors.ts" },
      { from: "lib/input_file.ts", to: "lib/errors.ts" },
      { from: "lib/losses/lade.ts", to: "lib/priors/source_prior.ts" },
      { from: "main.ts", to: "lib/cli/train.ts" },
      { from: "lib/data/datasets.ts", to: "npm:/yaml@2.9.1" },
    ]),
    [],
  );
  assert.deepEqual(
    layeringViolations([
      { from: "lib/data/datasets.ts", to: "lib/cli/errors.ts" },
      { from: "lib/eval/inputs.ts", to: "lib/train/predict.ts", dynamic: true },
      { from: "lib/priors/em.ts", to: "lib/losses/mod.ts" },
      { from: "lib/torch/tensor.ts", to: "lib/data/mod.ts" },
      { from: "lib/errors.ts", to: "lib/torch/mod.ts" },
      { from: "lib/fs.ts", to: "lib/input_file.ts" },
      { from: "mod.ts", to: "lib/cli/errors.ts" },
      { from: "lib/plugins/group.ts", to: "lib/torch/mod.ts" },
    ]),
    [
      "lib/data/datasets.ts -> lib/cli/errors.ts: data may not import cli",
      "lib/eval/inputs.ts -> lib/train/predict.ts (dynamic import): eval may not import train",
      "lib/priors/em.ts -> lib/losses/mod.ts: priors may not import losses",
      "lib/torch/tensor.ts -> lib/data/mod.ts: torch may not import data",
      "lib/errors.ts -> lib/torch/mod.ts: errors.ts sits at the bottom and imports nothing from lib/",
      "lib/fs.ts -> lib/input_file.ts: fs.ts sits at the bottom and imports nothing from lib/ but errors.ts",
      "mod.ts -> lib/cli/errors.ts: mod.ts may not import cli",
      "lib/plugins/group.ts: plugins is in no layer (add it to LAYERS in tests/architecture_test.ts)",
    ],
  );
});

Deno.test("the import reader sees dynamic and type-only imports; the console check skips comments", async () => {
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/tests` });
  const rel = relative(ROOT, dir);
  try {
    await Deno.writeTextFile(`${dir}/b.ts`, "export type B = number;\nexport const b = 1;\n");
    await Deno.writeTextFile(`${dir}/c.ts`, "export const c = 2;\n");
    await Deno.writeTextFile(
      `${dir}/a.ts`,
      [
        '/** An example: console.log("in a doc comment") */',
        'import type { B } from "./b.ts";',
        '// console.warn("in a line comment")',
        'const text: string = "console.error(1)";',
        "export async function f(x: B): Promise<number> {",
        "  console.log(text);",
        '  return x + (await import("./c.ts")).c;',
        "}",
        "",
      ].join("\n"),
    );
    const edges = await importEdges([`${rel}/a.ts`]);
    assert.deepEqual(
      edges.filter((e) => e.from === `${rel}/a.ts`).sort((x, y) => x.to.localeCompare(y.to)),
      [
        { from: `${rel}/a.ts`, to: `${rel}/b.ts`, dynamic: false },
        { from: `${rel}/a.ts`, to: `${rel}/c.ts`, dynamic: true },
      ],
    );
    assert.deepEqual(await consoleCalls([`${dir}/a.ts`]), [`${rel}/a.ts:6`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
