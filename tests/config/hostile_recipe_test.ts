/**
 * Recipes built to hurt (issue 21): collections nested past the YAML
 * composer's stack (flow and block, lists and maps) are refused with one
 * line naming the line, before the composer runs; a run name that is a
 * path (`../../x`) is refused; numbers too large for a double or for
 * counting are said as such.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_CONFIG,
  MAX_RECIPE_DEPTH,
  mergeConfig,
  parseConfigText,
  validateConfig,
  yamlTooDeep,
} from "../../lib/config/config.ts";
import { nestedYaml } from "../../scripts/fuzz_structured.ts";
import { refusesSync as refuses } from "../refusal.ts";

Deno.test("nesting past the limit is one line with its place; within it, recipes parse", () => {
  // dataset (1) > mean (2) > the nested collections.
  const deepest = MAX_RECIPE_DEPTH - 2;
  for (const style of ["flow", "map", "block", "indented"] as const) {
    const ok = parseConfigText(nestedYaml(deepest, style), "ok.yaml") as {
      dataset: { mean: unknown };
    };
    let v: unknown = ok.dataset.mean;
    for (let i = 0; i < deepest; i++) {
      assert.equal(typeof v, "object", `${style} level ${i}`);
      v = Array.isArray(v) ? v[0] : (v as { a: unknown }).a;
    }
    assert.equal(v, 0, style);
    for (const depth of [deepest + 1, 20_000]) {
      if (style === "indented" && depth > 2000) continue; // its text grows with depth squared
      refuses(
        () => parseConfigText(nestedYaml(depth, style), "deep.yaml"),
        new RegExp(
          `^deep\\.yaml: not a recipe: collections nested more than ${MAX_RECIPE_DEPTH} levels ` +
            "deep \\(line \\d+\\)$",
        ),
      );
    }
  }
  assert.equal(yamlTooDeep("a: 1\nb: [1, 2]\n", 2), undefined);
  assert.equal(yamlTooDeep("a: 1\nb:\n  c: [[1]]\n", 2), 3);
});

Deno.test("a run name is a plain name: no path, no control characters", () => {
  for (const name of ["../../x", "a/b", "..", ".", "x\u001b[2J"]) {
    refuses(
      () => validateConfig(mergeConfig(DEFAULT_CONFIG, { name }), "r.yaml"),
      /^r\.yaml: name: must be a plain name \(no '\/', no '\.\.', no control characters\): the run goes to runs\/<name>; use --out DIR for another place/,
    );
  }
  assert.equal(validateConfig(mergeConfig(DEFAULT_CONFIG, { name: "my-run_2" })).name, "my-run_2");
});

Deno.test("numbers beyond a double or beyond counting are said so", () => {
  const epochs = (v: number) =>
    validateConfig(mergeConfig(DEFAULT_CONFIG, { train: { epochs: v } }), "r.yaml");
  // YAML's 1e999 is Infinity: not "expected number, received number, got null".
  const patch = parseConfigText("train:\n  epochs: 1e999\n", "r.yaml") as {
    train: { epochs: number };
  };
  assert.equal(patch.train.epochs, Infinity);
  refuses(
    () => epochs(patch.train.epochs),
    /^r\.yaml: train\.epochs: must be a finite number, got Infinity$/,
  );
  refuses(
    () => epochs(1e300),
    /^r\.yaml: train\.epochs: is too large \(at most 2\^53 - 1\), got 1e\+300$/,
  );
  refuses(() => epochs(2.5), /^r\.yaml: train\.epochs: must be an integer, got 2\.5$/);
});
