import assert from "node:assert/strict";
import { trainEntry, type TrainEntryOptions } from "../../lib/cli/train_seeds.ts";
import { Model } from "../../lib/models/model.ts";
import { loadCheckpoint, readManifest } from "../../lib/run/checkpoint.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { cudaAvailable } from "../../lib/torch/device.ts";
import { assertOneLineError, lade as runLade, MAIN } from "../cli.ts";
import { writeFixture } from "./fixture.ts";
import { refuses } from "../refusal.ts";

const main = MAIN;

/** `lade train ARGS` (tests/cli.ts). */
const lade = (args: string[]) => runLade(["train", ...args]);

/** `lade train ARGS` (as `options`), run in this process, refuses them with one line matching `re`. */
const refusedInProcess = (args: string[], options: TrainEntryOptions, re: RegExp) =>
  refuses(() => trainEntry(options), re, ["train", ...args]);

async function fixtureYaml(root: string, epochs: number): Promise<string> {
  const path = `${root}/tiny.yaml`;
  await Deno.writeTextFile(
    path,
    `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 3\n` +
      `train:\n  epochs: ${epochs}\n  batch_size: 16\n  eval_batch_size: 64\nthreads: 1\n`,
  );
  return path;
}

Deno.test("train --epochs 1 writes a run directory with a loadable checkpoint and metrics", async () => {
  const root = await writeFixture();
  const out = `${root}/run`;
  const r = await lade(["--config", await fixtureYaml(root, 3), "--epochs", "1", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /top-1 accuracy \(%\) on the uniform test set/);
  assert.match(r.stdout, /uniform\s+\d+\.\d\d/);
  const metrics = await readMetrics(out);
  assert.equal(metrics.length, 1);
  assert.equal(metrics[0].epoch, 1);
  assert.ok(metrics[0].images_per_sec > 0 && Number.isFinite(metrics[0].loss));
  assert.ok(typeof metrics[0].test_top1 === "number");
  assert.match(await Deno.readTextFile(`${out}/config.yaml`), /epochs: 1\n/);
  const m = (await readManifest(out))!;
  assert.equal(m.epoch, 1);
  using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
  await loadCheckpoint(out, model);
  // A second run into the same directory is refused rather than overwriting it
  // (in this process, as the next).
  await refusedInProcess(
    ["--config", `${root}/tiny.yaml`, "--out", out],
    { config: `${root}/tiny.yaml`, out },
    /already holds a run; continue it with --resume/,
  );
  // The trainer's parameter (train.batch_size) is said as the flag that sets it.
  await refusedInProcess(
    ["--config", `${root}/tiny.yaml`, "--batch-size", "100000", "--out", `${root}/big`],
    { config: `${root}/tiny.yaml`, batchSize: "100000", out: `${root}/big` },
    /--batch-size: 100000 is larger than the training set \(\d+ images\)$/,
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("invalid configs and flags: one-line errors and a non-zero exit", async () => {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/bad.yaml`, "train:\n  epochz: 3\n");
  // At the command line: a config's value named as the flag that gave it, and a
  // thread count that would hang starting threads (exit 2, nothing written).
  assertOneLineError(
    await lade(["--epochs", "-3"]),
    /--epochs: must be a positive integer, got -3$/,
  );
  const r = await lade(["--threads", "5000", "--out", `${root}/threads`]);
  assertOneLineError(r, /--threads: 5000 is more than this machine can use/);
  assert.equal(r.code, 2);
  // The rest in this process: the same one line, from the same code.
  await refusedInProcess(
    ["--config", `${root}/bad.yaml`],
    { config: `${root}/bad.yaml` },
    /unknown key 'train\.epochz'/,
  );
  await refusedInProcess(
    ["--epochs", "many"],
    { epochs: "many" },
    /invalid --epochs 'many': expected a number/,
  );
  await refusedInProcess(
    ["--dataset", "imagenet"],
    { dataset: "imagenet" },
    /unknown dataset 'imagenet'/,
  );
  // ... or one that does not fit an i32.
  await refusedInProcess(
    ["--threads", "3e9", "--out", `${root}/threads`],
    { threads: "3e9", out: `${root}/threads` },
    /--threads: 3000000000 is more than this machine can use/,
  );
  await assert.rejects(() => Deno.stat(`${root}/threads`), Deno.errors.NotFound);
  // A device index past libtorch's int8 ("Invalid FFI i32 type" before); 5000 local ranks.
  await refusedInProcess(
    ["--device", "cuda:99999999999", "--out", `${root}/dev`],
    { device: "cuda:99999999999", out: `${root}/dev` },
    /--device: unknown device 'cuda:99999999999' \(use cpu, cuda or cuda:N, N from 0 to 127\)$/,
  );
  await refusedInProcess(
    ["--nproc-per-node", "5000", "--batch-size", "5000", "--out", `${root}/ranks`],
    { nprocPerNode: "5000", batchSize: "5000", out: `${root}/ranks` },
    /invalid --nproc-per-node 5000: the limit is 64 ranks on one machine/,
  );
  await refusedInProcess(
    ["--config", `${root}/none.yaml`],
    { config: `${root}/none.yaml` },
    /config file .* not found/,
  );
  await refusedInProcess(
    ["--resume", `${root}/nothing`],
    { resume: `${root}/nothing` },
    /no checkpoint there/,
  );
  await refusedInProcess(
    ["--resume", root, "--lr", "1"],
    { resume: root, lr: "1" },
    /--lr cannot be combined with --resume/,
  );
  if (!cudaAvailable()) {
    await refusedInProcess(
      ["--device", "cuda:0", "--out", `${root}/gpu`],
      { device: "cuda:0", out: `${root}/gpu` },
      /--device: cannot use cuda:0: CUDA is not available/,
    );
  }
  await Deno.remove(root, { recursive: true });
});

Deno.test("Ctrl-C writes a checkpoint and exits; --resume finishes the run", async () => {
  const root = await writeFixture();
  const out = `${root}/run`;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "train", "--config", await fixtureYaml(root, 200), "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Interrupt once the first epoch's checkpoint is there.
  const until = Date.now() + 60_000;
  while ((await readManifest(out).catch(() => null)) === null) {
    assert.ok(Date.now() < until, "no checkpoint within a minute");
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGINT");
  const res = await proc.output();
  const stdout = new TextDecoder().decode(res.stdout);
  assert.equal(res.code, 130, new TextDecoder().decode(res.stderr));
  assert.match(stdout, /continue with: lade train --resume/);
  const m = (await readManifest(out))!;
  assert.ok(m.epoch >= 1 && m.epoch < 200);
  // The resume in this process, as `lade train --resume OUT --epochs N` runs it
  // (train --resume at the command line: tests/train/disk_full_test.ts).
  const log = console.log;
  const resumed: string[] = [];
  console.log = (...a: unknown[]) => resumed.push(a.join(" "));
  try {
    await trainEntry({ resume: out, epochs: String(m.epoch + 1) });
  } finally {
    console.log = log;
  }
  assert.match(resumed.join("\n"), /resuming/);
  assert.equal((await readManifest(out))!.epoch, m.epoch + 1);
  assert.equal((await readMetrics(out)).length, m.epoch + 1);
  await Deno.remove(root, { recursive: true });
});
