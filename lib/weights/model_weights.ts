/**
 * A model's weights in and out: its state dict under the names lade uses
 * outside itself (torchvision's for the torchvision architectures; see
 * names.ts), written as safetensors with lade's metadata, and read back from
 * safetensors or a PyTorch checkpoint into a model, strictly (every key
 * present, no extra keys, equal shapes) or not.
 *
 * @module
 */

import { dirname } from "node:path";
import { InputError, TorchError } from "../errors.ts";
import type { Model } from "../models/model.ts";
import { DTYPE_BYTES, isFloating } from "../torch/dtype.ts";
import { fromBytes, type Tensor } from "../torch/mod.ts";
import { externalName, isHeadName, singleNetworkName } from "./names.ts";
import { parseTorchStateDict } from "./pytorch.ts";
import { MAX_BINARY_BYTES, readInputRange } from "../input_file.ts";
import {
  quote,
  type RawTensor,
  readSafetensors,
  readWholeFile,
  writeSafetensors,
} from "./safetensors.ts";
import { isZip } from "./zip.ts";

/** The metadata key that marks a file lade wrote, and its value. */
export const FORMAT_KEY = "format";
/** `format` of lade's files. */
export const FORMAT = "lade";

/** What lade records in a weights file's metadata (all strings in the file). */
export interface WeightsMetadata {
  /** The architecture (`resnet50`). */
  arch: string;
  /** Number of classes. */
  classes: number;
  /** Image channels of the first layer. */
  inChannels: number;
  /** Classifier head: linear or cosine. */
  head: string;
  /** Cosine head's scale. */
  scale?: number;
  /** A name per class. */
  classNames?: string[];
  /** Per-class training counts (the source prior). */
  trainCounts?: number[];
  /**
   * The prior the classifier was effectively trained under, which the
   * prediction rules compensate (uniform for cRT, LWS, tau-norm; see
   * lib/eval/logit_prior.ts). Absent: the method's on shuffled epochs.
   */
  logitPrior?: number[];
  /** Training method (lade, softmax, ...). */
  method?: string;
  /** Dataset name of the run. */
  dataset?: string;
  /** Epochs trained. */
  epoch?: number;
  /** Image side the model was trained on. */
  imageSize?: number;
  /** Normalisation mean and std (0..1 scale) of the training data. */
  mean?: number[];
  /** See `mean`. */
  std?: number[];
}

/** A weights file as read: tensors by (external) name and its metadata. */
export interface WeightsFile {
  /** Which format the file was. */
  format: "safetensors" | "pytorch";
  /** The tensors by name, in the file's order. */
  tensors: Map<string, RawTensor>;
  /** The raw string metadata (safetensors; empty for PyTorch files). */
  rawMetadata: Record<string, string>;
  /** lade's metadata, when lade wrote the file. */
  metadata?: WeightsMetadata;
}

/** The metadata as safetensors strings. */
export function encodeMetadata(m: WeightsMetadata): Record<string, string> {
  const out: Record<string, string> = {
    [FORMAT_KEY]: FORMAT,
    arch: m.arch,
    classes: String(m.classes),
    in_channels: String(m.inChannels),
    head: m.head,
  };
  if (m.scale !== undefined) out.scale = String(m.scale);
  if (m.classNames) out.class_names = JSON.stringify(m.classNames);
  if (m.trainCounts) out.train_counts = JSON.stringify(m.trainCounts);
  if (m.logitPrior) out.logit_prior = JSON.stringify(m.logitPrior);
  if (m.method) out.method = m.method;
  if (m.dataset) out.dataset = m.dataset;
  if (m.epoch !== undefined) out.epoch = String(m.epoch);
  if (m.imageSize !== undefined) out.image_size = String(m.imageSize);
  if (m.mean) out.mean = JSON.stringify(m.mean);
  if (m.std) out.std = JSON.stringify(m.std);
  return out;
}

/** The largest image side a weights file may declare (`image_size`). */
export const MAX_IMAGE_SIZE = 4096;

/** The most classes a weights file may declare. */
export const MAX_CLASSES = 10_000_000;

/**
 * lade's metadata from a file's strings (undefined when lade did not write
 * it). Every value is checked against what it can mean (a class count from
 * 1 to 10^7, channels from 1 to 64, an image side from 8 to 4096, a mean
 * and a positive std per channel, a name and a positive training count per
 * class): a file that says otherwise is refused with a line naming the key,
 * rather than allocating without bound or printing NaN.
 */
export function decodeMetadata(
  raw: Record<string, string>,
  source: string,
): WeightsMetadata | undefined {
  if (raw[FORMAT_KEY] !== FORMAT) return undefined;
  const bad = (key: string, why = "is malformed"): never => {
    throw new InputError(`${source}: metadata '${key}' ${why}`);
  };
  const int = (key: string, min: number, max: number): number | undefined => {
    if (raw[key] === undefined) return undefined;
    const v = raw[key].trim() === "" ? NaN : Number(raw[key]);
    if (!Number.isSafeInteger(v)) return bad(key);
    return v >= min && v <= max
      ? v
      : bad(key, `is ${v}, outside ${min}..${max.toLocaleString("en-US")}`);
  };
  const num = (key: string): number | undefined => {
    if (raw[key] === undefined) return undefined;
    const v = Number(raw[key]);
    return Number.isFinite(v) && v > 0 ? v : bad(key, `must be a positive number, got ${raw[key]}`);
  };
  const json = <T>(key: string, ok: (v: unknown) => string | undefined): T | undefined => {
    if (raw[key] === undefined) return undefined;
    let v: unknown;
    try {
      v = JSON.parse(raw[key]);
    } catch {
      return bad(key, "is not JSON");
    }
    const problem = ok(v);
    return problem === undefined ? v as T : bad(key, problem);
  };
  if (typeof raw.arch !== "string" || raw.arch === "") bad("arch");
  const classes = int("classes", 1, MAX_CLASSES) ?? bad("classes", "is missing");
  const inChannels = int("in_channels", 1, 64) ?? bad("in_channels", "is missing");
  const perClass = (what: string, each: (x: unknown) => boolean) => (v: unknown) =>
    !Array.isArray(v) || !v.every(each)
      ? `must be a list of ${what}`
      : v.length !== classes
      ? `lists ${v.length} values for ${classes} classes`
      : undefined;
  const perChannel = (positive: boolean) => (v: unknown) =>
    !Array.isArray(v) ||
      !v.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0))
      ? `must be a list of ${positive ? "positive" : "finite"} numbers`
      : v.length !== inChannels
      ? `lists ${v.length} values for ${inChannels} channel(s)`
      : undefined;
  return {
    arch: raw.arch,
    classes,
    inChannels,
    head: raw.head ?? "linear",
    scale: num("scale"),
    classNames: json<string[]>("class_names", perClass("names", (x) => typeof x === "string")),
    trainCounts: json<number[]>(
      "train_counts",
      perClass("positive integers", (x) => Number.isSafeInteger(x) && (x as number) > 0),
    ),
    logitPrior: json<number[]>(
      "logit_prior",
      perClass(
        "probabilities",
        (x) => typeof x === "number" && Number.isFinite(x) && x >= 0 && x <= 1,
      ),
    ),
    method: raw.method,
    dataset: raw.dataset,
    epoch: int("epoch", 0, Number.MAX_SAFE_INTEGER),
    imageSize: int("image_size", 8, MAX_IMAGE_SIZE),
    mean: json<number[]>("mean", perChannel(false)),
    std: json<number[]>("std", perChannel(true)),
  };
}

/**
 * The model's state dict under its external names, copied to host bytes
 * (C order, the model's dtypes), in state-dict order.
 */
export function modelStateDict(model: Model): [string, RawTensor][] {
  const names = model.stateNames();
  const tensors = model.stateTensors();
  try {
    if (names.length !== tensors.length) {
      throw new TorchError(`model state: ${names.length} names for ${tensors.length} tensors`);
    }
    return names.map((name, i) => {
      const t = tensors[i];
      const a = t.toArray();
      return [externalName(model.arch, name), {
        dtype: t.dtype,
        shape: [...t.shape],
        data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      }];
    });
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** Writes the model's weights as safetensors (atomically) with lade's metadata, making the folder. */
export async function exportWeights(
  model: Model,
  path: string,
  metadata: WeightsMetadata,
): Promise<void> {
  // The folder is made as `torch.save` users expect of an output path.
  const folder = dirname(path);
  try {
    await Deno.mkdir(folder, { recursive: true });
  } catch (e) {
    throw new InputError(
      `cannot make the folder ${folder} for ${path}: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  await writeSafetensors(path, modelStateDict(model), encodeMetadata(metadata));
}

/**
 * Reads a weights file: safetensors, or a PyTorch zip checkpoint (told apart
 * by their first bytes). Any problem is a one-line InputError naming the file.
 * A safetensors file's header is validated before the rest is read.
 *
 * @example Either format, told apart by its bytes
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeTorchStateDict, readWeightsFile, writeSafetensors } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const w = { dtype: "float32" as const, shape: [1], data: new Uint8Array(4) };
 * await writeSafetensors(`${dir}/a.bin`, [["w", w]]);
 * await Deno.writeFile(`${dir}/b.bin`, encodeTorchStateDict([["w", w]]));
 * const formats = [(await readWeightsFile(`${dir}/a.bin`)).format, (await readWeightsFile(`${dir}/b.bin`)).format];
 * assert.deepEqual(formats, ["safetensors", "pytorch"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readWeightsFile(path: string): Promise<WeightsFile> {
  const opts = { maxBytes: MAX_BINARY_BYTES };
  const first = await readInputRange(path, 0, 8, opts);
  if (isZip(first)) {
    const bytes = await readWholeFile(path);
    return { format: "pytorch", tensors: parseTorchStateDict(bytes, path), rawMetadata: {} };
  }
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    // PyTorch's legacy format: a pickle (PROTO 2, then LONG1: its magic number).
    if (first.length > 3 && first[0] === 0x80 && first[1] <= 5 && first[2] === 0x8a) {
      parseTorchStateDict(first, path); // throws its one-line message
    }
    throw e;
  }
  return {
    format: "safetensors",
    tensors: file.tensors,
    rawMetadata: file.metadata,
    metadata: decodeMetadata(file.metadata, path),
  };
}

/**
 * `tensors` of a single network (torchvision's names) spread over the experts
 * of `model`, a SADE network on the same architecture: each entry under the
 * model's name of every place it starts (see `singleNetworkName`), the
 * single network's classifier (`fc.*`) left out, since the experts' heads
 * are new. Undefined when the model is no such network or `tensors` already
 * holds a multi-expert network's entries.
 */
export function spreadOverExperts(
  model: Model,
  tensors: ReadonlyMap<string, RawTensor>,
): Map<string, RawTensor> | undefined {
  const names = model.stateNames();
  const sources = names.map((n) => singleNetworkName(model.arch, n));
  if (sources.every((s) => s === undefined)) return undefined;
  if ([...tensors.keys()].some((k) => /(^|\.)experts\.\d+\./.test(k))) return undefined;
  const out = new Map<string, RawTensor>();
  const used = new Set<string>();
  names.forEach((n, i) => {
    const src = sources[i];
    const t = src === undefined ? undefined : tensors.get(src);
    if (t === undefined || src === undefined) return;
    out.set(externalName(model.arch, n), t);
    used.add(src);
  });
  for (const [k, t] of tensors) {
    if (!used.has(k) && !k.startsWith("fc.")) out.set(k, t);
  }
  return out;
}

/** How loading went. */
export interface LoadReport {
  /** Names (external) whose values were copied into the model. */
  loaded: string[];
  /** Model entries the file lacks (left as they were). */
  missing: string[];
  /** File entries the model lacks (ignored). */
  unexpected: string[];
  /** Entries whose shapes (or kinds of dtype) differ (left as they were). */
  mismatched: { name: string; file: number[]; model: number[] }[];
  /** Entries left out on purpose (the head, with skipHead). */
  skipped: string[];
}

/** Options of loadWeights. */
export interface LoadOptions {
  /** Names the file in messages. */
  source: string;
  /** Leave the classifier head alone (a new task's class count); default false. */
  skipHead?: boolean;
  /** Fail on the first missing, unexpected or mismatched key (default true). */
  strict?: boolean;
  /**
   * Say in the messages' hints how a training configuration loads what
   * matches (`model.init_strict`, `model.init_skip`); default false.
   */
  configHints?: boolean;
}

const shapeText = (s: readonly number[]) => `[${s.join(", ")}]`;

/** Whether every value of a floating-point tensor is finite (counted in libtorch). */
function allFinite(t: Tensor): boolean {
  using finite = t.isfinite();
  using all = finite.all();
  return all.item() !== 0;
}

/**
 * Copies `tensors` (external names) into `model`. Strict (the default): the
 * first missing key, then the first unexpected key, then the first shape
 * mismatch is a one-line InputError naming it, and nothing is copied. Not
 * strict: what matches is copied and the rest is reported. A checkpoint
 * without batch norm's `num_batches_tracked` counters (older PyTorch) is
 * accepted either way.
 */
export function loadWeights(
  model: Model,
  tensors: ReadonlyMap<string, RawTensor>,
  opts: LoadOptions,
): LoadReport {
  const strict = opts.strict ?? true;
  const names = model.stateNames();
  const report: LoadReport = {
    loaded: [],
    missing: [],
    unexpected: [],
    mismatched: [],
    skipped: [],
  };
  const headNames = new Set(
    names.filter(isHeadName).map((n) => externalName(model.arch, n)),
  );
  const targets = model.stateTensors();
  try {
    const byName = new Map(names.map((n, i) => [externalName(model.arch, n), targets[i]]));
    for (const [name, t] of byName) {
      if (opts.skipHead && headNames.has(name)) {
        report.skipped.push(name);
        continue;
      }
      const src = tensors.get(name);
      if (src === undefined) {
        if (!name.endsWith(".num_batches_tracked")) report.missing.push(name);
        continue;
      }
      const sameShape = src.shape.length === t.shape.length &&
        src.shape.every((d, i) => d === t.shape[i]);
      const sameKind = isFloating(src.dtype) === isFloating(t.dtype);
      if (!sameShape || !sameKind) {
        report.mismatched.push({ name, file: [...src.shape], model: [...t.shape] });
      }
    }
    for (const name of tensors.keys()) {
      if (!byName.has(name)) report.unexpected.push(name);
    }
    if (strict) {
      const more = (n: number) => (n > 1 ? ` (and ${n - 1} more)` : "");
      if (report.missing.length > 0) {
        throw new InputError(
          `${opts.source}: missing key ${quote(report.missing[0])}${more(report.missing.length)} ` +
            `for ${model.arch}` +
            (opts.configHints ? " (use `model.init_strict` false to load what matches)" : ""),
        );
      }
      if (report.unexpected.length > 0) {
        throw new InputError(
          `${opts.source}: unexpected key ${quote(report.unexpected[0])}` +
            `${more(report.unexpected.length)} for ${model.arch}` +
            (opts.configHints ? " (use `model.init_strict` false to ignore it)" : ""),
        );
      }
      if (report.mismatched.length > 0) {
        const m = report.mismatched[0];
        const src = tensors.get(m.name)!;
        const hint = !headNames.has(m.name)
          ? ""
          : opts.configHints
          ? " (a different class count? use `model.init_skip` head)"
          : " (a different class count?)";
        const sameShape = shapeText(m.file) === shapeText(m.model);
        throw new InputError(
          sameShape
            ? `${opts.source}: ${quote(m.name)} holds ${src.dtype} in the file, not the ` +
              `${isFloating(src.dtype) ? "integer" : "floating-point"} values of ${model.arch}` +
              more(report.mismatched.length)
            : `${opts.source}: ${quote(m.name)} has shape ${shapeText(m.file)} (${src.dtype}) in ` +
              `the file but ${shapeText(m.model)} in ${model.arch}${
                more(report.mismatched.length)
              }${hint}`,
        );
      }
    }
    const bad = new Set(report.mismatched.map((m) => m.name));
    // Not strict, but nothing to load: training would silently start from scratch.
    const matching = [...byName.keys()].filter((name) =>
      tensors.has(name) && !bad.has(name) && !(opts.skipHead && headNames.has(name))
    );
    if (!strict && matching.length === 0) {
      const fileFirst = tensors.keys().next().value;
      const modelFirst = byName.keys().next().value;
      throw new InputError(
        `${opts.source}: no tensor of the file fits ${model.arch} (the file's first is ` +
          `${fileFirst === undefined ? "none" : quote(fileFirst)}, the model's ` +
          `${modelFirst === undefined ? "none" : quote(modelFirst)})` +
          (opts.configHints
            ? "; `model.init_strict` false loads what matches, and nothing does"
            : ""),
      );
    }
    const copied = [...byName].filter(([name]) =>
      tensors.has(name) && !bad.has(name) && !(opts.skipHead && headNames.has(name))
    );
    // Every value is checked before the first is copied: a file with a NaN
    // changes nothing.
    for (const [name] of copied) {
      const src = tensors.get(name)!;
      if (src.data.length !== src.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[src.dtype]) {
        throw new InputError(`${opts.source}: ${quote(name)} has the wrong number of bytes`);
      }
      if (!isFloating(src.dtype)) continue;
      using value = fromBytes(src.data, src.shape, src.dtype);
      if (!allFinite(value)) {
        throw new InputError(
          `${opts.source}: ${quote(name)} holds NaN or infinite values (damaged or diverged ` +
            "weights)",
        );
      }
    }
    for (const [name, t] of copied) {
      const src = tensors.get(name)!;
      using value = fromBytes(src.data, src.shape, src.dtype);
      t.copy_(value);
      report.loaded.push(name);
    }
  } finally {
    for (const t of targets) t.dispose();
  }
  return report;
}
