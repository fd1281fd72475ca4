/**
 * Predictions on the user's own inputs: a trained run, or a weights file
 * (lade's safetensors or a PyTorch state dict), over image files (JPEG, PNG)
 * or an `.npy` batch, with the class probabilities under a target prior:
 *
 * - `uniform`: every class equally likely (the LADE rule f for models whose
 *   logits model the uniform-prior posterior, PC Softmax f - log p_s + log
 *   1/C for softmax-trained ones);
 * - `train`: the training class mix (softmax models: f as it is);
 * - a list of C numbers (a JSON file), normalised to sum to 1;
 * - `em`: the prior EM estimates from the inputs themselves (Saerens et
 *   al.), which needs enough inputs.
 *
 * A model whose training counts are unknown (foreign weights) predicts with
 * softmax(f) and only `train` applies.
 *
 * @module
 */

import { InputError, TorchError } from "../errors.ts";
import { MAX_TEXT_BYTES, readInputText } from "../input_file.ts";
import { datasetInput, isImageFileDataset, parseDatasetName, prepareImage } from "../data/mod.ts";
import { adjustLogits, modelLogitPrior, sourcePosteriorLogits } from "../eval/rules.ts";
import { type Head, isArchitecture, Model, unknownArchitecture } from "../models/mod.ts";
import { emPrior } from "../priors/em.ts";
import { countsToPrior, normalisePrior } from "../priors/source_prior.ts";
import type { Device } from "../torch/device.ts";
import { cat, noGrad, scope, stack, type Tensor, tensor } from "../torch/mod.ts";
import { loadWeights, readWeightsFile, type WeightsMetadata } from "../weights/model_weights.ts";
import {
  bestOf,
  type CheckpointChoice,
  loadCheckpoint,
  MANIFEST,
  readManifest,
} from "../run/checkpoint.ts";
import { manifestLogitPrior } from "../eval/logit_prior.ts";
import { modelFromManifest } from "../run/run_model.ts";
import { methodByName } from "../losses/methods.ts";
import { expertMean } from "../losses/sade.ts";

/** A model ready to predict, with what its inputs must look like. */
export interface Predictor {
  model: Model;
  /** Image channels, side, and the side the shorter edge is resized to before the centre crop. */
  channels: number;
  imageSize: number;
  resizeTo: number;
  /** Normalisation (0..1 units). */
  mean: number[];
  std: number[];
  /** A name per class. */
  classNames: string[];
  /** Per-class training counts, when known (a run, lade's weights file, or `--train-counts`). */
  trainCounts?: number[];
  /**
   * The prior the classifier was effectively trained under, which the rules
   * compensate (lib/eval/logit_prior.ts; uniform for cRT, LWS and tau-norm);
   * when absent, the method's on shuffled epochs of `trainCounts`.
   */
  logitPrior?: number[];
  /** Training method (decides the prediction rule); softmax when unknown. */
  method: string;
  /** The classifier head: linear or cosine, and the cosine head's scale. */
  head: Head;
  scale?: number;
  /** Frees the model. */
  dispose(): void;
}

/** The side the shorter edge is resized to for a centre crop of `size` (image-list's 256/224). */
export function resizeFor(size: number): number {
  return size >= 64 ? Math.round(size * 256 / 224) : size;
}

/** Default input side of an architecture. */
function defaultSize(arch: string): number {
  return arch === "cnn28" ? 28 : arch.startsWith("resnet32") ? 32 : 224;
}

/** Class names from a `classes.txt` (one per line) when one exists. */
async function classesFile(path: string, classes: number): Promise<string[] | undefined> {
  try {
    await Deno.lstat(path);
  } catch {
    return undefined;
  }
  // There is one: a regular file (a FIFO would block) of a sensible size.
  const text = await readInputText(path, { maxBytes: MAX_TEXT_BYTES, what: "class names" });
  const names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
  if (names.length !== classes) {
    throw new InputError(`${path}: ${names.length} class names for ${classes} classes`);
  }
  return names;
}

/** A trained run's latest checkpoint (or with `which` "best", its best) as a predictor. */
export async function runPredictor(
  runDir: string,
  device: Device = "cpu",
  which: CheckpointChoice = "last",
): Promise<Predictor> {
  const m = await readManifest(runDir).catch((e) => {
    if (e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  });
  if (m === null) throw new InputError(`${runDir} has no checkpoint (${MANIFEST}); train it first`);
  if (which === "best") bestOf(m, runDir);
  const spec = datasetInput(m.config.dataset.name, {
    imageSize: m.config.dataset.image_size,
    mean: m.config.dataset.mean,
    std: m.config.dataset.std,
  });
  const model = modelFromManifest(m, device);
  try {
    await loadCheckpoint(runDir, model, undefined, false, which);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const isImageFiles = isImageFileDataset(parseDatasetName(m.config.dataset.name).base);
  return {
    model,
    channels: m.inChannels,
    imageSize: spec.imageSize,
    // As image files are evaluated (native/src/data_batch.cpp): 256/224.
    resizeTo: isImageFiles ? Math.round(spec.imageSize * 256 / 224) : spec.imageSize,
    mean: spec.mean,
    std: spec.std,
    // A classes.txt beside the run, else in the dataset's folder, else the run's names.
    classNames: (await classesFile(`${runDir}/classes.txt`, m.classes)) ??
      (m.config.dataset.root === undefined
        ? undefined
        : await classesFile(`${m.config.dataset.root}/classes.txt`, m.classes)) ??
      [...m.classNames],
    trainCounts: [...m.trainCounts],
    logitPrior: manifestLogitPrior(m),
    method: m.config.method.name,
    head: m.config.model.head,
    scale: m.config.model.scale,
    dispose: () => model.dispose(),
  };
}

/** What a weights file alone does not say. */
export interface WeightsPredictorOptions {
  /** The architecture (default: the file's metadata). */
  arch?: string;
  /** Number of classes (default: the metadata, else the head's rows). */
  classes?: number;
  device?: Device;
}

/** A weights file (safetensors or a PyTorch state dict) as a predictor; loaded strictly. */
export async function weightsPredictor(
  path: string,
  opts: WeightsPredictorOptions = {},
): Promise<Predictor> {
  // A misspelt architecture is said before the (large) file is read.
  if (opts.arch !== undefined && !isArchitecture(opts.arch)) {
    throw new InputError("arch", unknownArchitecture(opts.arch));
  }
  const file = await readWeightsFile(path);
  const meta: WeightsMetadata | undefined = file.metadata;
  // The method decides the prediction rule: an unknown one is the file's fault, said so.
  if (meta?.method !== undefined) {
    try {
      methodByName(meta.method);
    } catch {
      throw new InputError(`${path}: metadata 'method' names an unknown method '${meta.method}'`);
    }
  }
  const arch = opts.arch ?? meta?.arch;
  if (arch === undefined) {
    throw new InputError("arch", `${path} does not name its architecture; pass \`arch\``);
  }
  if (!isArchitecture(arch)) {
    throw new InputError("arch", unknownArchitecture(arch));
  }
  const headWeight = file.tensors.get("fc.weight") ?? file.tensors.get("head.weight") ??
    file.tensors.get("head.0.weight");
  const classes = opts.classes ?? meta?.classes ?? headWeight?.shape[0];
  if (classes === undefined) {
    throw new InputError("classes", `cannot tell the class count of ${path}; pass \`classes\``);
  }
  const firstConv = [...file.tensors.values()].find((t) => t.shape.length === 4);
  const channels = meta?.inChannels ?? firstConv?.shape[1] ?? 3;
  const model = Model.create({
    arch,
    classes,
    inChannels: channels,
    head: (meta?.head ?? "linear") as Head,
    scale: meta?.scale,
    device: opts.device,
  });
  try {
    loadWeights(model, file.tensors, { source: path });
  } catch (e) {
    model.dispose();
    throw e;
  }
  const imageSize = meta?.imageSize ?? defaultSize(arch);
  const fallback = datasetInput(
    channels === 1 ? "fashion-mnist" : imageSize <= 32 ? "cifar100" : "image-list",
  );
  const beside = path.replace(/[^/]*$/, "") + "classes.txt";
  return {
    model,
    channels,
    imageSize,
    resizeTo: resizeFor(imageSize),
    mean: meta?.mean ?? fallback.mean,
    std: meta?.std ?? fallback.std,
    // Names for exactly these classes (a --classes that differs from the
    // metadata's count gets the classes' indices).
    classNames: (meta?.classNames?.length === classes ? meta.classNames : undefined) ??
      (await classesFile(beside, classes)) ?? Array.from({ length: classes }, (_, i) => `${i}`),
    trainCounts: meta?.trainCounts,
    logitPrior: meta?.logitPrior,
    method: meta?.method ?? "softmax",
    head: (meta?.head ?? "linear") as Head,
    scale: meta?.scale,
    dispose: () => model.dispose(),
  };
}

/** Images read for a batch: the uint8 tensors, the paths kept, and those skipped. */
export interface ImageInputs {
  /** uint8 [N, C, S, S]. */
  images: Tensor;
  paths: string[];
  skipped: { path: string; error: string }[];
}

/**
 * Reads image files as the predictor's evaluation sees them. A bad file is
 * an InputError naming it, or with `skipBad` is listed in `skipped`.
 */
export function readImageInputs(
  p: Pick<Predictor, "channels" | "imageSize" | "resizeTo">,
  paths: readonly string[],
  skipBad = false,
): ImageInputs {
  const kept: Tensor[] = [];
  const keptPaths: string[] = [];
  const skipped: { path: string; error: string }[] = [];
  try {
    for (const path of paths) {
      try {
        kept.push(prepareImage(path, p.imageSize, p.channels, p.resizeTo));
        keptPaths.push(path);
      } catch (e) {
        if (!(e instanceof InputError) || !skipBad) throw e;
        skipped.push({ path, error: e.message });
      }
    }
    if (kept.length === 0) throw new NoImagesError(skipped);
    return { images: stack(kept, 0), paths: keptPaths, skipped };
  } finally {
    for (const t of kept) t.dispose();
  }
}

/**
 * Logits [N, classes] of image files, read and run `chunk` at a time (so a
 * long list never sits in memory at once), with the paths kept and those
 * skipped (with `skipBad`; otherwise a bad file is an InputError naming it).
 */
export function predictImages(
  p: Predictor,
  paths: readonly string[],
  opts: { skipBad?: boolean; chunk?: number } = {},
): { logits: Tensor; paths: string[]; skipped: { path: string; error: string }[] } {
  const chunk = opts.chunk ?? 256;
  const parts: Tensor[] = [];
  const kept: string[] = [];
  const skipped: { path: string; error: string }[] = [];
  try {
    for (let start = 0; start < paths.length; start += chunk) {
      let read: ImageInputs;
      try {
        read = readImageInputs(p, paths.slice(start, start + chunk), opts.skipBad === true);
      } catch (e) {
        // A chunk of unreadable images only, skipped.
        if (!(e instanceof NoImagesError)) throw e;
        skipped.push(...e.skipped);
        continue;
      }
      try {
        parts.push(predictBatch(p, read.images));
      } finally {
        read.images.dispose();
      }
      kept.push(...read.paths);
      skipped.push(...read.skipped);
    }
    if (parts.length === 0) throw new InputError("no readable images among the inputs");
    const logits = scope(() => (parts.length === 1 ? parts[0].clone() : cat(parts, 0)));
    return { logits, paths: kept, skipped };
  } finally {
    for (const t of parts) t.dispose();
  }
}

/** Every image of a chunk was unreadable (and skipped). */
class NoImagesError extends InputError {
  constructor(readonly skipped: { path: string; error: string }[]) {
    super("no readable images among the inputs");
  }
}

/**
 * Logits [N, classes] (float32, CPU) of a batch: uint8 pixels [N, C, S, S]
 * are normalised with the predictor's mean and std; float32 inputs are
 * taken as already normalised. Eval mode, no gradients, in chunks. A
 * multi-expert network (SADE, BalPoE) gives its experts' average (BalPoE's
 * own prediction; SADE's without its test-time aggregation).
 */
export function predictBatch(p: Predictor, inputs: Tensor, chunk = 64): Tensor {
  const shape = inputs.shape;
  if (shape.length !== 4 || shape[1] !== p.channels) {
    throw new InputError(
      `inputs of shape [${shape.join(", ")}]: the model takes [N, ${p.channels}, H, W]`,
    );
  }
  if (inputs.dtype !== "uint8" && inputs.dtype !== "float32") {
    throw new InputError(`inputs of dtype ${inputs.dtype}: use uint8 pixels or float32`);
  }
  if (shape[0] === 0) throw new InputError("inputs of shape [0, ...]: there is nothing to predict");
  p.model.eval();
  const parts: Tensor[] = [];
  try {
    for (let start = 0; start < shape[0]; start += chunk) {
      parts.push(scope(() =>
        noGrad(() => {
          let x = inputs.narrow(0, start, Math.min(chunk, shape[0] - start));
          if (x.dtype === "uint8") {
            const c = p.channels;
            x = x.to("float32").div(255)
              .sub(tensor(Float32Array.from(p.mean), [1, c, 1, 1]))
              .div(tensor(Float32Array.from(p.std), [1, c, 1, 1]));
          }
          const logits = forwardChecked(p, x.to(p.model.device)).to("float32").to("cpu");
          // A multi-expert network (SADE, BalPoE): the experts' plain average.
          return p.model.experts > 1 ? expertMean(logits, p.model.experts) : logits;
        })
      ));
    }
    return scope(() => (parts.length === 1 ? parts[0].clone() : cat(parts, 0)));
  } finally {
    for (const t of parts) t.dispose();
  }
}

/**
 * The model's forward pass, with libtorch's complaint about a size the
 * network cannot take ("mat1 and mat2 shapes cannot be multiplied") said in
 * the inputs' terms: the side it was given and the side it expects.
 */
function forwardChecked(p: Predictor, x: Tensor): Tensor {
  try {
    return p.model.forward(x);
  } catch (e) {
    if (!(e instanceof TorchError)) throw e;
    const [, c, h, w] = x.shape;
    throw new InputError(
      `inputs of ${h}x${w} pixels (${c} channel(s)): ${p.model.arch} takes ` +
        `${p.imageSize}x${p.imageSize} images (resize them, or give image files, which are ` +
        "resized as evaluation does)",
    );
  }
}

/** The target prior to predict under. */
export type PriorChoice = "uniform" | "train" | "em" | number[];

/** Inputs EM needs at least (and at least one per class). */
export const EM_MIN_INPUTS = 20;

/** One input's top classes. */
export interface Prediction {
  /** The class indices, most probable first. */
  classes: number[];
  /** Their probabilities. */
  probs: number[];
}

/** The predictions of `logits` under a prior, and the prior used. */
export function applyPrior(
  p: Pick<Predictor, "trainCounts" | "method" | "logitPrior">,
  logits: Tensor,
  prior: PriorChoice,
  topk: number,
  /** The prior as the user named it (a file's path), for messages. */
  priorName?: string,
): { predictions: Prediction[]; targetPrior?: number[]; rule: string } {
  const [n, c] = logits.shape;
  const k = Math.max(1, Math.min(topk, c));
  if (p.trainCounts === undefined && prior !== "train") {
    const name = priorName ?? (Array.isArray(prior) ? "the given prior" : prior);
    throw new InputError(
      "prior",
      `'${name}' needs the training class counts, which this model does not carry ` +
        "(give them as `trainCounts`, use a run or a weights file lade exported, " +
        "or `prior` train)",
    );
  }
  if (p.trainCounts !== undefined && p.trainCounts.length !== c) {
    throw new InputError(`${p.trainCounts.length} training counts for ${c} classes`);
  }
  const source = p.trainCounts ? countsToPrior(p.trainCounts) : undefined;
  // What the classifier was trained under: the rules compensate it (not p_s
  // for cRT, LWS or tau-norm, whose classifier is already balanced).
  const trained = p.trainCounts
    ? modelLogitPrior({ method: p.method, trainCounts: p.trainCounts, logitPrior: p.logitPrior })
    : undefined;
  let target: number[] | undefined;
  if (prior === "uniform") target = new Array(c).fill(1 / c);
  else if (prior === "train") target = source;
  else if (prior === "em") {
    if (n < Math.max(EM_MIN_INPUTS, c)) {
      throw new InputError(
        "prior",
        `em needs at least ${
          Math.max(EM_MIN_INPUTS, c)
        } inputs (one per class, and ${EM_MIN_INPUTS}), got ${n}`,
      );
    }
    target = scope(() => {
      const probs = sourcePosteriorLogits(logits, trained!, source!).softmax(1);
      return emPrior(probs, source!).prior;
    });
  } else {
    if (prior.length !== c) {
      throw new InputError(
        "prior",
        `needs ${c} non-negative numbers (one per class), got ${prior.length}`,
      );
    }
    // Scaled by the largest first: ten values of 1e308 are a uniform prior.
    target = normalisePrior(prior, "prior");
  }
  const uniformLogits = methodByName(p.method).logitPrior === "uniform";
  const rule = source === undefined ? "softmax" : uniformLogits ? "lade" : "pc_softmax";
  // Logits that are NaN or infinite (damaged weights, damaged inputs) have no probabilities.
  const rowBad = scope(() => logits.isfinite().logicalNot().any(1).toList());
  const notFinite = rowBad.flatMap((bad, i) => (bad ? [i] : []));
  if (notFinite.length > 0) {
    throw new InputError(
      `the model's outputs for input ${notFinite[0] + 1} are NaN or infinite` +
        (notFinite.length > 1 ? ` (and for ${notFinite.length - 1} more)` : "") +
        " (damaged weights or inputs); no probabilities to show",
    );
  }
  const [values, indices] = scope(() => {
    // In float64, from log-softmax: logits near float32's largest (3e38) plus
    // a log prior neither overflow nor give 0/0.
    const wide = logits.to("float64");
    const adjusted = source === undefined
      ? wide
      : adjustLogits(wide, rule as "lade" | "pc_softmax", trained!, target!);
    const [v, i] = adjusted.logSoftmax(1).topk(k, 1);
    return [
      Array.from(v.exp().toArray() as Float64Array),
      Array.from(i.toArray() as BigInt64Array, Number),
    ];
  });
  const predictions: Prediction[] = [];
  for (let r = 0; r < n; r++) {
    predictions.push({
      classes: indices.slice(r * k, r * k + k),
      probs: values.slice(r * k, r * k + k),
    });
  }
  return { predictions, targetPrior: target, rule };
}
