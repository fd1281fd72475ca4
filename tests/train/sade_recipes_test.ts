/**
 * The SADE recipes in configs/ against what the official code
 * (Vanint/SADE-AgnosticLT) runs: the training configs
 * configs/config_<dataset>_sade.json with train.py (train_places.py for
 * Places-LT), the test-time configs configs/test_time_<dataset>_sade.json
 * with test_training_<dataset>.py, the data loaders (data_loader/*.py) and
 * the models (model/model.py, model/fb_resnets/, model/ldam_drw_resnets/).
 * The official values are written out here, each with the file it comes
 * from; every value of a recipe is in the table or is one of lade's own
 * settings, and every value line of a recipe names its source.
 */

import assert from "node:assert/strict";
import { CONFIGS_DIR, recipe, valueAt } from "./recipe_files.ts";
import { learningRate } from "../../lib/train/schedule.ts";

const IMAGENET_MEAN = [0.485, 0.456, 0.406]; // data_loader/imagenet_lt_data_loaders.py, places_loader.py
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** The official CustomLR (train.py, train_places.py): a LambdaLR stepped after each epoch. */
function customLr(lr: number, step1: number, step2: number, warmup: number) {
  return (e: number) => {
    let f = e >= step2 ? 0.01 : e >= step1 ? 0.1 : 1; // gamma 0.1, squared after step2
    if (e < warmup) f *= (1 + e) / warmup;
    return lr * f;
  };
}

/** CosineAnnealingLR(T_max, eta_min 0) stepped after each epoch: epoch e at lr (1 + cos(pi e / T)) / 2. */
function cosineLr(lr: number, tMax: number) {
  return (e: number) => (lr * (1 + Math.cos((Math.PI * e) / tMax))) / 2;
}

interface Official {
  values: Record<string, unknown>;
  /** The official learning rate of 0-based epoch e. */
  rate: (e: number) => number;
}

const OFFICIAL: Record<string, Official> = {
  // configs/config_cifar100_ir100_sade.json + configs/test_time_cifar100_ir100_sade.json;
  // data_loader/cifar_data_loaders.py (ImbalanceCIFAR100DataLoader); test_training_cifar.py.
  "cifar100-lt_sade.yaml": {
    values: {
      "dataset.name": "cifar100-lt",
      "dataset.imbalance": 100, // imb_factor 0.01
      "dataset.mean": [0.4914, 0.4822, 0.4465],
      "dataset.std": [0.2023, 0.1994, 0.2010],
      "dataset.rotation": 15, // RandomRotation(15)
      "model.arch": "resnet32-sade", // ResNet32Model, reduce_dimension true, num_experts 3
      "model.head": "cosine", // use_norm true
      "model.scale": 30, // expert_resnet_cifar.py s=30
      "method.name": "sade", // DiverseExpertLoss
      "method.tau": 2,
      "method.test_time.epochs": 5,
      "method.test_time.lr": 0.1,
      "method.test_time.momentum": 0.9,
      "method.test_time.weight_decay": 5e-4,
      "method.test_time.nesterov": true,
      "method.test_time.batch_size": 128,
      "method.test_time.blur_probability": 0.2, // RandomApply([GaussianBlur], p=0.2)
      "train.epochs": 200,
      "train.batch_size": 128,
      "train.lr": 0.1,
      "train.momentum": 0.9,
      "train.weight_decay": 5e-4,
      "train.nesterov": true,
    },
    rate: customLr(0.1, 160, 180, 5), // CustomLR step1 160, step2 180, warmup_epoch 5
  },
  // configs/config_imagenet_lt_resnext50_sade.json + configs/test_time_imagenet_lt_resnext50_sade.json;
  // data_loader/imagenet_lt_data_loaders.py; test_training_imagenet.py.
  "imagenet-lt_sade.yaml": {
    values: {
      "dataset.name": "image-list",
      "dataset.image_size": 224,
      "dataset.color_jitter": 0.4, // ColorJitter(0.4, 0.4, 0.4, hue=0)
      "dataset.mean": IMAGENET_MEAN,
      "dataset.std": IMAGENET_STD,
      "model.arch": "resnext50-sade", // ResNeXt50Model, reduce_dimension true, num_experts 3
      "model.head": "cosine", // use_norm true
      "model.scale": 30, // Expert_ResNeXt.py s=30
      "method.name": "sade",
      "method.tau": 2,
      "method.test_time.epochs": 5,
      "method.test_time.lr": 0.025,
      "method.test_time.momentum": 0.9,
      "method.test_time.weight_decay": 5e-4,
      "method.test_time.nesterov": true,
      "method.test_time.batch_size": 128,
      "method.test_time.crop_scale": [0.2, 1], // RandomResizedCrop(224, scale=(0.2, 1.))
      "method.test_time.blur_probability": 0.5,
      "train.epochs": 180,
      "train.batch_size": 64,
      "train.lr": 0.025,
      "train.momentum": 0.9,
      "train.weight_decay": 5e-4,
      "train.nesterov": true,
    },
    rate: cosineLr(0.025, 180), // CosineAnnealingLR T_max 180, eta_min 0
  },
  // configs/config_places_lt_resnet152_sade.json + configs/test_time_places_lt_resnet152_sade.json;
  // data_loader/places_loader.py; train_places.py (share_lr for all but the linears);
  // test_training_places.py; model/model.py (ResNet152Model, init_weights).
  "places-lt_sade.yaml": {
    values: {
      "dataset.name": "image-list",
      "dataset.image_size": 224,
      "dataset.color_jitter": 0.4, // ColorJitter(0.4, 0.4, 0.4, hue=0)
      "dataset.mean": IMAGENET_MEAN,
      "dataset.std": IMAGENET_STD,
      "model.arch": "resnet152-sade", // ResNet152Model, reduce_dimension false, share_layer3 false
      "model.head": "cosine", // use_norm true
      "model.scale": 30,
      "model.init_skip": "head", // init_weights: the experts' classifiers are new
      "method.name": "sade",
      "method.tau": 1,
      "method.test_time.epochs": 5,
      "method.test_time.lr": 0.01,
      "method.test_time.momentum": 0.9,
      "method.test_time.weight_decay": 4e-4,
      "method.test_time.nesterov": true,
      "method.test_time.batch_size": 128, // test_training_places.py: Places_LT(batch_size=128)
      "method.test_time.crop_scale": [0.2, 1],
      "method.test_time.blur_probability": 0.5,
      "train.epochs": 30,
      "train.batch_size": 128,
      "train.lr": 0.01, // the linears
      "train.backbone_lr": 0.001, // share_lr: every other parameter
      "train.momentum": 0.9,
      "train.weight_decay": 4e-4,
      "train.nesterov": true,
    },
    rate: customLr(0.01, 10, 20, 0), // CustomLR step1 10, step2 20, warmup_epoch 0
  },
  // configs/config_iNaturalist_resnet50_sade.json + configs/test_time_iNaturalist_resnet50_sade.json;
  // data_loader/inaturalist_data_loaders.py; test_training_inat.py.
  "inat2018_sade.yaml": {
    values: {
      "dataset.name": "image-list",
      "dataset.image_size": 224,
      "dataset.color_jitter": 0, // no ColorJitter in training
      "dataset.mean": [0.466, 0.471, 0.380],
      "dataset.std": [0.195, 0.194, 0.192],
      "model.arch": "resnet50-sade", // ResNet50Model, reduce_dimension true, num_experts 3
      "model.head": "cosine", // use_norm true
      "model.scale": 30,
      "method.name": "sade",
      "method.tau": 1,
      "method.test_time.epochs": 5,
      "method.test_time.lr": 0.2,
      "method.test_time.momentum": 0.9,
      "method.test_time.weight_decay": 2e-4,
      "method.test_time.nesterov": true,
      "method.test_time.batch_size": 128,
      "method.test_time.crop_scale": [0.08, 1], // RandomResizedCrop(224): torchvision's scale
      "method.test_time.blur_probability": 0.5,
      "train.epochs": 100,
      "train.batch_size": 512,
      "train.lr": 0.2,
      "train.momentum": 0.9,
      "train.weight_decay": 2e-4,
      "train.nesterov": true,
    },
    rate: customLr(0.2, 60, 80, 5), // CustomLR step1 60, step2 80, warmup_epoch 5
  },
};

/** Values that differ from the official run on purpose (the recipe says so). */
const NOT_OFFICIAL: Record<string, Record<string, unknown>> = {
  // Official: the caffe-converted ResNet-152 (model/model.py init_weights, caffe=True).
  "places-lt_sade.yaml": { "model.init": "data/pretrained/resnet152-394f9c45.pth" },
};

/** lade's own settings: where the files are, how often to log, the schedule's spelling. */
const LADE_ONLY = [
  "dataset.root",
  "dataset.train_list",
  "dataset.test_list",
  "dataset.val_list",
  "dataset.image_root",
  "train.eval_every",
  "train.eval_batch_size",
  "train.schedule",
];

Deno.test("SADE recipes: every value equals the official code's, or is lade's own, or a declared difference", async () => {
  for (const [name, { values }] of Object.entries(OFFICIAL)) {
    const { config, keys } = await recipe(name);
    for (const [key, want] of Object.entries(values)) {
      assert.deepEqual(valueAt(config, key), want, `${name} ${key}`);
      assert.ok(keys.includes(key), `${name} relies on a default for ${key}; set it explicitly`);
    }
    for (const [key, want] of Object.entries(NOT_OFFICIAL[name] ?? {})) {
      assert.deepEqual(valueAt(config, key), want, `${name} ${key}`);
    }
    for (const key of keys) {
      assert.ok(
        key in values || key in (NOT_OFFICIAL[name] ?? {}) || LADE_ONLY.includes(key),
        `${name} sets ${key}, which the official table does not cover`,
      );
    }
  }
});

Deno.test("SADE recipes: the learning rate of every epoch is the official scheduler's", async () => {
  for (const [name, { rate }] of Object.entries(OFFICIAL)) {
    const c = (await recipe(name)).config;
    for (let e = 0; e < c.train.epochs; e++) {
      const got = learningRate(c.train.schedule, c.train.lr, e, c.train.epochs);
      const want = rate(e);
      assert.ok(
        Math.abs(got - want) <= 1e-12 * Math.max(1, want),
        `${name} epoch ${e}: ${got} vs ${want}`,
      );
    }
  }
  // Places-LT's shared layers follow the same schedule at share_lr.
  const places = (await recipe("places-lt_sade.yaml")).config;
  const shared = customLr(0.001, 10, 20, 0);
  for (const e of [0, 9, 10, 19, 20, 29]) {
    const got = learningRate(places.train.schedule, places.train.backbone_lr!, e, 30);
    assert.ok(Math.abs(got - shared(e)) < 1e-15, `Places-LT shared layers, epoch ${e}`);
  }
});

Deno.test("SADE recipes: every value line names its source in a comment", async () => {
  for (const name of Object.keys(OFFICIAL)) {
    const text = await Deno.readTextFile(CONFIGS_DIR + name);
    for (const [i, line] of text.split("\n").entries()) {
      const m = /^\s+([a-z_]+):\s*(\S.*)$/.exec(line);
      if (!m || m[2].startsWith("#")) continue; // a mapping's header, or a comment
      assert.match(
        line,
        /#.*(config_[A-Za-z0-9_]+_sade\.json|test_time_[A-Za-z0-9_]+_sade\.json|[A-Za-z0-9_/]+\.py|lade's own|no warm-up|cosine|NOT official)/,
        `${name}:${i + 1} has no source: ${line.trim()}`,
      );
    }
  }
});
