/**
 * `train` takes the dataset flags `data inspect` has (--root, --train-list,
 * --test-list, --image-root, --imbalance-type); a recipe naming a balanced
 * dataset trains on all of it; a bad value is said where it came from (the
 * flag, or the recipe file and key); the run starts by printing its resolved
 * configuration.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { keySource } from "../../lib/config/config.ts";
import { writeFixture } from "./fixture.ts";
import { lade as ladeIn } from "../cli.ts";

/** `lade ARGS` in `cwd`. */
const lade = (args: string[], cwd: string) => ladeIn(args, { cwd });

Deno.test("keySource: which layer set a key (flag, recipe file or default)", () => {
  const file = { patch: { dataset: { name: "mnist-lt", root: "/data" } }, path: "r.yaml" };
  assert.deepEqual(keySource("dataset.root", file, {}), { kind: "file", path: "r.yaml" });
  assert.deepEqual(keySource("dataset.root", file, { root: "/other" }), { kind: "override" });
  assert.deepEqual(keySource("dataset.imbalance", file, {}), { kind: "default" });
  assert.deepEqual(keySource("dataset.imbalance", file, { imbalance: 3 }), { kind: "override" });
  assert.deepEqual(keySource("train.lr", undefined, {}), { kind: "default" });
});

Deno.test("train --root --imbalance-type; a balanced recipe; errors name the flag or the file's key", async () => {
  const root = await writeFixture(); // 10 classes of 24 training images
  const dir = await Deno.makeTempDir({ prefix: "lade-dataset-flags-" });
  const tiny = ["--epochs", "1", "--batch-size", "16", "--threads", "1"];
  try {
    // The flags alone, no YAML: the step long tail keeps 24 and 12 a class.
    let r = await lade([
      "train",
      "--dataset",
      "mnist-lt",
      "--root",
      root,
      "--imbalance",
      "2",
      "--imbalance-type",
      "step",
      "--method",
      "softmax",
      ...tiny,
      "--out",
      "step",
    ], dir);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(
      lines[0],
      `dataset   mnist-lt: 180 training images in 10 classes, 12 to 24 a class (imbalance 2, step); 60 test images`,
    );
    assert.match(lines[1], /^model {5}cnn28, [\d,]+ parameters; method softmax$/);
    assert.equal(
      lines[2],
      "training  1 epoch of 11 batches of 16, lr 0.05 (cosine, 1 epoch warm-up), sampler shuffle, seed 0",
    );
    assert.equal(lines[3], "device    cpu, 1 thread (fixed by the threads setting)");
    const yaml = await Deno.readTextFile(join(dir, "step", "config.yaml"));
    assert.match(yaml, /imbalance_type: step/);
    assert.match(yaml, new RegExp(`root: ${root}`));

    // A recipe that names a balanced dataset trains on every image (before:
    // imbalance 100 from the embedded default, which leaves classes empty here).
    await Deno.writeTextFile(
      join(dir, "balanced.yaml"),
      `dataset:\n  name: mnist\n  root: ${root}\nmethod:\n  name: softmax\n`,
    );
    r = await lade(["train", "--config", "balanced.yaml", ...tiny, "--out", "bal"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^dataset {3}mnist: 240 training images in 10 classes, 24 a class \(imbalance 1\)/,
    );
    assert.match(await Deno.readTextFile(join(dir, "bal", "config.yaml")), /imbalance: 1\n/);

    // Errors: a flag's value is the flag's; a recipe's is the file's key.
    await Deno.writeTextFile(
      join(dir, "lt.yaml"),
      `dataset:\n  name: mnist-lt\n  root: ${root}\n  imbalance: 100\n`,
    );
    await Deno.writeTextFile(
      join(dir, "lists.yaml"),
      `dataset:\n  name: image-list\n  train_list: nope.txt\n  test_list: nope.txt\n`,
    );
    const cases: [string[], RegExp][] = [
      [
        ["--config", "lt.yaml"],
        /^lade: error: lt\.yaml: dataset\.imbalance: 100 leaves class \d+ with no training images/,
      ],
      [
        ["--dataset", "mnist-lt", "--root", root, "--imbalance", "100"],
        /^lade: error: --imbalance: 100 leaves class \d+ with no training images/,
      ],
      [
        ["--dataset", "mnist", "--root", join(dir, "nowhere")],
        /^lade: error: missing data file .*nowhere.* pass --root with the folder/,
      ],
      [
        ["--config", "lists.yaml"],
        /^lade: error: lists\.yaml: dataset\.train_list: missing data file nope\.txt/,
      ],
      [
        ["--dataset", "image-list", "--train-list", "no.txt", "--test-list", "no.txt"],
        /^lade: error: --train-list: missing data file no\.txt/,
      ],
      [
        ["--dataset", "mnist-lt", "--root", root, "--imbalance-type", "zipf"],
        /^lade: error: --imbalance-type: .*"exp"\|"step", got "zipf"$/,
      ],
    ];
    for (const [args, expected] of cases) {
      r = await lade(["train", ...args, ...tiny, "--out", "bad"], dir);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trim(), expected, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
