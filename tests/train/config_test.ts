import assert from "node:assert/strict";
import { describeError } from "../../lib/cli/errors.ts";
import { InputError } from "../../lib/errors.ts";
import {
  parseConfigText,
  readConfigFile,
  resolveConfig,
  validateConfig,
} from "../../lib/config/config.ts";
import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { learningRate } from "../../lib/train/schedule.ts";

const configsDir = new URL("../../configs/", import.meta.url).pathname;

function fromText(text: string, flags = {}) {
  return resolveConfig({ patch: parseConfigText(text, "r.yaml"), path: "r.yaml" }, flags);
}

Deno.test("the embedded default: Fashion-MNIST-LT R=100, LADE alpha 0.1 lambda 0.1", () => {
  const c = resolveConfig(undefined, {});
  assert.equal(c.dataset.name, "fashion-mnist-lt");
  assert.equal(c.dataset.imbalance, 100);
  assert.deepEqual([c.method.name, c.method.alpha, c.method.lambda], ["lade", 0.1, 0.1]);
  // The default carries no imbalance of its own: its name's (100 for -lt) is filled in.
  assert.equal(DEFAULT_CONFIG.dataset.imbalance, undefined);
  assert.deepEqual(
    c,
    validateConfig({ ...DEFAULT_CONFIG, dataset: { ...DEFAULT_CONFIG.dataset, imbalance: 100 } }),
  );
});

Deno.test("every recipe in configs/ validates; CIFAR-100-LT carries the paper's values", async () => {
  const names: string[] = [];
  for await (const e of Deno.readDir(configsDir)) if (e.name.endsWith(".yaml")) names.push(e.name);
  assert.ok(names.length >= 7, names.join(","));
  for (const name of names) {
    const path = configsDir + name;
    resolveConfig({ patch: await readConfigFile(path), path }, {});
  }
  const c = resolveConfig({
    patch: await readConfigFile(configsDir + "cifar100-lt_lade.yaml"),
    path: "cifar100",
  }, {});
  assert.equal(c.model.arch, "resnet32-2branch");
  assert.deepEqual(
    [c.train.batch_size, c.train.lr, c.train.epochs, c.train.momentum, c.train.weight_decay],
    [256, 0.2, 200, 0.9, 5e-4],
  );
  assert.deepEqual(c.train.schedule.milestones, [120, 160]);
  assert.deepEqual(c.train.schedule.factors, [0.01, 0.0001]);
  // SADE's CIFAR recipe: its warm-up (the rate times (e + 1) / 5 in epochs
  // 0-4) and steps at 160 and 180.
  const sade = resolveConfig({
    patch: await readConfigFile(configsDir + "cifar100-lt_sade.yaml"),
    path: "sade",
  }, {});
  assert.deepEqual([sade.model.arch, sade.model.head, sade.model.scale], [
    "resnet32-sade",
    "cosine",
    30,
  ]);
  const rates = [0, 1, 2, 3, 4, 5, 159, 160, 179, 180, 199].map((e) =>
    learningRate(sade.train.schedule, sade.train.lr, e, sade.train.epochs)
  );
  const official = [0, 1, 2, 3, 4, 5, 159, 160, 179, 180, 199].map((e) =>
    0.1 * (e >= 180 ? 0.01 : e >= 160 ? 0.1 : 1) * (e < 5 ? (1 + e) / 5 : 1)
  );
  rates.forEach((r, i) => assert.ok(Math.abs(r - official[i]) < 1e-12, `${r} vs ${official[i]}`));
  const imagenet = resolveConfig({
    patch: await readConfigFile(configsDir + "imagenet-lt_lade.yaml"),
    path: "imagenet",
  }, {});
  assert.deepEqual(
    [
      imagenet.method.alpha,
      imagenet.method.lambda,
      imagenet.train.lr,
      imagenet.train.schedule.type,
    ],
    [0.05, 0.5, 0.05, "cosine"],
  );
});

Deno.test("a recipe merges onto the default; flags override the recipe", () => {
  const c = fromText("train:\n  epochs: 7\nmethod:\n  name: softmax\n", { lr: 0.3, epochs: 2 });
  assert.equal(c.train.epochs, 2);
  assert.equal(c.train.lr, 0.3);
  assert.equal(c.method.name, "softmax");
  assert.equal(c.train.batch_size, DEFAULT_CONFIG.train.batch_size);
});

Deno.test("a method's own defaults (SADE's, BalPoE's cosine heads; BalPoE's mixup) sit beneath the recipe and the flags", () => {
  const sade = resolveConfig(undefined, { method: "sade" });
  assert.deepEqual([sade.model.head, sade.model.scale, sade.train.mixup], [
    "cosine",
    30,
    undefined,
  ]);
  const balpoe = resolveConfig(undefined, { method: "balpoe" });
  assert.deepEqual([balpoe.model.head, balpoe.model.scale, balpoe.train.mixup], [
    "cosine",
    30,
    0.4,
  ]);
  // The method named by the file brings its defaults too; the file's own values win.
  const file = fromText("method:\n  name: sade\nmodel:\n  head: linear\n");
  assert.deepEqual([file.model.head, file.model.scale], ["linear", 30]);
  // A flag's method beats the file's, and the flags beat the method's defaults.
  const flagged = fromText("method:\n  name: lade\n", { method: "balpoe", mixup: 0 });
  assert.deepEqual([flagged.method.name, flagged.model.head, flagged.train.mixup], [
    "balpoe",
    "cosine",
    0,
  ]);
  // Methods without defaults keep the embedded default's linear head.
  assert.equal(resolveConfig(undefined, { method: "lade" }).model.head, "linear");
});

Deno.test("expert lambdas: BalPoE's only, one per expert, finite; mixup and CutMix alphas >= 0", () => {
  const c = resolveConfig(undefined, { method: "balpoe", expertLambdas: [-1, 1, 3] });
  assert.deepEqual(c.method.expert_lambdas, [-1, 1, 3]);
  assert.throws(
    () => resolveConfig(undefined, { method: "balpoe", expertLambdas: [0, 2] }),
    (e: unknown) =>
      e instanceof InputError && e.parameter === "method.expert_lambdas" &&
      /3 experts: give 3 lambdas, got 2/.test(e.message),
  );
  assert.throws(
    () => resolveConfig(undefined, { method: "sade", expertLambdas: [0, 1, 2] }),
    /only a product of experts \(balpoe\) has expert lambdas, not sade/,
  );
  assert.throws(
    () => fromText("method:\n  name: balpoe\n  expert_lambdas: [0, 1, .inf]\n"),
    (e: unknown) =>
      e instanceof InputError &&
      e.message === "r.yaml: method.expert_lambdas.2: must be a finite number, got Infinity",
  );
  assert.throws(
    () => resolveConfig(undefined, { mixup: -0.2 }),
    (e: unknown) => e instanceof InputError && e.parameter === "train.mixup",
  );
  assert.throws(
    () => fromText("train:\n  cutmix: -1\n"),
    (e: unknown) =>
      e instanceof InputError && e.message === "r.yaml: train.cutmix: must be >= 0, got -1",
  );
});

Deno.test("one-line messages: unknown keys, bad values, unknown names", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => fromText("train:\n  epoch: 3\n"), /^r\.yaml: unknown key 'train\.epoch'$/],
    [() => fromText("colour: red\n"), /^r\.yaml: unknown key 'colour'$/],
    [
      () => fromText("train:\n  epochs: -2\n"),
      /^r\.yaml: train\.epochs: must be a positive integer, got -2$/,
    ],
    [() => fromText("train:\n  lr: fast\n"), /^r\.yaml: train\.lr: .*got "fast"$/],
    [() => fromText("train: [1, 2\n"), /^r\.yaml: not valid YAML/],
    [
      () => fromText("dataset:\n  name: imagenet\n"),
      /^r\.yaml: dataset\.name: unknown dataset 'imagenet'/,
    ],
    [
      () => fromText("train:\n  schedule:\n    type: multistep\n    milestones: [3]\n"),
      /one factor per milestone/,
    ],
  ];
  for (const [fn, re] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.ok(!e.message.includes("\n"), "one line");
      assert.match(e.message, re);
      // A recipe file's values are not the caller's parameters: the message names the file.
      assert.equal(e.parameter, undefined);
      return true;
    });
  }
});

Deno.test("a bad override is an InputError for its configuration key; the command line says the flag", () => {
  const cases: [() => unknown, string, RegExp, RegExp][] = [
    [
      () => resolveConfig(undefined, { epochs: -1 }),
      "train.epochs",
      /^train\.epochs: must be a positive integer, got -1$/,
      /^--epochs: must be a positive integer, got -1$/,
    ],
    [
      () => resolveConfig(undefined, { batchSize: 0.5 }),
      "train.batch_size",
      /^train\.batch_size: must be an integer, got 0\.5$/,
      /^--batch-size: must be an integer, got 0\.5$/,
    ],
    [
      () => resolveConfig(undefined, { dataset: "imagenet" }),
      "dataset.name",
      /^dataset\.name: unknown dataset 'imagenet'/,
      /^--dataset: unknown dataset 'imagenet'/,
    ],
    [
      () => resolveConfig(undefined, { method: "magic" }),
      "method.name",
      /^method\.name: unknown method 'magic' \(use softmax, prior-ce, lade/,
      /^--method: unknown method 'magic'/,
    ],
    [
      () => resolveConfig(undefined, { device: "tpu" }),
      "device",
      /^device: unknown device 'tpu'/,
      /^--device: unknown device 'tpu'/,
    ],
    [
      () => resolveConfig(undefined, { mixup: -1 }),
      "train.mixup",
      /^train\.mixup: must be >= 0, got -1$/,
      /^--mixup: must be >= 0, got -1$/,
    ],
    [
      () => resolveConfig(undefined, { method: "balpoe", expertLambdas: [1] }),
      "method.expert_lambdas",
      /^method\.expert_lambdas: the multi-expert networks have 3 experts: give 3 lambdas, got 1$/,
      /^--expert-lambdas: the multi-expert networks have 3 experts/,
    ],
  ];
  for (const [fn, parameter, library, cli] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof InputError, String(e));
      assert.equal(e.parameter, parameter);
      assert.match(e.message, library);
      assert.match(describeError(e), cli);
      return true;
    });
  }
});

Deno.test("--expert-lambdas, --mixup, --cutmix on the command line: numbers, one line when not", async () => {
  const { parseFlags } = await import("../../lib/cli/train.ts");
  const f = parseFlags({ expertLambdas: "-1, 1,3", mixup: "0.4", cutmix: "1" });
  assert.deepEqual([f.expertLambdas, f.mixup, f.cutmix], [[-1, 1, 3], 0.4, 1]);
  assert.throws(
    () => parseFlags({ expertLambdas: "0,x,2" }),
    /invalid --expert-lambdas '0,x,2': expected numbers separated by commas$/,
  );
  assert.throws(() => parseFlags({ expertLambdas: "0,,2" }), /--expert-lambdas/);
  assert.throws(() => parseFlags({ mixup: "lots" }), /invalid --mixup 'lots': expected a number$/);
});

Deno.test("a missing config file is a usage error", async () => {
  await assert.rejects(() => readConfigFile("/nonexistent/x.yaml"), /config file .* not found/);
});

Deno.test("--dataset NAME takes its name's imbalance: balanced without -lt, unless the recipe sets one", () => {
  assert.equal(resolveConfig(undefined, {}).dataset.imbalance, 100);
  // Before: the default's R = 100 stayed, and fashion-mnist trained on the long tail.
  assert.equal(resolveConfig(undefined, { dataset: "fashion-mnist" }).dataset.imbalance, 1);
  assert.equal(resolveConfig(undefined, { dataset: "cifar10-lt" }).dataset.imbalance, 100);
  const file = { patch: { dataset: { name: "cifar10-lt", imbalance: 50 } }, path: "r.yaml" };
  assert.equal(resolveConfig(file, { dataset: "cifar10" }).dataset.imbalance, 50);
  assert.equal(resolveConfig(file, { dataset: "cifar10", imbalance: 7 }).dataset.imbalance, 7);
});

Deno.test("a recipe naming a balanced dataset is balanced: defaults that follow the name come last", () => {
  // Before: imbalance 100 from the embedded default (fashion-mnist-lt's), and
  // fashion-mnist trained on 14,886 images instead of 60,000.
  assert.equal(fromText("dataset:\n  name: fashion-mnist\n").dataset.imbalance, 1);
  assert.equal(fromText("dataset:\n  name: image-list\n").dataset.imbalance, 1);
  assert.equal(fromText("dataset:\n  name: cifar100-lt\n").dataset.imbalance, 100);
  assert.equal(fromText("dataset:\n  name: cifar10\n  imbalance: 10\n").dataset.imbalance, 10);
  // A recipe's -lt name, the flag's balanced one: the flag's name decides.
  assert.equal(
    fromText("dataset:\n  name: cifar10-lt\n", { dataset: "cifar10" }).dataset.imbalance,
    1,
  );
});

Deno.test("--checkpoint-every: steps or minutes", async () => {
  const { parseCheckpointEvery } = await import("../../lib/train/trainer.ts");
  assert.deepEqual(parseCheckpointEvery("500"), { steps: 500 });
  assert.deepEqual(parseCheckpointEvery("10m"), { minutes: 10 });
  assert.deepEqual(parseCheckpointEvery(" 0.5min "), { minutes: 0.5 });
  for (const bad of ["0", "1.5", "-3", "10x", "m", "", "0m", "1e3"]) {
    assert.throws(
      () => parseCheckpointEvery(bad),
      (e: Error) => e instanceof InputError && e.parameter === "checkpointEvery",
      bad,
    );
  }
});
