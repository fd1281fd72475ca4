/**
 * What `compare` reads is validated (issue 21): an evaluation file with a
 * shift twice, or a top-1 of 1e999 or -50, is refused naming the file; the
 * same run (or file) given twice is compared once, with a line saying so;
 * two runs of one recipe with one seed are refused before any evaluation
 * (they are not two seeds, and their spread would be a spurious 0).
 */

import assert from "node:assert/strict";
import { buildComparison, distinctRuns, readEvaluationsJson } from "../../lib/cli/compare.ts";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { refuses } from "../refusal.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "lade-compare-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const evaluation = (shift: string, top1: unknown, extra = "") =>
  `{"shift": "${shift}", "results": {"lade": {"top1": ${top1}${extra}}}}`;

Deno.test("evaluation files: a shift twice and metrics out of range are refused", async () => {
  await withDir(async (dir) => {
    const put = (name: string, text: string) => Deno.writeTextFile(`${dir}/${name}`, text);
    await put("twice.json", `[${evaluation("uniform", 80)}, ${evaluation("uniform", 90)}]`);
    await refuses(
      () => readEvaluationsJson(`${dir}/twice.json`),
      /twice\.json: shift 'uniform' is listed twice$/,
    );
    // JSON's 1e999 parses as Infinity.
    for (const [top1, shown] of [["1e999", "Infinity"], ["-50", "-50"], ["100.5", "100.5"]]) {
      await put("range.json", `[${evaluation("uniform", top1)}]`);
      await refuses(
        () => readEvaluationsJson(`${dir}/range.json`),
        new RegExp(
          `range\\.json: shift 'uniform', variant 'lade': top1 ${shown} is outside \\[0, 100\\]$`,
        ),
      );
    }
    await put("nll.json", `[${evaluation("uniform", 50, ', "nll": -1')}]`);
    await refuses(() => readEvaluationsJson(`${dir}/nll.json`), /nll -1 is outside \[0, inf\]$/);
    await put("brier.json", `[${evaluation("uniform", 50, ', "brier": "x"')}]`);
    await refuses(() => readEvaluationsJson(`${dir}/brier.json`), /brier "x" is outside \[0, 2\]$/);
    // Valid: nulls where a metric does not apply, values at the ends of their range.
    await put("ok.json", `[${evaluation("uniform", 100, ', "few": null, "brier": 2, "ece": 0')}]`);
    assert.equal((await readEvaluationsJson(`${dir}/ok.json`)).evaluations.length, 1);
  });
});

Deno.test("the same run or file twice is compared once; one seed twice is refused", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.json`, `[${evaluation("uniform", 80)}]`);
    await Deno.symlink(`${dir}/a.json`, `${dir}/link.json`);
    const said: string[] = [];
    const items = await distinctRuns(
      [
        { kind: "json", path: `${dir}/a.json` },
        { kind: "json", path: `${dir}/a.json` },
        { kind: "json", path: `${dir}/link.json` },
      ],
      (line) => said.push(line),
    );
    assert.equal(items.length, 1);
    assert.deepEqual(said, [
      `${dir}/a.json was given twice: compared once`,
      `${dir}/link.json is the same file as ${dir}/a.json: compared once`,
    ]);
    // Two copies of one run (one recipe, one seed): refused before anything is evaluated
    // (these manifests point at no checkpoint at all).
    const manifest = JSON.stringify({
      version: 1,
      epoch: 1,
      step: 0,
      running: { loss: 1, correct: 1, seen: 2, seconds: 1 },
      trainCounts: [30, 10, 3],
      config: DEFAULT_CONFIG,
      arch: "cnn28",
      inChannels: 1,
      classes: 3,
      classNames: ["a", "b", "c"],
      model: "checkpoints/model-x.safetensors",
      optimizer: "checkpoints/optimizer-x.pt",
      sha256: { model: "0".repeat(64), optimizer: "0".repeat(64) },
      rng: "AAAA",
      savedAt: "2026-01-01T00:00:00.000Z",
    });
    for (const run of ["r1", "r2"]) {
      await Deno.mkdir(`${dir}/${run}`);
      await Deno.writeTextFile(`${dir}/${run}/checkpoint.json`, manifest);
    }
    await refuses(
      () => buildComparison([`${dir}/r1`, `${dir}/r2`]),
      new RegExp(
        `^${dir}/r1 and ${dir}/r2 are the same recipe with the same seed \\(${DEFAULT_CONFIG.seed}\\): ` +
          "not two seeds; compare one of them, or train another seed$",
      ),
    );
  });
});
