/**
 * The recipes in configs/ against a table of what the official LADE code
 * (hyperconnect/LADE) ran: config/<dataset>/lade.yaml with the README's
 * command, whose flags win over the file (utils.py update(): --lr, --alpha,
 * --remine_lambda, --cifar_imb_ratio), and the dataset code
 * (data/dataloader.py, data/ImbalanceCIFAR.py) and schedule code (utils.py,
 * run_networks.py). Every value of every recipe is either in the table or is
 * one of lade's own settings (where the files are, how often to log), and
 * every value line names its source in a comment.
 */

import assert from "node:assert/strict";
import { CONFIGS_DIR, recipe, valueAt } from "./recipe_files.ts";
import { learningRate } from "../../lib/train/schedule.ts";

const IMAGENET_MEAN = [0.485, 0.456, 0.406]; // data/dataloader.py RGB_statistics['default']
const IMAGENET_STD = [0.229, 0.224, 0.225];
const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]; // data/ImbalanceCIFAR.py (for CIFAR-10 and -100)
const CIFAR10_STD = [0.2023, 0.1994, 0.2010];

/** The CIFAR schedule: utils.py WarmupMultiStepLR, stepped at each epoch's start. */
const CIFAR_SCHEDULE = {
  type: "multistep",
  warmup_epochs: 5,
  warmup_from: 1 / 3,
  milestones: [120, 160],
  factors: [0.01, 0.0001],
  step_at_epoch_start: true,
};
const COSINE = {
  type: "cosine",
  warmup_epochs: 0,
  warmup_from: 1,
  milestones: [],
  factors: [],
  step_at_epoch_start: true,
};

/** What the official code ran, per recipe file (flattened configuration keys). */
const OFFICIAL: Record<string, Record<string, unknown>> = {
  // config/CIFAR100_LT/lade.yaml + README: --cifar_imb_ratio 0.01 --remine_lambda 0.01 --alpha 0.1
  "cifar100-lt_lade.yaml": {
    "dataset.name": "cifar100-lt",
    "dataset.imbalance": 100,
    "dataset.imbalance_type": "exp",
    "dataset.mean": CIFAR10_MEAN,
    "dataset.std": CIFAR10_STD,
    "model.arch": "resnet32-2branch",
    "method.name": "lade",
    "method.alpha": 0.1,
    "method.lambda": 0.01,
    "train.epochs": 200,
    "train.batch_size": 256,
    "train.lr": 0.2,
    "train.momentum": 0.9,
    "train.weight_decay": 5e-4,
    "train.sampler": "shuffle",
    "train.schedule": CIFAR_SCHEDULE,
  },
  // No official CIFAR-10 recipe: CIFAR-100-LT's applied to CIFAR-10 (its own statistics).
  "cifar10-lt_lade.yaml": {
    "dataset.name": "cifar10-lt",
    "dataset.imbalance": 100,
    "dataset.imbalance_type": "exp",
    "dataset.mean": CIFAR10_MEAN,
    "dataset.std": CIFAR10_STD,
    "model.arch": "resnet32-2branch",
    "method.name": "lade",
    "method.alpha": 0.1,
    "method.lambda": 0.01,
    "train.epochs": 200,
    "train.batch_size": 256,
    "train.lr": 0.2,
    "train.momentum": 0.9,
    "train.weight_decay": 5e-4,
    "train.sampler": "shuffle",
    "train.schedule": CIFAR_SCHEDULE,
  },
  // config/ImageNet_LT/lade.yaml + README: --lr 0.05 --remine_lambda 0.5 --alpha 0.05
  "imagenet-lt_lade.yaml": {
    "dataset.name": "image-list",
    "dataset.image_size": 224,
    "dataset.color_jitter": 0.4,
    "dataset.mean": IMAGENET_MEAN,
    "dataset.std": IMAGENET_STD,
    "model.arch": "resnext50",
    "method.name": "lade",
    "method.alpha": 0.05,
    "method.lambda": 0.5,
    "train.epochs": 180,
    "train.batch_size": 256,
    "train.lr": 0.05,
    "train.momentum": 0.9,
    "train.weight_decay": 5e-4,
    "train.sampler": "shuffle",
    "train.schedule": COSINE,
  },
  // config/iNaturalist18/lade.yaml (remine_lambda 0.5) + README: --lr 0.1 --alpha 0.05
  "inat2018_lade.yaml": {
    "dataset.name": "image-list",
    "dataset.image_size": 224,
    "dataset.color_jitter": 0,
    "dataset.mean": [0.466, 0.471, 0.380],
    "dataset.std": [0.195, 0.194, 0.192],
    "model.arch": "resnet50",
    "method.name": "lade",
    "method.alpha": 0.05,
    "method.lambda": 0.5,
    "train.epochs": 200,
    "train.batch_size": 256,
    "train.lr": 0.1,
    "train.momentum": 0.9,
    "train.weight_decay": 1e-4,
    "train.sampler": "shuffle",
    "train.schedule": COSINE,
  },
  // config/Places_LT/lade.yaml + README: --lr 0.05 --remine_lambda 0.1 --alpha 0.005; a
  // pretrained ResNet-152 with backbone lr 0.001 and a new classifier at 0.05. Only the
  // pretrained weights' source is NOT official (see NOT_OFFICIAL).
  "places-lt_lade.yaml": {
    "dataset.name": "image-list",
    "model.arch": "resnet152",
    "model.init_skip": "head",
    "train.lr": 0.05,
    "train.backbone_lr": 0.001,
    "dataset.image_size": 224,
    "dataset.color_jitter": 0.4,
    "dataset.mean": IMAGENET_MEAN,
    "dataset.std": IMAGENET_STD,
    "method.name": "lade",
    "method.alpha": 0.005,
    "method.lambda": 0.1,
    "train.epochs": 30,
    "train.batch_size": 128,
    "train.momentum": 0.9,
    "train.weight_decay": 5e-4,
    "train.sampler": "shuffle",
    "train.schedule": {
      type: "multistep",
      warmup_epochs: 0,
      warmup_from: 1,
      milestones: [10, 20, 30],
      factors: [0.1, 0.01, 0.001],
      step_at_epoch_start: true,
    },
  },
};

/** Values that differ from the official run on purpose (the recipe says so), with the official one. */
const NOT_OFFICIAL: Record<string, Record<string, { ours: unknown; official: string }>> = {
  "places-lt_lade.yaml": {
    "model.init": {
      ours: "data/pretrained/resnet152-394f9c45.pth",
      official: "the caffe-converted ImageNet ResNet-152 (models/ResNet152Feature.py, caffe: True)",
    },
  },
};

/** lade's own settings: where the files are, how often to log. No official counterpart. */
const LADE_ONLY = [
  "dataset.root",
  "dataset.train_list",
  "dataset.test_list",
  "dataset.val_list",
  "dataset.image_root",
  "train.eval_every",
  "train.eval_batch_size",
];

Deno.test("every recipe value equals the official code's, or is lade's own setting, or is a declared difference", async () => {
  for (const [name, table] of Object.entries(OFFICIAL)) {
    const { config, keys } = await recipe(name);
    for (const [key, want] of Object.entries(table)) {
      const got = valueAt(config, key);
      if (typeof want === "number") {
        assert.ok(Math.abs((got as number) - want) < 1e-12, `${name} ${key}: ${got} vs ${want}`);
      } else {
        assert.deepEqual(got, want, `${name} ${key}`);
      }
    }
    const differs = NOT_OFFICIAL[name] ?? {};
    for (const [key, d] of Object.entries(differs)) {
      assert.deepEqual(valueAt(config, key), d.ours, `${name} ${key}`);
    }
    for (const key of keys) {
      assert.ok(
        key in table || key in differs || LADE_ONLY.includes(key),
        `${name} sets ${key}, which the official table does not cover`,
      );
    }
    for (const key of Object.keys(table)) {
      if (key === "dataset.name" || key === "method.name") continue;
      assert.ok(keys.includes(key), `${name} relies on the default for ${key}; set it explicitly`);
    }
  }
});

Deno.test("every value line of a recipe names its source in a comment", async () => {
  for (const name of Object.keys(OFFICIAL)) {
    const text = await Deno.readTextFile(CONFIGS_DIR + name);
    for (const [i, line] of text.split("\n").entries()) {
      const m = /^\s+([a-z_]+):\s*(\S.*)$/.exec(line);
      if (!m || m[2].startsWith("#")) continue; // a mapping's header, or a comment
      assert.match(
        line,
        /#.*(config\/[A-Za-z0-9_]+\/lade\.yaml|README\.md|[A-Za-z0-9_/]+\.py|lade's own|no warm-up|cosine|NOT official)/,
        `${name}:${i + 1} has no source: ${line.trim()}`,
      );
    }
  }
});

Deno.test("the recipes' learning rates per epoch equal the official schedulers' (stepped at each epoch's start)", async () => {
  const near = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  // Places-LT: StepLR(step_size 10, gamma 0.1): 1-based epoch E at 0.05 * 0.1 ** floor(E / 10).
  const places = (await recipe("places-lt_lade.yaml")).config;
  for (let e = 1; e <= 30; e++) {
    const got = learningRate(places.train.schedule, places.train.lr, e - 1, 30);
    near(got, 0.05 * 0.1 ** Math.floor(e / 10), `Places-LT epoch ${e}`);
  }
  // ImageNet-LT and iNaturalist: CosineAnnealingLR(T_max = epochs, eta_min 0):
  // epoch E at lr * (1 + cos(pi * E / T)) / 2, ending at 0.
  for (
    const [name, lr, epochs] of [["imagenet-lt_lade.yaml", 0.05, 180], [
      "inat2018_lade.yaml",
      0.1,
      200,
    ]] as const
  ) {
    const c = (await recipe(name)).config;
    for (const e of [1, 2, 45, 90, epochs - 1, epochs]) {
      const got = learningRate(c.train.schedule, c.train.lr, e - 1, c.train.epochs);
      near(got, lr * (1 + Math.cos(Math.PI * e / epochs)) / 2, `${name} epoch ${e}`);
    }
  }
  // CIFAR: the schedule test's table (tests/train/schedule_test.ts) on the recipe itself.
  const cifar = (await recipe("cifar100-lt_lade.yaml")).config;
  const rate = (e: number) => learningRate(cifar.train.schedule, cifar.train.lr, e - 1, 200);
  near(rate(1), 0.2 * (1 / 3 * 0.8 + 0.2), "CIFAR epoch 1");
  near(rate(119), 0.2, "CIFAR epoch 119");
  near(rate(120), 0.002, "CIFAR epoch 120");
  near(rate(160), 0.00002, "CIFAR epoch 160");
});
