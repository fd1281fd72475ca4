/**
 * Training configurations: the schema (zod) of the YAML recipes in configs/,
 * loading a recipe onto the embedded default, applying overrides (what a
 * front end such as the command line sets), and the one-line messages for
 * unknown keys and bad values. A bad override is an InputError whose
 * `parameter` is the configuration key (`train.batch_size`); a bad value in
 * a recipe file names the file and the key.
 *
 * @module
 */

import { parse as parseYaml, Parser, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import { InputError } from "../errors.ts";
import { readInputText } from "../input_file.ts";
import { flagPatch, trainFlag } from "./train_flags.ts";
import { checkValPerClass, isImageFileDataset, parseDatasetName } from "../data/mod.ts";
import { checkExpertLambdas, methodByName, methodExperts } from "../losses/mod.ts";
import { ARCHITECTURES, HEADS } from "../models/mod.ts";
import { parseDevice } from "../torch/device.ts";

const posInt = () => z.number().int("must be an integer").min(1, "must be a positive integer");
const nonNegInt = () => z.number().int("must be an integer").min(0, "must be >= 0");
const nonNeg = () => z.number().min(0, "must be >= 0");
const positive = () => z.number().positive("must be > 0");

/** Where the schedule comes from; see lib/train/schedule.ts. */
const ScheduleSchema = z.strictObject({
  type: z.enum(["multistep", "cosine", "constant", "step"]),
  warmup_epochs: nonNegInt(),
  warmup_from: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"),
  milestones: z.array(nonNegInt()),
  factors: z.array(nonNeg()),
  /** Epochs counted as the official code counts them (see lib/train/schedule.ts). */
  step_at_epoch_start: z.boolean().default(false),
  /** step (StepLR): the rate times `gamma` every `step_size` epochs. */
  step_size: posInt().optional(),
  gamma: nonNeg().optional(),
});

/** The schema of a resolved training configuration. */
export const ConfigSchema = z.strictObject({
  /** Run name (default: <dataset>_<method>_<time>): a plain name, the run goes to runs/<name>. */
  name: z.string().min(1).refine(
    // deno-lint-ignore no-control-regex
    (n) => !/[/\\\u0000-\u001f\u007f]/.test(n) && n !== "." && n !== "..",
    "must be a plain name (no '/', no '..', no control characters): the run goes to runs/<name>; use `out` DIR for another place",
  ).optional(),
  dataset: z.strictObject({
    name: z.string().min(1),
    root: z.string().min(1).optional(),
    imbalance: z.number().min(1, "must be >= 1").optional(),
    imbalance_type: z.enum(["exp", "step"]),
    image_size: z.number().int().min(8, "must be an integer >= 8").optional(),
    train_list: z.string().min(1).optional(),
    test_list: z.string().min(1).optional(),
    image_root: z.string().min(1).optional(),
    skip_bad_images: z.boolean(),
    /** image-list: the number of classes (default: the largest training label + 1). */
    classes: z.number().int("must be an integer").min(2, "must be at least 2").optional(),
    /** image-list: read listed paths that lead outside the image root (`../x`). */
    allow_outside_root: z.boolean().optional(),
    /** Images of more than this many pixels are refused (default 89,478,485). */
    max_image_pixels: posInt().max(2 ** 40, "must be at most 2^40").optional(),
    /** Per-channel normalisation instead of the dataset's own (0..1 units). */
    mean: z.array(z.number()).optional(),
    std: z.array(z.number()).optional(),
    /**
     * image-list training batches: colour jitter after the crop and flip
     * (torchvision's ColorJitter(b, b, b, hue 0) on PIL images, as the
     * official ImageNet-LT and Places-LT code); 0 or absent: none.
     */
    color_jitter: nonNeg().optional(),
    /**
     * Images of every class held out of the training split (before the long
     * tail) as a labelled validation split; a value in (0, 1) is a fraction
     * of each class. See lib/data/validation.ts.
     */
    val_per_class: positive().optional(),
    /** image-list: a validation list (lines 'relative/path label'); not with val_per_class. */
    val_list: z.string().min(1).optional(),
    /**
     * Training batches: a rotation by an angle drawn uniformly from
     * [-rotation, rotation] degrees after the crop and flip (torchvision's
     * RandomRotation with nearest-neighbour sampling and black fill, as
     * SADE's CIFAR loader); 0 or absent: none. See lib/data/rotate.ts.
     */
    rotation: nonNeg().max(180, "must be at most 180 degrees").optional(),
  }),
  model: z.strictObject({
    arch: z.enum(["auto", ...ARCHITECTURES], {
      error: `unknown architecture (use auto, ${ARCHITECTURES.join(", ")})`,
    }),
    head: z.enum(HEADS),
    scale: positive(),
    /**
     * Initial weights: a safetensors file or a PyTorch state dict (.pth/.pt),
     * read before training starts (not on resume: the checkpoint has them).
     */
    init: z.string().min(1).optional(),
    /** Parts of the model `init` leaves alone: none, or the classifier head. */
    init_skip: z.enum(["none", "head"]).default("none"),
    /** Whether every key must match (missing, unexpected or mismatched keys fail). */
    init_strict: z.boolean().default(true),
    /** A part trained not at all (fine-tuning the classifier alone): none or backbone. */
    freeze: z.enum(["none", "backbone"]).default("none"),
  }),
  method: z.strictObject({
    name: z.string().min(1),
    alpha: nonNeg().optional(),
    lambda: nonNeg().optional(),
    tau: z.number().optional(),
    gamma: nonNeg().optional(),
    beta: z.number().min(0).max(0.999999999, "must be in [0, 1)").optional(),
    max_margin: nonNeg().optional(),
    scale: positive().optional(),
    drw_epoch: nonNegInt().optional(),
    /** BalPoE: one logit-adjustment lambda per expert (default [0, 1, 2]; mean 1 is balanced). */
    expert_lambdas: z.array(z.number({ error: "must be finite numbers" })).optional(),
    /**
     * SADE: its test-time self-supervised aggregation as the recipe's
     * official test-time config runs it (lib/eval/aggregation.ts, the views
     * of lib/predict/logits.ts); absent keys take the CIFAR config's values.
     */
    test_time: z.strictObject({
      /** Epochs (pairs of views per image; default 5). */
      epochs: posInt().optional(),
      /** SGD on the aggregation weights (defaults 0.1, 0.9, 5e-4, Nesterov, batches of 128). */
      lr: positive().optional(),
      momentum: z.number().min(0, "must be in [0, 1)").max(0.9999, "must be in [0, 1)")
        .optional(),
      weight_decay: nonNeg().optional(),
      nesterov: z.boolean().optional(),
      batch_size: posInt().optional(),
      /**
       * image-list: the views' RandomResizedCrop area scale [low, high] from
       * the image file (default [0.08, 1]); in-memory images take a padded
       * random crop instead.
       */
      crop_scale: z.tuple([positive(), positive()]).optional(),
      /** The views' Gaussian blur probability (default 0.2; the ImageNet-scale configs' 0.5). */
      blur_probability: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]")
        .optional(),
    }).optional(),
  }),
  train: z.strictObject({
    epochs: posInt(),
    batch_size: posInt(),
    lr: positive(),
    /**
     * The backbone's learning rate (fine-tuning a pretrained network), on the
     * same schedule; the head keeps `lr`. Default: `lr` for both.
     */
    backbone_lr: nonNeg().optional(),
    momentum: z.number().min(0, "must be in [0, 1)").max(0.9999, "must be in [0, 1)"),
    weight_decay: nonNeg(),
    nesterov: z.boolean(),
    sampler: z.enum(["shuffle", "balanced", "sqrt"]),
    schedule: ScheduleSchema,
    /**
     * Mixup (Zhang et al., ICLR 2018): each batch blended with a permutation
     * of itself, lambda ~ Beta(alpha, alpha); 0 or absent: off. See
     * lib/data/mix.ts.
     */
    mixup: nonNeg().optional(),
    /**
     * CutMix (Yun et al., ICCV 2019): a box of a permuted batch pasted in,
     * lambda ~ Beta(alpha, alpha); 0 or absent: off. With mixup too, each
     * batch takes one of the two, with probability 1/2 each.
     */
    cutmix: nonNeg().optional(),
    /** Evaluate on the test set every N epochs (0: only after the last). */
    eval_every: nonNegInt(),
    eval_batch_size: posInt(),
    /**
     * Precision of the network on CUDA: bf16 (autocast; losses stay fp32) or
     * fp32; "auto" is bf16 on CUDA and fp32 on the CPU, which only runs fp32.
     */
    precision: z.enum(["auto", "bf16", "fp32"]).default("auto"),
    /**
     * Capture each training step as a CUDA graph and replay it: "auto" (on
     * CUDA, for single-process runs, whose batch shapes are fixed), "on", "off".
     */
    cuda_graphs: z.enum(["auto", "on", "off"]).default("auto"),
    /**
     * The checkpoints a run keeps: the last (always: resuming needs it) and,
     * with "best", the epoch of the highest top-1 on the validation split
     * beside it (see lib/run/checkpoint.ts).
     */
    keep: z.array(z.enum(["best", "last"], { error: "must be best or last" }))
      .min(1, "must name best, last or both").default(["last"]),
    /**
     * Early stopping on the validation split's top-1 (PyTorch Lightning's
     * EarlyStopping, mode max): stop after `patience` epochs without an
     * improvement of more than `min_delta` percentage points.
     */
    early_stop: z.strictObject({
      patience: posInt(),
      min_delta: nonNeg().default(0),
    }).optional(),
  }),
  /** Where the training logs go besides metrics.jsonl and metrics.csv. */
  logs: z.strictObject({
    /** TensorBoard event files in RUN/tensorboard/ (lib/run/tensorboard.ts). */
    tensorboard: z.boolean().default(false),
  }).default({ tensorboard: false }),
  seed: nonNegInt(),
  /**
   * A second stage that made this run from another one (lib/train/stage2.ts:
   * tau-normalisation or LWS); written by `lade stage2`, never by hand.
   */
  stage2: z.strictObject({
    method: z.enum(["tau-norm", "lws"]),
    from: z.string(),
    tau: z.number().optional(),
    epochs: z.number().optional(),
    lr: z.number().optional(),
    scales: z.array(z.number()).optional(),
    selection: z.strictObject({
      tau: z.number(),
      source: z.string(),
      accuracy: z.number(),
      grid: z.array(z.strictObject({ tau: z.number(), accuracy: z.number() })),
    }).optional(),
  }).optional(),
  device: z.string(),
  /** CPU threads (0: all cores). */
  threads: nonNegInt(),
});

/** A resolved training configuration (the keys as the YAML files spell them). */
export type TrainConfig = z.infer<typeof ConfigSchema>;

/** A partial configuration, as a recipe file or the flags give it. */
export type ConfigPatch = { [key: string]: unknown };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `base` with `patch` merged in: objects merge key by key, other values replace. */
export function mergeConfig(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch === undefined ? base : patch;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    out[k] = mergeConfig(base[k], v);
  }
  return out;
}

/**
 * The error for `key` with `text`: from a recipe file (`source`), a message
 * naming the file and the key; from the overrides, an InputError whose
 * parameter is the key.
 */
function configError(source: string | undefined, key: string, text: string): InputError {
  const k = key || "config";
  return source === undefined
    ? new InputError(k, text)
    : new InputError(`${source}: ${k}: ${text}`);
}

/** An error's message without the "parameter: " an InputError starts with. */
function reason(e: unknown): string {
  const message = (e as Error).message;
  const p = e instanceof InputError ? e.parameter : undefined;
  return p !== undefined && message.startsWith(`${p}: `) ? message.slice(p.length + 2) : message;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  source: string | undefined,
  value: unknown,
): InputError {
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    const text = `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `'${k}'`).join(", ")}`;
    return new InputError(source === undefined ? text : `${source}: ${text}`);
  }
  // A number too large for a double (1e999 in YAML) is Infinity: said as
  // such, not as zod's "expected number, received number, got null".
  if (typeof value === "number" && !Number.isFinite(value)) {
    return configError(source, path, `must be a finite number, got ${value}`);
  }
  // 1e300 is whole, but past 2^53 a double cannot count one by one.
  if (typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    return configError(source, path, `is too large (at most 2^53 - 1), got ${value}`);
  }
  const shown = value === undefined ? "missing" : JSON.stringify(value);
  return configError(source, path, `${issue.message}, got ${shown}`);
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (!isPlainObject(cur) && !Array.isArray(cur)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/**
 * Validates a merged configuration. `source` names the recipe file the
 * values came from, for messages; without it the values are overrides and
 * an error's `parameter` is the key at fault.
 */
export function validateConfig(value: unknown, source?: string): TrainConfig {
  const r = ConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw describeIssue(issue, source, valueAt(value, issue.path));
  }
  const c = r.data;
  // Names that other modules know: their message, under the key.
  try {
    parseDatasetName(c.dataset.name);
  } catch (e) {
    throw configError(source, "dataset.name", reason(e));
  }
  try {
    methodByName(c.method.name);
  } catch (e) {
    throw configError(source, "method.name", reason(e));
  }
  try {
    parseDevice(c.device);
  } catch (e) {
    throw configError(source, "device", reason(e));
  }
  if (c.method.expert_lambdas !== undefined) {
    if (methodByName(c.method.name).combine !== "product") {
      throw configError(
        source,
        "method.expert_lambdas",
        `only a product of experts (balpoe) has expert lambdas, not ${c.method.name}`,
      );
    }
    try {
      checkExpertLambdas(c.method.expert_lambdas, methodExperts(c.method.name));
    } catch (e) {
      throw configError(source, "method.expert_lambdas", reason(e));
    }
  }
  const tt = c.method.test_time;
  if (tt !== undefined && methodByName(c.method.name).combine !== "aggregation") {
    throw configError(
      source,
      "method.test_time",
      `only methods aggregated at test time (sade) have test-time settings, not ${c.method.name}`,
    );
  }
  if (tt?.crop_scale !== undefined) {
    const [lo, hi] = tt.crop_scale;
    if (!(lo <= hi && hi <= 1)) {
      throw configError(
        source,
        "method.test_time.crop_scale",
        `must be [low, high] with 0 < low <= high <= 1, got [${lo}, ${hi}]`,
      );
    }
  }
  const d = c.dataset;
  if (d.val_per_class !== undefined) {
    try {
      checkValPerClass(d.val_per_class);
    } catch (e) {
      throw configError(source, "dataset.val_per_class", reason(e));
    }
    if (d.val_list !== undefined) {
      throw configError(
        source,
        "dataset.val_per_class",
        "give val_per_class or val_list, not both",
      );
    }
  }
  const base = parseDatasetName(d.name).base;
  if (d.val_list !== undefined && base !== "image-list") {
    throw configError(source, "dataset.val_list", "a validation list needs the image-list dataset");
  }
  if ((d.color_jitter ?? 0) > 0 && !isImageFileDataset(base)) {
    throw configError(
      source,
      "dataset.color_jitter",
      "colour jitter applies to image files (the image-list and image-folder datasets)",
    );
  }
  // Model selection and early stopping look at the held-out validation split.
  const hasVal = d.val_per_class !== undefined || d.val_list !== undefined;
  const needs = (what: string) =>
    `${what} needs a validation split: hold one out with \`dataset.val_per_class\` K, ` +
    "or give dataset.val_list";
  if (c.train.keep.includes("best") && !hasVal) {
    throw configError(source, "train.keep", needs("the best checkpoint (by validation top-1)"));
  }
  if (c.train.early_stop !== undefined && !hasVal) {
    throw configError(source, "train.early_stop", needs("early stopping"));
  }
  const s = c.train.schedule;
  if (s.type === "multistep" && s.milestones.length !== s.factors.length) {
    throw configError(
      source,
      "train.schedule",
      `needs one factor per milestone (${s.milestones.length} milestones, ` +
        `${s.factors.length} factors)`,
    );
  }
  if (s.milestones.some((m, i) => i > 0 && m <= s.milestones[i - 1])) {
    throw configError(source, "train.schedule.milestones", "must increase");
  }
  return c;
}

/** How deeply a recipe's collections may nest (a real recipe nests 3 or 4 levels). */
export const MAX_RECIPE_DEPTH = 64;

/** The most a recipe file may hold: 16 MiB. */
export const MAX_RECIPE_BYTES = 16 * 2 ** 20;

/**
 * The first place where `text`'s collections (flow or block, keys
 * included) nest deeper than `limit`, as a 1-based line, or undefined.
 * Walks the YAML library's concrete syntax tree, which it builds without
 * recursion, with a stack of its own: the library's composer recurses once
 * per level and runs out of stack near a thousand.
 */
export function yamlTooDeep(text: string, limit: number): number | undefined {
  type Token = { offset?: number; value?: Token; key?: Token; items?: Token[] };
  const work: [Token, number][] = [];
  for (const doc of new Parser().parse(text) as Iterable<Token>) {
    if (doc.value) work.push([doc.value, 0]);
    while (work.length > 0) {
      const [token, depth] = work.pop()!;
      if (!Array.isArray(token.items)) continue;
      if (depth + 1 > limit) {
        const at = token.offset ?? 0;
        let line = 1;
        for (let i = 0; i < at && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
        return line;
      }
      for (const item of token.items) {
        if (item.key && typeof item.key === "object") work.push([item.key, depth + 1]);
        if (item.value && typeof item.value === "object") work.push([item.value, depth + 1]);
      }
    }
  }
  return undefined;
}

/** Parses a YAML recipe (the text of `path`) into a patch; a one-line InputError when malformed. */
export function parseConfigText(text: string, path: string): ConfigPatch {
  const deep = yamlTooDeep(text, MAX_RECIPE_DEPTH);
  if (deep !== undefined) {
    throw new InputError(
      `${path}: not a recipe: collections nested more than ${MAX_RECIPE_DEPTH} levels deep ` +
        `(line ${deep})`,
    );
  }
  let data: unknown;
  try {
    // Warnings (an unknown tag) would be printed by the YAML library; the library never prints.
    data = parseYaml(text, { logLevel: "error" });
  } catch (e) {
    throw new InputError(`${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) throw new InputError(`${path}: expected a mapping of config keys`);
  return data;
}

/** Reads a recipe file; a missing file is an InputError. */
export async function readConfigFile(path: string): Promise<ConfigPatch> {
  const text = await readInputText(path, { maxBytes: MAX_RECIPE_BYTES, what: "config file" });
  return parseConfigText(text, path);
}

/**
 * The values `train`'s flags give, parsed, by the flag's camelCase name
 * (`batchSize: 64`); each flag's recipe key is in lib/config/train_flags.ts.
 * A flag without a recipe key (`--out`) sets nothing here.
 */
export type ConfigOverrides = Readonly<Record<string, unknown>>;

/** The patch the overrides make to a recipe (one per flag that sets a recipe key). */
export function overridesPatch(f: ConfigOverrides): ConfigPatch {
  let patch: ConfigPatch = {};
  for (const [name, value] of Object.entries(f)) {
    if (value === undefined) continue;
    const spec = trainFlag(name);
    if (spec === undefined) {
      throw new InputError(name, "is not a setting a flag of train gives");
    }
    if (spec.key !== undefined) patch = mergeConfig(patch, flagPatch(spec, value)) as ConfigPatch;
  }
  return patch;
}

/**
 * The values the run's method brings (its registry entry's `defaults`:
 * SADE's and BalPoE's cosine heads, BalPoE's mixup) for the method the
 * overrides or the recipe file name; none for an unknown name (validation
 * then says so).
 */
function methodDefaults(
  file: { patch: ConfigPatch } | undefined,
  overrides: ConfigOverrides,
): ConfigPatch {
  const fileMethod = file?.patch.method;
  const named = (typeof overrides.method === "string" ? overrides.method : undefined) ??
    (isPlainObject(fileMethod) && typeof fileMethod.name === "string"
      ? fileMethod.name
      : DEFAULT_CONFIG.method.name);
  try {
    return (methodByName(named).defaults ?? {}) as ConfigPatch;
  } catch {
    return {};
  }
}

/**
 * The configuration of a run: the embedded default, the defaults of the
 * method it names, the recipe file (if any) merged on those, then the
 * overrides. Each layer is validated: a bad value in the file names the
 * file, a bad override is an InputError for its key.
 */
export function resolveConfig(
  file: { patch: ConfigPatch; path: string } | undefined,
  overrides: ConfigOverrides,
): TrainConfig {
  let merged: unknown = mergeConfig(DEFAULT_CONFIG, methodDefaults(file, overrides));
  if (file) {
    merged = mergeConfig(merged, file.patch);
    validateConfig(merged, file.path);
  }
  merged = mergeConfig(merged, overridesPatch(overrides));
  return validateConfig(withDatasetDefaults(merged));
}

/**
 * The imbalance a dataset name implies when nothing sets one: 100 for a
 * `-lt` name, else 1 (balanced); undefined for an unknown name (which
 * validation then reports).
 */
export function defaultImbalance(name: unknown): number | undefined {
  if (typeof name !== "string") return undefined;
  try {
    return parseDatasetName(name).lt ? 100 : 1;
  } catch {
    return undefined;
  }
}

/**
 * `config` with the defaults that depend on the dataset filled in, once the
 * dataset is known (after the recipe and the flags): the imbalance of its
 * name when neither sets one. (Before, the embedded default's R = 100, which
 * belongs to its own fashion-mnist-lt, was inherited by a recipe naming a
 * balanced dataset.)
 */
function withDatasetDefaults(config: unknown): unknown {
  if (!isPlainObject(config) || !isPlainObject(config.dataset)) return config;
  const d = config.dataset;
  if (d.imbalance !== undefined) return config;
  const imbalance = defaultImbalance(d.name);
  return imbalance === undefined ? config : { ...config, dataset: { ...d, imbalance } };
}

/** Where the value of a configuration key came from: a flag, the recipe file, or the default. */
export type KeySource = { kind: "override" } | { kind: "file"; path: string } | { kind: "default" };

/**
 * Which layer set configuration key `key` (`dataset.root`) of a config that
 * `resolveConfig(file, overrides)` made: for messages that name the flag, or
 * the file and key, the value came from.
 */
export function keySource(
  key: string,
  file: { patch: ConfigPatch; path: string } | undefined,
  overrides: ConfigOverrides,
): KeySource {
  const path = key.split(".");
  if (valueAt(overridesPatch(overrides), path) !== undefined) return { kind: "override" };
  if (file !== undefined && valueAt(file.patch, path) !== undefined) {
    return { kind: "file", path: file.path };
  }
  return { kind: "default" };
}

/** The config as YAML, the form saved with a run. */
export function configToYaml(config: TrainConfig): string {
  return stringifyYaml(config);
}

/*
 * The embedded default run, as plain data so a compiled binary needs no
 * files: Fashion-MNIST-LT (R = 100, 14,886 training images), the 28-pixel
 * CNN, LADE (alpha 0.1, lambda 0.1), 12 epochs of SGD with a one-epoch
 * warm-up and cosine decay. Recipe files in configs/ are merged onto it.
 */
/** The configuration `train` runs with no flags. */
export const DEFAULT_CONFIG: TrainConfig = {
  // dataset.imbalance follows the name (100 for -lt): see withDatasetDefaults.
  dataset: {
    name: "fashion-mnist-lt",
    imbalance_type: "exp",
    skip_bad_images: false,
  },
  model: {
    arch: "auto",
    head: "linear",
    scale: 16,
    init_skip: "none",
    init_strict: true,
    freeze: "none",
  },
  method: { name: "lade", alpha: 0.1, lambda: 0.1 },
  train: {
    epochs: 12,
    batch_size: 128,
    lr: 0.05,
    momentum: 0.9,
    weight_decay: 5e-4,
    nesterov: false,
    sampler: "shuffle",
    schedule: {
      type: "cosine",
      warmup_epochs: 1,
      warmup_from: 1 / 3,
      milestones: [],
      factors: [],
      step_at_epoch_start: false,
    },
    eval_every: 1,
    eval_batch_size: 512,
    precision: "auto",
    cuda_graphs: "auto",
    keep: ["last"],
  },
  logs: { tensorboard: false },
  seed: 0,
  device: "cpu",
  threads: 0,
};
