/**
 * Fine-tuning from the command line: --init with --freeze backbone trains
 * the head alone; --backbone-lr 0 leaves the backbone's parameters where
 * --init put them; --lr-step/--lr-gamma give StepLR. The cRT training runs
 * at the command line; the others in this process (trainEntry, given the
 * options commander would parse; the first stage through the library); the
 * weights are exported and the cRT run evaluated in this process (`weights
 * export` and `evaluate --json` at the command line: tests/weights/cli_test.ts,
 * tests/train/stage2_test.ts).
 */
import assert from "node:assert/strict";
import { evaluateCommand } from "../../lib/cli/evaluate.ts";
import { trainEntry, type TrainEntryOptions } from "../../lib/cli/train_seeds.ts";
import { weightsExportCommand } from "../../lib/cli/weights.ts";
import { readWeightsFile } from "../../lib/weights/model_weights.ts";
import { lade, printed } from "../cli.ts";
import { train } from "../../lib/train/trainer.ts";
import { fixtureConfig, writeFixture } from "./fixture.ts";
import { refuses } from "../refusal.ts";

/** `lade train ARGS` (as `options`), run in this process, refuses them with one line matching `re`. */
const refusedInProcess = (args: string[], options: TrainEntryOptions, re: RegExp) =>
  refuses(() => trainEntry(options), re, ["train", ...args]);

/** Tensor bytes by name, split into the backbone's parameters, its buffers, and the head's. */
async function parts(path: string) {
  const file = await readWeightsFile(path);
  const out = {
    params: new Map<string, string>(),
    buffers: new Map<string, string>(),
    head: new Map<string, string>(),
  };
  for (const [name, t] of file.tensors) {
    const text = Array.from(t.data).join(",");
    if (name.startsWith("head.")) out.head.set(name, text);
    else if (/running_|num_batches/.test(name)) out.buffers.set(name, text);
    else out.params.set(name, text);
  }
  return out;
}

Deno.test("--freeze backbone and --backbone-lr 0 keep the initial backbone; StepLR from flags", async () => {
  const root = await writeFixture(12, 4);
  const dir = await Deno.makeTempDir({ prefix: "lade-finetune-" });
  try {
    await Deno.writeTextFile(
      `${dir}/tiny.yaml`,
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
        `train:\n  epochs: 1\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
    );
    const ok = async (args: string[]) => {
      const r = await lade(args, { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    };
    const exportWeights = (run: string) =>
      printed(() => weightsExportCommand(`${dir}/${run}`, { out: `${dir}/${run}.safetensors` }));
    // The first stage, in this process: what is tested is the fine-tuning flags.
    await train(fixtureConfig(root, { train: { epochs: 1 } }), { runDir: `${dir}/base` });
    await exportWeights("base");
    const base = await parts(`${dir}/base.safetensors`);

    // In this process, as `lade train --config tiny.yaml --out frozen --init
    // base.safetensors --freeze backbone` runs it (cRT's below at the command line).
    await printed(() =>
      trainEntry({
        config: `${dir}/tiny.yaml`,
        out: `${dir}/frozen`,
        init: `${dir}/base.safetensors`,
        freeze: "backbone",
      })
    );
    await exportWeights("frozen");
    const frozen = await parts(`${dir}/frozen.safetensors`);
    assert.deepEqual(frozen.params, base.params, "frozen backbone parameters unchanged");
    assert.deepEqual(frozen.buffers, base.buffers, "frozen batch-norm statistics unchanged");
    assert.notDeepEqual(frozen.head, base.head, "the head trained");

    // (In this process too: --backbone-lr 0 --lr-step 1 --lr-gamma 0.5.)
    await printed(() =>
      trainEntry({
        config: `${dir}/tiny.yaml`,
        out: `${dir}/slow`,
        init: `${dir}/base.safetensors`,
        backboneLr: "0",
        lrStep: "1",
        lrGamma: "0.5",
      })
    );
    await exportWeights("slow");
    const slow = await parts(`${dir}/slow.safetensors`);
    assert.deepEqual(slow.params, base.params, "a zero backbone rate moves no backbone parameter");
    assert.notDeepEqual(slow.buffers, base.buffers, "but batch norm still updates its statistics");
    assert.notDeepEqual(slow.head, base.head);
    const config = await Deno.readTextFile(`${dir}/slow/config.yaml`);
    assert.match(config, /backbone_lr: 0\n/);
    assert.match(config, /type: step\n/);
    assert.match(config, /step_size: 1\n/);
    assert.match(config, /gamma: 0\.5\n/);

    // cRT (Kang et al. 2020): the first stage's backbone frozen, a new
    // classifier trained with class-balanced sampling; --init takes the run.
    await ok([
      "train",
      "--config",
      "tiny.yaml",
      "--out",
      "crt",
      "--init",
      "base",
      "--init-skip",
      "head",
      "--freeze",
      "backbone",
      "--sampler",
      "balanced",
      "--method",
      "softmax",
    ]);
    await exportWeights("crt");
    const crt = await parts(`${dir}/crt.safetensors`);
    assert.deepEqual(crt.params, base.params);
    assert.deepEqual(crt.buffers, base.buffers);
    assert.notDeepEqual(crt.head, base.head);
    const crtConfig = await Deno.readTextFile(`${dir}/crt/config.yaml`);
    assert.match(crtConfig, /sampler: balanced\n/);
    assert.match(crtConfig, /init: base\n/);
    assert.match(crtConfig, /freeze: backbone\n/);
    const evaluated = await printed(() =>
      evaluateCommand({ run: `${dir}/crt`, json: true, report: false })
    );
    const results = JSON.parse(evaluated).results;
    assert.ok("softmax" in results && "pc_softmax" in results);
    // The refusals in this process, as the one line lade prints (flag errors at
    // the command line: tests/train/cli_test.ts).
    await refusedInProcess(
      ["--config", `${dir}/tiny.yaml`, "--out", `${dir}/y`, "--init", dir],
      { config: `${dir}/tiny.yaml`, out: `${dir}/y`, init: dir },
      /a directory without a run's checkpoint\.json/,
    );
    // (The value came from the flag: the flag is named.)
    await refusedInProcess(
      ["--config", `${dir}/tiny.yaml`, "--out", `${dir}/x`, "--freeze", "head"],
      { config: `${dir}/tiny.yaml`, out: `${dir}/x`, freeze: "head" },
      /^--freeze: .*"head"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
