/**
 * A user's own sequence of label distributions, one row per round: a CSV
 * file (a row of C numbers per line; a first line that is not numbers is a
 * header; `#` starts a comment) or a JSON file (an array of rows, or
 * `{"marginals": [...]}`). Every row must have the model's C classes and
 * sum to 1 (within 1e-3; rows are then renormalised exactly).
 *
 * ```ts
 * import { parseMarginals } from "../../mod.ts";
 * const rows = parseMarginals("a,b\n0.5,0.5\n0.9,0.1\n", "q.csv", 2);
 * console.assert(rows.length === 2 && rows[1][0] === 0.9);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkDistribution } from "./simplex.ts";

/** Rows of a CSV text: numbers per line, header and comments skipped. */
function csvRows(text: string, source: string): number[][] {
  const rows: number[][] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const cells = line.split(/[,;\t ]+/).filter((c) => c !== "");
    const values = cells.map((c) => (/^[-+0-9.eE]+$/.test(c) ? Number(c) : NaN));
    if (values.some((v) => Number.isNaN(v))) {
      // A header: only before the first row of numbers.
      if (rows.length === 0 && cells.every((c) => !/^[-+0-9.eE]+$/.test(c))) return;
      throw new InputError("marginals", `${source}: line ${i + 1} is not a row of numbers`);
    }
    rows.push(values);
  });
  return rows;
}

/** Rows of a JSON text: an array of rows, or an object whose `marginals` is one. */
function jsonRows(text: string, source: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError("marginals", `${source}: not valid JSON (${(e as Error).message})`);
  }
  const rows = Array.isArray(value) ? value : (value as { marginals?: unknown } | null)?.marginals;
  if (!Array.isArray(rows)) {
    throw new InputError(
      "marginals",
      `${source}: expected an array of rows (or {"marginals": [...]}), one per round`,
    );
  }
  return rows;
}

/**
 * The marginals of `text` (CSV unless `source` ends in .json or the text
 * starts with `[` or `{`), checked against `classes`: one distribution per
 * round. `source` names the file in messages.
 *
 * @example CSV with a header, or JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMarginals } from "./marginals_file.ts";
 *
 * assert.deepEqual(parseMarginals("a,b\n0.5,0.5\n0.75,0.25\n", "q.csv", 2), [[0.5, 0.5], [0.75, 0.25]]);
 * assert.deepEqual(parseMarginals('{"marginals": [[1, 0]]}', "q.json", 2), [[1, 0]]);
 * assert.throws(() => parseMarginals("0.5,0.5,0\n", "q.csv", 2));
 * ```
 */
export function parseMarginals(text: string, source: string, classes: number): number[][] {
  const trimmed = text.trimStart();
  const json = source.toLowerCase().endsWith(".json") || trimmed.startsWith("[") ||
    trimmed.startsWith("{");
  const rows = json ? jsonRows(text, source) : csvRows(text, source);
  if (rows.length === 0) throw new InputError("marginals", `${source}: no rows (one per round)`);
  return rows.map((row, t) => {
    if (!Array.isArray(row)) {
      throw new InputError("marginals", `${source}: row ${t + 1} is not an array of numbers`);
    }
    return checkDistribution(row as number[], classes, "marginals", `${source}: row ${t + 1}`);
  });
}

/**
 * Reads and checks a marginals file (see {@link parseMarginals}).
 *
 * @example A file of three rounds
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMarginalsFile } from "./marginals_file.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "# q_t\n1,0\n0.5,0.5\n0,1\n");
 * assert.deepEqual(await readMarginalsFile(path, 2), [[1, 0], [0.5, 0.5], [0, 1]]);
 * await Deno.remove(path);
 * ```
 */
export async function readMarginalsFile(path: string, classes: number): Promise<number[][]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(
      "marginals",
      `cannot read ${path}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  return parseMarginals(text, path, classes);
}
