/**
 * Training configurations: the schema (zod) of the YAML recipes in configs/,
 * loading a recipe onto the embedded default, applying command-line flags,
 * and the one-line messages for unknown keys and bad values.
 *
 * @module
 */

import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import { UsageError } from "../cli/errors.ts";
import { parseDatasetName } from "../data/mod.ts";
import { METHODS } from "../losses/mod.ts";
import { ARCHITECTURES, HEADS } from "../models/model.ts";
import { parseDevice } from "../torch/device.ts";
import { DEFAULT_CONFIG } from "./default_config.ts";

const posInt = () => z.number().int("must be an integer").min(1, "must be a positive integer");
const nonNegInt = () => z.number().int("must be an integer").min(0, "must be >= 0");
const nonNeg = () => z.number().min(0, "must be >= 0");
const positive = () => z.number().positive("must be > 0");

/** Where the schedule comes from; see lib/train/schedule.ts. */
const ScheduleSchema = z.strictObject({
  type: z.enum(["multistep", "cosine", "constant"]),
  warmup_epochs: nonNegInt(),
  warmup_from: z.number().min(0, "must be in [0, 1]").max(1, "must be in [0, 1]"),
  milestones: z.array(nonNegInt()),
  factors: z.array(nonNeg()),
});

/** The schema of a resolved training configuration. */
export const ConfigSchema = z.strictObject({
  /** Run name (default: <dataset>_<method>_<time>). */
  name: z.string().min(1).optional(),
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
  }),
  model: z.strictObject({
    arch: z.enum(["auto", ...ARCHITECTURES]),
    head: z.enum(HEADS),
    scale: positive(),
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
  }),
  train: z.strictObject({
    epochs: posInt(),
    batch_size: posInt(),
    lr: positive(),
    momentum: z.number().min(0, "must be in [0, 1)").max(0.9999, "must be in [0, 1)"),
    weight_decay: nonNeg(),
    nesterov: z.boolean(),
    sampler: z.enum(["shuffle", "balanced", "sqrt"]),
    schedule: ScheduleSchema,
    /** Evaluate on the test set every N epochs (0: only after the last). */
    eval_every: nonNegInt(),
    eval_batch_size: posInt(),
  }),
  seed: nonNegInt(),
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

/** The flag that sets each config path, for messages about flag values. */
const FLAG_OF: Record<string, string> = {
  "dataset.name": "--dataset",
  "method.name": "--method",
  "method.alpha": "--alpha",
  "method.lambda": "--lambda",
  "train.epochs": "--epochs",
  "train.batch_size": "--batch-size",
  "train.lr": "--lr",
  "device": "--device",
  "threads": "--threads",
  "seed": "--seed",
};

function describeIssue(issue: z.core.$ZodIssue, source: string, value: unknown): string {
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${source}: unknown key${keys.length > 1 ? "s" : ""} ${
      keys.map((k) => `'${k}'`).join(", ")
    }`;
  }
  const shown = value === undefined ? "missing" : JSON.stringify(value);
  const flag = FLAG_OF[path];
  if (source === "flags" && flag) return `invalid ${flag} ${shown}: ${issue.message}`;
  return `${source}: invalid ${path || "config"} (${shown}): ${issue.message}`;
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
 * Validates a merged configuration; `source` names where the values came
 * from (a file, or "flags") in the one-line UsageError.
 */
export function validateConfig(value: unknown, source: string): TrainConfig {
  const r = ConfigSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UsageError(describeIssue(issue, source, valueAt(value, issue.path)));
  }
  const c = r.data;
  // Names that other modules know: one message each, naming the source.
  const where = (flag: string) => (source === "flags" ? flag : `${source}: ${flag.slice(2)}`);
  try {
    parseDatasetName(c.dataset.name);
  } catch (e) {
    throw new UsageError(`${where("--dataset")}: ${(e as Error).message}`);
  }
  if (!METHODS.includes(c.method.name)) {
    throw new UsageError(
      `${where("--method")}: unknown method '${c.method.name}' (use ${METHODS.join(", ")})`,
    );
  }
  try {
    parseDevice(c.device);
  } catch (e) {
    throw new UsageError(`${where("--device")}: ${(e as Error).message}`);
  }
  const s = c.train.schedule;
  if (s.type === "multistep" && s.milestones.length !== s.factors.length) {
    throw new UsageError(
      `${source}: train.schedule needs one factor per milestone (${s.milestones.length} ` +
        `milestones, ${s.factors.length} factors)`,
    );
  }
  if (s.milestones.some((m, i) => i > 0 && m <= s.milestones[i - 1])) {
    throw new UsageError(`${source}: train.schedule.milestones must increase`);
  }
  return c;
}

/** Parses a YAML recipe (the text of `path`) into a patch; a one-line UsageError when malformed. */
export function parseConfigText(text: string, path: string): ConfigPatch {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new UsageError(`${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) throw new UsageError(`${path}: expected a mapping of config keys`);
  return data;
}

/** Reads a recipe file; a missing file is a UsageError. */
export async function readConfigFile(path: string): Promise<ConfigPatch> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UsageError(`config file ${path} not found`);
    throw new UsageError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  return parseConfigText(text, path);
}

/** Command-line values that override the config. */
export interface ConfigFlags {
  dataset?: string;
  method?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  alpha?: number;
  lambda?: number;
  device?: string;
  threads?: number;
  seed?: number;
}

/** The patch the flags make. */
export function flagsPatch(f: ConfigFlags): ConfigPatch {
  return {
    dataset: { name: f.dataset },
    method: { name: f.method, alpha: f.alpha, lambda: f.lambda },
    train: { epochs: f.epochs, batch_size: f.batchSize, lr: f.lr },
    device: f.device,
    threads: f.threads,
    seed: f.seed,
  };
}

/**
 * The configuration of a run: the embedded default, the recipe file (if
 * any) merged on it, then the flags. Each layer is validated with messages
 * naming its source.
 */
export function resolveConfig(
  file: { patch: ConfigPatch; path: string } | undefined,
  flags: ConfigFlags,
): TrainConfig {
  let merged: unknown = DEFAULT_CONFIG;
  if (file) {
    merged = mergeConfig(merged, file.patch);
    validateConfig(merged, file.path);
  }
  merged = mergeConfig(merged, flagsPatch(flags));
  return validateConfig(merged, "flags");
}

/** The config as YAML, the form saved with a run. */
export function configToYaml(config: TrainConfig): string {
  return stringifyYaml(config);
}
