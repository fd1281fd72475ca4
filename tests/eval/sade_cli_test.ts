import assert from "node:assert/strict";
import { SHIFT_GRID } from "../../lib/data/mod.ts";
import { readManifest } from "../../lib/run/checkpoint.ts";
import { InputError } from "../../lib/errors.ts";
import { describeError } from "../../lib/cli/errors.ts";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { estimatePriorCommand } from "../../lib/cli/estimate_prior.ts";
import { trainEntry } from "../../lib/cli/train_seeds.ts";
import { writeFixture } from "../train/fixture.ts";
import { assertOneLineError, lade as ladeIn, printed } from "../cli.ts";

/** `lade ARGS`. */
const lade = (...args: string[]) => ladeIn(args);

/**
 * A command run in-process that must refuse its input (the in-process form
 * of `lade ARGS`): bad input (exit 2), and the one line main.ts's
 * exitWithError prints matches `re`.
 */
async function assertRefused(command: Promise<unknown>, args: string[], re: RegExp) {
  const error = await command.then(
    () => assert.fail(`lade ${args.join(" ")} succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof InputError, String(error));
  assert.match(describeError(error, args), re);
}

interface EvalJson {
  shift: string;
  results: Record<string, { top1: number }>;
  aggregation?: { weights: number[]; epochs: number; transductive: boolean };
}

Deno.test("train --method sade, then evaluate: experts, average and test-time aggregation per shift", async () => {
  // A trained SADE model, not a good one: a small fixture, one epoch.
  const root = await writeFixture(12, 6);
  const yaml = `${root}/tiny.yaml`;
  await Deno.writeTextFile(
    yaml,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
  );
  // The recipe's test-time settings (method.test_time) are what evaluate runs by default.
  const sadeYaml = `${root}/sade.yaml`;
  await Deno.writeTextFile(
    sadeYaml,
    (await Deno.readTextFile(yaml)) + `method:\n  name: sade\n  test_time:\n    epochs: 1\n`,
  );
  const run = `${root}/run`;
  const t = await lade("train", "--config", sadeYaml, "--out", run);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /cnn28-sade/);
  assert.match(t.stdout, /sade_expert1\s+sade_expert2\s+sade_expert3\s+sade_avg\s+sade_tta/);
  assert.match(t.stdout, /test-time aggregation weights/);
  assert.equal((await readManifest(run))!.arch, "cnn28-sade");
  const trained = JSON.parse(await Deno.readTextFile(`${run}/report/results.json`));
  for (const e of trained.evaluations) assert.equal(e.aggregation.epochs, 1);

  const all = await lade("evaluate", "--run", run, "--shift", "all", "--json", "--tta-epochs", "2");
  assert.equal(all.code, 0, all.stderr);
  const evals = JSON.parse(all.stdout) as EvalJson[];
  assert.deepEqual(evals.map((e) => e.shift), [...SHIFT_GRID]);
  for (const e of evals) {
    assert.deepEqual(Object.keys(e.results), [
      "sade_expert1",
      "sade_expert2",
      "sade_expert3",
      "sade_avg",
      "sade_tta",
    ]);
    const a = e.aggregation!;
    assert.equal(a.transductive, true);
    assert.equal(a.weights.length, 3);
    assert.ok(a.epochs >= 1 && a.epochs <= 2);
  }
  const report = JSON.parse(await Deno.readTextFile(`${run}/report/results.json`));
  assert.equal(report.evaluations[0].aggregation.weights.length, 3);
  assert.match(await Deno.readTextFile(`${run}/report/index.html`), /transductive/);

  // Without the aggregation; --prior is accepted and said to change nothing.
  // Exported logits [N, 3C] evaluate as a SADE model's (without views: no aggregation).
  const npy = `${root}/npy`;
  const plain = await lade(
    "evaluate",
    "--run",
    run,
    "--tta-epochs",
    "0",
    "--json",
    "--no-report",
    "--export-npy",
    npy,
  );
  assert.equal(plain.code, 0, plain.stderr);
  const one = JSON.parse(plain.stdout) as EvalJson;
  assert.equal(one.aggregation, undefined);
  assert.equal(one.results.sade_tta, undefined);
  const external = await lade(
    "evaluate",
    "--logits",
    `${npy}/logits.npy`,
    "--labels",
    `${npy}/labels.npy`,
    "--train-counts",
    `${npy}/train_counts.npy`,
    "--model-method",
    "sade",
    "--json",
  );
  assert.equal(external.code, 0, external.stderr);
  assert.deepEqual(
    (JSON.parse(external.stdout) as EvalJson).results.sade_avg.top1,
    one.results.sade_avg.top1,
  );
  // (in-process, its printed text: evaluate --run RUN --prior all --no-report)
  const prior = await printed(() => evaluateCommand({ run, prior: "all", report: false }));
  assert.match(prior, /use no target prior/);
  assert.match(prior, /test-time aggregation weights \(experts 1-3\)/);

  // In-process: the one line main.ts would print for the command line's.
  await assertRefused(
    estimatePriorCommand({ run, shift: "forward10" }),
    ["estimate-prior", "--run", run, "--shift", "forward10"],
    /use no target prior; estimate-prior needs a single-expert model/,
  );
  await assertRefused(
    evaluateCommand({ run, ttaEpochs: "-1" }),
    ["evaluate", "--run", run, "--tta-epochs", "-1"],
    /--tta-epochs '-1': expected a non-negative integer/,
  );
  // A network whose experts do not match the method's.
  const withArch = async (arch: string) => {
    const path = `${root}/${arch}.yaml`;
    await Deno.writeTextFile(path, (await Deno.readTextFile(yaml)) + `model:\n  arch: ${arch}\n`);
    return path;
  };
  const cnn28 = await withArch("cnn28");
  await assertRefused(
    trainEntry({ config: cnn28, method: "sade", out: `${root}/a` }),
    ["train", "--config", cnn28, "--method", "sade", "--out", `${root}/a`],
    /method sade trains 3 experts but cnn28 has one \(use auto or .*cnn28-sade\)/,
  );
  assertOneLineError(
    await lade("train", "--config", await withArch("cnn28-sade"), "--out", `${root}/b`),
    /cnn28-sade is a 3-expert network \(for methods sade, balpoe\); method lade trains one/,
  );
  await Deno.remove(root, { recursive: true });
});
