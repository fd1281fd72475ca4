/**
 * Checkpoints of a run: the model's weights (safetensors, lade's names and
 * metadata, as `weights export` writes them; runs written before that hold
 * a libtorch archive, which still loads), the optimiser's momentum buffer (a
 * libtorch archive made by native/), and a JSON manifest with everything
 * else a resumed run needs
 * (epoch and step, running sums of the unfinished epoch, libtorch's default
 * generator state, class counts, config) plus SHA-256 digests of the two
 * archives.
 *
 * Writes are atomic: both files are made in memory (the weights by
 * lib/weights/, the optimiser's archive by native/) and written by lib/fs.ts to new, uniquely named files (through temporary names
 * and a rename), and the manifest `checkpoint.json` is renamed into place
 * last. A process killed at any moment therefore leaves either the previous
 * manifest with its files or the new one with its files; the files of older
 * checkpoints are deleted only after the new manifest is in place. A write
 * that fails (a full disk) removes what it wrote and throws a
 * {@link CheckpointWriteError}: the previous checkpoint stays the latest.
 *
 * The best checkpoint (`train.keep` with best) costs no extra write: at an
 * epoch whose validation top-1 beats every earlier one, the manifest's `best`
 * points at that checkpoint's own weights file, which later checkpoints then
 * leave in place (only files neither `model` nor `best` names are deleted).
 *
 * A manifest is checked whole against a schema before anything in it is
 * used: a field missing, of the wrong type or out of range (negative counts,
 * an epoch past the run's end, archive paths outside `checkpoints/`, text
 * that is not base64) is an InputError naming the manifest and the field.
 *
 * @module
 */

import { plural } from "../plural.ts";
import { z } from "zod";
import { decodeBase64, encodeBase64 } from "./base64.ts";
import { InputError, LadeError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import {
  MAX_BINARY_BYTES,
  MAX_JSON_DEPTH,
  MAX_TEXT_BYTES,
  nestedDeeperThan,
  readInputFile,
  readInputText,
} from "../input_file.ts";
import { ARCHITECTURES, type Model } from "../models/model.ts";
import { checkPtr, checkStatus, TorchError } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { Tensor, tensor } from "../torch/mod.ts";
import { type TrainConfig, validateConfig } from "../config/config.ts";
import { encodeMetadata, loadWeights, modelStateDict } from "../weights/model_weights.ts";
import { encodeSafetensors, parseSafetensors } from "../weights/safetensors.ts";

/** An optimiser's state as a checkpoint keeps it (lib/train/optimizer.ts's SGD is one). */
export interface OptimizerState {
  /** The state as bytes. */
  serialize(): Uint8Array;
  /** Restores the state from `bytes` (read from `path`, for messages). */
  deserialize(bytes: Uint8Array, path: string): void;
}

/** The manifest's file name inside a run directory. */
export const MANIFEST = "checkpoint.json";
/** The folder of the archives inside a run directory. */
export const CHECKPOINT_DIR = "checkpoints";

/** Sums of the epoch in progress, so a run resumed mid-epoch reports the same metrics. */
export interface RunningSums {
  /** Sum of batch losses times batch sizes. */
  loss: number;
  /** Correctly classified training samples (argmax of the logits). */
  correct: number;
  /** Training samples seen. */
  seen: number;
  /** Seconds spent in training steps. */
  seconds: number;
}

/** Which checkpoint of a run to load: the latest (`last`, the default) or the best by validation top-1. */
export type CheckpointChoice = "best" | "last";

/** The checkpoint choices, as flags take them. */
export const CHECKPOINT_CHOICES: readonly CheckpointChoice[] = ["last", "best"];

/** The weights of the epoch with the best validation top-1 so far. */
export interface BestCheckpoint {
  /** The weights file, relative to the run directory (in checkpoints/). */
  model: string;
  /** Its SHA-256 (hex). */
  sha256: string;
  /** Epochs completed when it was written (1-based epoch). */
  epoch: number;
  /** Its top-1 (percent) on the validation split. */
  valTop1: number;
}

/**
 * Model selection on the validation split as it stands: what a resumed run
 * continues with (PyTorch Lightning's ModelCheckpoint and EarlyStopping state).
 */
export interface Selection {
  /** The best validation top-1 so far (null before the first evaluation). */
  best: number | null;
  /** The epoch (1-based) it was reached in; 0 before. */
  bestEpoch: number;
  /** Early stopping's reference: the best value that improved by more than min_delta. */
  reference: number | null;
  /** Validation checks since the reference last improved. */
  wait: number;
  /** True once early stopping ended the run (a resume then trains no further). */
  stopped: boolean;
}

/** What a checkpoint records besides the archives. */
export interface CheckpointState {
  /** The epoch to continue with (0-based); equals the epochs completed when `step` is 0. */
  epoch: number;
  /** Batches of `epoch` already done (0 at an epoch boundary). */
  step: number;
  /** Sums of the unfinished epoch (zeros at a boundary). */
  running: RunningSums;
  /** Per-class training counts. */
  trainCounts: number[];
  /**
   * The prior the classifier was effectively trained under, which the
   * prediction rules compensate (lib/eval/logit_prior.ts: uniform for a
   * class-balanced sampler and the second stages, the square-root prior for
   * `sqrt`, the source prior for softmax on shuffled epochs). Absent in runs
   * written before it was recorded: then derived from the config.
   */
  logitPrior?: number[];
  /** The resolved configuration. */
  config: TrainConfig;
  /** The architecture actually built (config.model.arch may be "auto"). */
  arch: string;
  /** Input channels of the model. */
  inChannels: number;
  /** Number of classes. */
  classes: number;
  /** Class names of the dataset. */
  classNames: string[];
  /**
   * Ranks that trained the run up to here (absent before distributed
   * training: 1). A resumed run may use another number of ranks: the global
   * sample order does not depend on it.
   */
  worldSize?: number;
  /** Model selection on the validation split, when the run keeps the best or stops early. */
  selection?: Selection;
  /** The best checkpoint so far (`train.keep` with best), carried from checkpoint to checkpoint. */
  best?: BestCheckpoint;
}

/** The manifest: the state, where the archives are, and their digests. */
export interface Manifest extends CheckpointState {
  version: 1;
  /** Archive paths relative to the run directory. */
  model: string;
  optimizer: string;
  /** SHA-256 (hex) of each archive. */
  sha256: { model: string; optimizer: string };
  /** libtorch's default CPU generator state, base64. */
  rng: string;
  /** ISO time of writing. */
  savedAt: string;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A checkpoint that could not be written (a full disk, a read-only folder); nothing of it is left. */
export class CheckpointWriteError extends LadeError {
  /** Always "CheckpointWriteError". */
  override name = "CheckpointWriteError";
}

/** libtorch's default CPU generator state (the global one that model init and ops draw from). */
export function defaultGeneratorState(): Uint8Array {
  const g = checkPtr(native().lade_generator_default(), "default generator");
  try {
    const t = new Tensor(checkPtr(native().lade_generator_get_state(g), "generator state"));
    try {
      return t.toArray() as Uint8Array;
    } finally {
      t.dispose();
    }
  } finally {
    native().lade_generator_free(g);
  }
}

/** Restores libtorch's default CPU generator state. */
export function setDefaultGeneratorState(state: Uint8Array): void {
  const g = checkPtr(native().lade_generator_default(), "default generator");
  try {
    using t = tensor(state, [state.length], "uint8");
    checkStatus(native().lade_generator_set_state(g, t.ptr), "generator state");
  } finally {
    native().lade_generator_free(g);
  }
}

function tag(state: CheckpointState): string {
  return `e${String(state.epoch).padStart(4, "0")}-s${String(state.step).padStart(6, "0")}`;
}

/**
 * Saves a checkpoint of `model` and `optimizer` into `runDir` (see the module
 * notes). With `markBest`, this checkpoint's weights become the run's best
 * (with that validation top-1); otherwise `state.best` is carried over. A
 * failed write removes the files it made and throws a CheckpointWriteError
 * saying which checkpoint is still the latest.
 */
export async function saveCheckpoint(
  runDir: string,
  model: Model,
  optimizer: OptimizerState,
  state: CheckpointState,
  opts: { markBest?: { valTop1: number } } = {},
): Promise<Manifest> {
  const dir = `${runDir}/${CHECKPOINT_DIR}`;
  // A unique suffix keeps a rerun of the same (epoch, step) from overwriting
  // files that the current manifest still points at.
  const suffix = `${tag(state)}-${Date.now().toString(36)}`;
  const modelRel = `${CHECKPOINT_DIR}/model-${suffix}.safetensors`;
  const optimRel = `${CHECKPOINT_DIR}/optimizer-${suffix}.pt`;
  const written: string[] = [];
  let manifest: Manifest;
  try {
    await Deno.mkdir(dir, { recursive: true });
    // Both files are made in memory first: a full disk is then an error of
    // this write, not an exception inside libtorch's file writer.
    const modelBytes = encodeSafetensors(
      modelStateDict(model),
      encodeMetadata({
        arch: state.arch,
        classes: state.classes,
        inChannels: state.inChannels,
        head: state.config.model.head,
        ...(state.config.model.head === "cosine" ? { scale: state.config.model.scale } : {}),
        method: state.config.method.name,
        dataset: state.config.dataset.name,
        epoch: state.epoch,
      }),
    );
    const optimBytes = optimizer.serialize();
    written.push(`${runDir}/${modelRel}`);
    await writeFileAtomic(`${runDir}/${modelRel}`, modelBytes);
    written.push(`${runDir}/${optimRel}`);
    await writeFileAtomic(`${runDir}/${optimRel}`, optimBytes);
    const modelDigest = await sha256(modelBytes);
    const best: BestCheckpoint | undefined = opts.markBest
      ? { model: modelRel, sha256: modelDigest, epoch: state.epoch, valTop1: opts.markBest.valTop1 }
      : state.best;
    manifest = {
      version: 1,
      ...state,
      ...(best && { best }),
      model: modelRel,
      optimizer: optimRel,
      sha256: { model: modelDigest, optimizer: await sha256(optimBytes) },
      rng: encodeBase64(defaultGeneratorState()),
      savedAt: new Date().toISOString(),
    };
    await writeFileAtomic(`${runDir}/${MANIFEST}`, JSON.stringify(manifest, null, 1) + "\n");
  } catch (e) {
    for (const path of written) await Deno.remove(path).catch(() => {});
    throw await writeFailure(runDir, state, e);
  }
  // Now the old archives (and temporaries of interrupted writes) are unreferenced.
  await removeUnreferenced(runDir, manifest);
  return manifest;
}

/** The error of a checkpoint write that failed with `cause`, naming the checkpoint still in place. */
async function writeFailure(
  runDir: string,
  state: CheckpointState,
  cause: unknown,
): Promise<LadeError> {
  return await runWriteFailure(runDir, `the checkpoint of ${checkpointPlace(state)}`, cause);
}

/**
 * The error of a write into a run directory (`what`: "the checkpoint of the
 * end of epoch 3", "the metrics of epoch 3") that failed with `cause` (a
 * full disk): one line naming it, why, and which checkpoint is still the
 * latest.
 */
export async function runWriteFailure(
  runDir: string,
  what: string,
  cause: unknown,
): Promise<CheckpointWriteError> {
  const why = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
  const previous = await readManifest(runDir).catch(() => null);
  const kept = previous === null
    ? "no checkpoint had been written before"
    : `the previous checkpoint (${checkpointPlace(previous)}) is intact and still the latest`;
  return new CheckpointWriteError(`cannot write ${what} to ${runDir}: ${why}; ${kept}`, {
    cause,
  });
}

/** Where a checkpoint stands: "epoch 3, step 120" (1-based epoch in progress) or "the end of epoch 3". */
export function checkpointPlace(s: { epoch: number; step: number }): string {
  return s.step === 0 ? `the end of epoch ${s.epoch}` : `epoch ${s.epoch + 1}, step ${s.step}`;
}

/**
 * Deletes the files of `checkpoints/` that `manifest` does not point at (its
 * model, optimiser and best weights): the archives of older checkpoints and
 * what interrupted writes left. Without a manifest, every file there goes.
 */
export async function removeUnreferenced(runDir: string, manifest: Manifest | null): Promise<void> {
  const dir = `${runDir}/${CHECKPOINT_DIR}`;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const entry of entries) {
    const rel = `${CHECKPOINT_DIR}/${entry.name}`;
    const kept = [manifest?.model, manifest?.optimizer, manifest?.best?.model];
    if (entry.isFile && !kept.includes(rel)) {
      await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    }
  }
}

const nonNegInt = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, "must be a finite number");
const archivePath = z.string().regex(
  new RegExp(`^${CHECKPOINT_DIR}/[A-Za-z0-9._-]+\\.(pt|safetensors)$`),
  `must name a .pt or .safetensors file in ${CHECKPOINT_DIR}/`,
);
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "must be a SHA-256 digest (64 hex digits)");

/** The schema of a manifest (its config is checked by validateConfig afterwards). */
const ManifestSchema = z.object({
  version: z.literal(1),
  epoch: nonNegInt,
  step: nonNegInt,
  running: z.object({
    loss: finite,
    correct: nonNegInt,
    seen: nonNegInt,
    seconds: z.number().min(0),
  }),
  trainCounts: z.array(z.number().int().min(1, "must be positive")).min(2),
  logitPrior: z.array(z.number().min(0, "must be >= 0").max(1, "must be <= 1")).optional(),
  config: z.record(z.string(), z.unknown()),
  arch: z.enum(ARCHITECTURES),
  inChannels: z.union([z.literal(1), z.literal(3)]),
  classes: z.number().int().min(2),
  classNames: z.array(z.string()),
  worldSize: z.number().int().min(1).optional(),
  selection: z.object({
    best: finite.nullable(),
    bestEpoch: nonNegInt,
    reference: finite.nullable(),
    wait: nonNegInt,
    stopped: z.boolean(),
  }).optional(),
  best: z.object({
    model: archivePath.refine((p) => p.endsWith(".safetensors"), "must be a .safetensors file"),
    sha256: hex64,
    epoch: nonNegInt,
    valTop1: finite,
  }).optional(),
  model: archivePath,
  optimizer: archivePath,
  sha256: z.object({ model: hex64, optimizer: hex64 }),
  rng: z.string().min(4).regex(/^[A-Za-z0-9+/]+={0,2}$/, "must be base64"),
  savedAt: z.string(),
}).superRefine((m, ctx) => {
  if (m.trainCounts.length !== m.classes) {
    ctx.addIssue({
      code: "custom",
      path: ["trainCounts"],
      message: `lists ${m.trainCounts.length} classes, not ${m.classes}`,
    });
  }
  if (m.logitPrior !== undefined) {
    const total = m.logitPrior.reduce((a, b) => a + b, 0);
    if (m.logitPrior.length !== m.classes || Math.abs(total - 1) > 1e-6) {
      ctx.addIssue({
        code: "custom",
        path: ["logitPrior"],
        message: `must be ${m.classes} numbers summing to 1`,
      });
    }
  }
  if (m.classNames.length !== m.classes) {
    ctx.addIssue({
      code: "custom",
      path: ["classNames"],
      message: `lists ${m.classNames.length} names for ${m.classes} classes`,
    });
  }
  if (m.running.correct > m.running.seen) {
    ctx.addIssue({
      code: "custom",
      path: ["running", "correct"],
      message: `${m.running.correct} is more than the ${m.running.seen} samples seen`,
    });
  }
  if (m.step > 0 && m.running.seen === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["running", "seen"],
      message: `is 0 although ${m.step} steps of the epoch are done`,
    });
  }
});

/** What a value is, for a message: its JSON, cut short. */
function shown(value: unknown): string {
  if (value === undefined) return "missing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (typeof cur !== "object" || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/**
 * Checks a parsed manifest whole (fields, ranges, the config inside it); an
 * InputError naming `file` and the field at fault otherwise.
 */
export function validateManifest(value: unknown, file: string): Manifest {
  const r = ManifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join(".") || "the manifest";
    const got = issue.code === "custom" ? "" : ` (${shown(valueAt(value, issue.path))})`;
    throw new InputError(`${file} is damaged: ${field}: ${issue.message}${got}`);
  }
  const m = r.data;
  let config: TrainConfig;
  try {
    config = validateConfig(m.config, `${file} (config)`);
  } catch (e) {
    throw new InputError(`${file} is damaged: ${(e as Error).message.replace(`${file} `, "")}`);
  }
  const epochs = config.train.epochs;
  if (m.epoch > epochs || (m.epoch === epochs && m.step > 0)) {
    throw new InputError(
      `${file} is damaged: epoch ${m.epoch}, step ${m.step} is past the run's ${
        plural(epochs, "epoch")
      }`,
    );
  }
  let rng: Uint8Array;
  try {
    rng = decodeBase64(m.rng);
  } catch {
    throw new InputError(`${file} is damaged: rng: must be base64`);
  }
  if (rng.length === 0) throw new InputError(`${file} is damaged: rng: is empty`);
  return { ...m, config } as Manifest;
}

/** The run's manifest, or null when it has none. A damaged manifest is an InputError. */
export async function readManifest(runDir: string): Promise<Manifest | null> {
  const file = `${runDir}/${MANIFEST}`;
  try {
    await Deno.lstat(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
  }
  // A regular file of a sensible size (a FIFO or a device planted there is refused).
  const text = await readInputText(file, { maxBytes: MAX_TEXT_BYTES });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file} is damaged: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  // Its configuration is merged and compared by code that recurses per level.
  if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
    throw new InputError(`${file} is damaged: nested more than ${MAX_JSON_DEPTH} levels deep`);
  }
  return validateManifest(parsed, file);
}

/** The bytes of an archive, checked against the manifest's digest. */
async function verified(runDir: string, rel: string, digest: string): Promise<Uint8Array> {
  const path = `${runDir}/${rel}`;
  const bytes = await readInputFile(path, {
    maxBytes: MAX_BINARY_BYTES,
    what: "checkpoint file",
    missing: `checkpoint file ${path} is missing`,
  });
  if ((await sha256(bytes)) !== digest) {
    throw new InputError(`checkpoint file ${path} is damaged (SHA-256 mismatch)`);
  }
  return bytes;
}

/** Runs `load`; a native failure is an InputError: the checkpoint does not fit what it describes. */
function asDamaged(what: string, load: () => void): void {
  try {
    load();
  } catch (e) {
    if (!(e instanceof TorchError)) throw e;
    const why = (e.nativeMessage ?? e.message).split("\n")[0];
    throw new InputError(`${what} does not fit the checkpoint's manifest: ${why}`, undefined, {
      cause: e,
    });
  }
}

/**
 * The checkpoint choice a flag names; an InputError for `checkpoint` otherwise.
 */
export function parseCheckpointChoice(text: string | undefined): CheckpointChoice {
  if (text === undefined) return "last";
  if (!(CHECKPOINT_CHOICES as readonly string[]).includes(text)) {
    throw new InputError("checkpoint", `must be best or last, got '${text}'`);
  }
  return text as CheckpointChoice;
}

/**
 * The best checkpoint of a run's manifest; an InputError saying how to get
 * one when the run kept none.
 */
export function bestOf(m: Manifest, runDir: string): BestCheckpoint {
  if (m.best === undefined) {
    throw new InputError(
      "checkpoint",
      `${runDir} kept no best checkpoint: train with \`train.keep\` best,last and a ` +
        "validation split (`dataset.val_per_class` K)",
    );
  }
  return m.best;
}

/**
 * Loads the run's latest checkpoint into `model` (and `optimizer`, when
 * given; with `restoreRng`, also libtorch's default generator), or with
 * `which` "best" the weights of its best epoch (model only). Throws an
 * InputError when there is none or a file is damaged.
 */
export async function loadCheckpoint(
  runDir: string,
  model: Model,
  optimizer?: OptimizerState,
  restoreRng = false,
  which: CheckpointChoice = "last",
): Promise<Manifest> {
  const m = await readManifest(runDir);
  if (m === null) {
    throw new InputError(`${runDir} has no checkpoint (${MANIFEST}); train it first`);
  }
  if (which === "best") {
    if (optimizer !== undefined || restoreRng) {
      throw new InputError(
        "checkpoint",
        "the best checkpoint holds weights only; resume from last",
      );
    }
    const best = bestOf(m, runDir);
    const path = `${runDir}/${best.model}`;
    const bytes = await verified(runDir, best.model, best.sha256);
    loadWeights(model, parseSafetensors(bytes, path).tensors, { source: path });
    return m;
  }
  const modelPath = `${runDir}/${m.model}`;
  const modelBytes = await verified(runDir, m.model, m.sha256.model);
  if (m.model.endsWith(".safetensors")) {
    // The file's own checks (header, sizes, names) give InputErrors.
    const file = parseSafetensors(modelBytes, modelPath);
    loadWeights(model, file.tensors, { source: modelPath });
  } else {
    // A run written before the weights were safetensors: libtorch's archive.
    asDamaged(`checkpoint file ${modelPath}`, () => model.deserialize(modelBytes, modelPath));
  }
  if (optimizer) {
    const optimPath = `${runDir}/${m.optimizer}`;
    const optimBytes = await verified(runDir, m.optimizer, m.sha256.optimizer);
    asDamaged(`checkpoint file ${optimPath}`, () => optimizer.deserialize(optimBytes, optimPath));
  }
  if (restoreRng) {
    asDamaged(
      `the rng of ${runDir}/${MANIFEST}`,
      () => setDefaultGeneratorState(decodeBase64(m.rng)),
    );
  }
  return m;
}
