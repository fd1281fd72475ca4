/**
 * Shifted test sets given by a file, so that lade evaluates on exactly the
 * sets another code base used (the official LADE notebooks' count tables,
 * SADE's shifted lists). A shift file is JSON, one of:
 *
 * - `[n_0, n_1, ...]`: per-class test counts; class c keeps its first n_c test
 *   samples in file order (as the built-in shifts and the official
 *   notebooks' `get_mask` do);
 * - `{"name": "forward50", "counts": [...]}`: the same, named;
 * - `{"name": "...", "indices": [i, ...]}`: the test samples by index
 *   (0-based, in the test split's file order);
 * - `{"name": "...", "indices": [[...], [...], ...]}`: per-class lists of
 *   indices (each sample must carry its list's class);
 * - an array of such objects, or `{"sets": [...]}`: several sets. `shift`
 *   may stand for `name`, so `evaluate --shift all --json`'s output is itself
 *   a shift file.
 *
 * Counts name classes by index, so they need no class ranking: ties in the
 * training counts matter only to the built-in forwardR/backwardR sets, which
 * rank ties by class index (lib/data/shift.ts).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { MAX_JSON_DEPTH, MAX_TEXT_BYTES, nestedDeeperThan, readInputText } from "../input_file.ts";

/** One shifted test set: a name and its test-sample indices (ascending). */
export interface ShiftSet {
  /** The set's name (a file's `name` or `shift`, else the file's name). */
  name: string;
  /** Test-sample indices, ascending, in the test split's file order. */
  indices: Int32Array;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** The first counts[c] test samples of each class, in file order. */
export function indicesForCounts(
  testLabels: Int32Array,
  counts: readonly number[],
  where: string,
): Int32Array {
  const classes = counts.length;
  const available = new Array<number>(classes).fill(0);
  for (const y of testLabels) if (y < classes) available[y]++;
  counts.forEach((n, c) => {
    if (n > available[c]) {
      throw new InputError(
        `${where}: class ${c} asks for ${n} test samples but the test split has ${available[c]}`,
      );
    }
  });
  const taken = new Array<number>(classes).fill(0);
  const out: number[] = [];
  for (let i = 0; i < testLabels.length; i++) {
    const y = testLabels[i];
    if (taken[y] < counts[y]) {
      taken[y]++;
      out.push(i);
    }
  }
  return Int32Array.from(out);
}

function indicesOf(
  value: unknown[],
  testLabels: Int32Array,
  classes: number,
  where: string,
): Int32Array {
  const perClass = value.length > 0 && value.every(Array.isArray);
  if (perClass && value.length !== classes) {
    throw new InputError(`${where}: ${value.length} per-class index lists for ${classes} classes`);
  }
  const seen = new Uint8Array(testLabels.length);
  const out: number[] = [];
  const add = (i: unknown, c: number | undefined) => {
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= testLabels.length) {
      throw new InputError(
        `${where}: index ${JSON.stringify(i)} outside the test split (0..${testLabels.length - 1})`,
      );
    }
    const k = i as number;
    if (seen[k]) throw new InputError(`${where}: test sample ${k} is listed twice`);
    if (c !== undefined && testLabels[k] !== c) {
      throw new InputError(
        `${where}: test sample ${k} has label ${testLabels[k]} but is listed under class ${c}`,
      );
    }
    seen[k] = 1;
    out.push(k);
  };
  if (perClass) (value as unknown[][]).forEach((list, c) => list.forEach((i) => add(i, c)));
  else value.forEach((i) => add(i, undefined));
  if (out.length === 0) throw new InputError(`${where}: the set is empty`);
  return Int32Array.from(out).sort();
}

function setOf(
  value: unknown,
  fallbackName: string,
  testLabels: Int32Array,
  classes: number,
  where: string,
): ShiftSet {
  if (Array.isArray(value)) {
    value = { name: fallbackName, counts: value };
  }
  if (!isObject(value)) {
    throw new InputError(`${where}: expected per-class counts or an object with counts or indices`);
  }
  const rawName = value.name ?? value.shift ?? fallbackName;
  if (typeof rawName !== "string" || rawName.trim() === "") {
    throw new InputError(`${where}: name must be a non-empty string`);
  }
  const name = rawName.trim();
  const at = `${where} (${name})`;
  if (value.counts !== undefined && value.indices !== undefined) {
    throw new InputError(`${at}: give counts or indices, not both`);
  }
  if (Array.isArray(value.counts)) {
    const counts = value.counts;
    if (counts.length !== classes || !counts.every(isCount)) {
      throw new InputError(
        `${at}: counts must be ${classes} non-negative integers (one per class), got ${counts.length} values`,
      );
    }
    const indices = indicesForCounts(testLabels, counts as number[], at);
    if (indices.length === 0) throw new InputError(`${at}: the set is empty`);
    return { name, indices };
  }
  if (Array.isArray(value.indices)) {
    return { name, indices: indicesOf(value.indices, testLabels, classes, at) };
  }
  throw new InputError(`${at}: needs "counts" (one per class) or "indices"`);
}

/**
 * The shifted test sets a parsed shift file describes, over a test split with
 * `testLabels` and `classes` classes. `source` names the file in messages and
 * is the name of an unnamed set.
 *
 * @example A set by per-class counts
 * ```ts
 * import assert from "node:assert/strict";
 * import { shiftSetsFromJson } from "./mod.ts";
 *
 * const test = new Int32Array([0, 1, 0, 1]);
 * const [set] = shiftSetsFromJson({ name: "mine", counts: [2, 1] }, test, 2, "mine.json");
 * assert.deepEqual([set.name, [...set.indices]], ["mine", [0, 1, 2]]);
 * ```
 */
export function shiftSetsFromJson(
  value: unknown,
  testLabels: Int32Array,
  classes: number,
  source: string,
): ShiftSet[] {
  const stem = source.replace(/^.*\//, "").replace(/\.json$/i, "") || "file";
  let items: unknown[];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => isObject(v))) {
    items = value;
  } else if (isObject(value) && Array.isArray(value.sets)) {
    items = value.sets;
  } else {
    items = [value];
  }
  if (items.length === 0) throw new InputError(`${source}: no shifted test sets`);
  const sets = items.map((v, k) =>
    setOf(v, items.length === 1 ? stem : `${stem}[${k}]`, testLabels, classes, `${source}`)
  );
  const names = new Set<string>();
  for (const s of sets) {
    if (names.has(s.name)) throw new InputError(`${source}: two sets are named '${s.name}'`);
    names.add(s.name);
  }
  return sets;
}

/**
 * Reads a shift file (JSON); a missing or malformed file is an InputError.
 *
 * @example Sets from a JSON file
 * ```ts
 * import assert from "node:assert/strict";
 * import { readShiftFile } from "./mod.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, JSON.stringify([{ name: "a", counts: [1, 0] }, { name: "b", indices: [1] }]));
 * const sets = await readShiftFile(path, new Int32Array([0, 1]), 2);
 * assert.deepEqual(sets.map((s) => [s.name, [...s.indices]]), [["a", [0]], ["b", [1]]]);
 * await Deno.remove(path);
 * ```
 */
export async function readShiftFile(
  path: string,
  testLabels: Int32Array,
  classes: number,
): Promise<ShiftSet[]> {
  const text = await readInputText(path, { maxBytes: MAX_TEXT_BYTES, what: "shift file" });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new InputError(`${path}: nested more than ${MAX_JSON_DEPTH} levels deep`);
  }
  return shiftSetsFromJson(value, testLabels, classes, path);
}
