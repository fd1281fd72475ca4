/**
 * Checkpoints of a run: the model's weights (safetensors, lade's names and
 * metadata, as `weights export` writes them; runs written before that hold
 * a libtorch archive, which still loads), the optimiser's momentum buffer (a
 * libtorch archive written by native/), and a JSON manifest with everything else a resumed run needs
 * (epoch and step, running sums of the unfinished epoch, libtorch's default
 * generator state, class counts, config) plus SHA-256 digests of the two
 * archives.
 *
 * Writes are atomic: the archives go to new, uniquely named files (through
 * temporary names and a rename), and the manifest `checkpoint.json` is
 * renamed into place last. A process killed at any moment therefore leaves
 * either the previous manifest with its files or the new one with its files;
 * the files of older checkpoints are deleted only after the new manifest is
 * in place.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "./base64.ts";
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import type { Model } from "../models/model.ts";
import { checkPtr, checkStatus } from "../torch/errors.ts";
import { native } from "../torch/ffi.ts";
import { Tensor, tensor } from "../torch/mod.ts";
import type { TrainConfig } from "./config.ts";
import type { SGD } from "./optimizer.ts";
import { encodeMetadata, loadWeights, modelStateDict } from "../weights/model_weights.ts";
import { encodeSafetensors, readSafetensors } from "../weights/safetensors.ts";

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

async function sha256File(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
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

/** Saves a checkpoint of `model` and `optimizer` into `runDir` (see the module notes). */
export async function saveCheckpoint(
  runDir: string,
  model: Model,
  optimizer: SGD,
  state: CheckpointState,
): Promise<Manifest> {
  const dir = `${runDir}/${CHECKPOINT_DIR}`;
  await Deno.mkdir(dir, { recursive: true });
  // A unique suffix keeps a rerun of the same (epoch, step) from overwriting
  // files that the current manifest still points at.
  const suffix = `${tag(state)}-${Date.now().toString(36)}`;
  const modelRel = `${CHECKPOINT_DIR}/model-${suffix}.safetensors`;
  const optimRel = `${CHECKPOINT_DIR}/optimizer-${suffix}.pt`;
  await writeFileAtomic(
    `${runDir}/${modelRel}`,
    encodeSafetensors(
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
    ),
  );
  await writeFileAtomic(`${runDir}/${optimRel}`, (tmp) => optimizer.save(tmp));
  const manifest: Manifest = {
    version: 1,
    ...state,
    model: modelRel,
    optimizer: optimRel,
    sha256: {
      model: await sha256File(`${runDir}/${modelRel}`),
      optimizer: await sha256File(`${runDir}/${optimRel}`),
    },
    rng: encodeBase64(defaultGeneratorState()),
    savedAt: new Date().toISOString(),
  };
  await writeFileAtomic(`${runDir}/${MANIFEST}`, JSON.stringify(manifest, null, 1) + "\n");
  // Now the old archives (and temporaries of interrupted writes) are unreferenced.
  for await (const entry of Deno.readDir(dir)) {
    const rel = `${CHECKPOINT_DIR}/${entry.name}`;
    if (entry.isFile && rel !== modelRel && rel !== optimRel) {
      await Deno.remove(`${dir}/${entry.name}`).catch(() => {});
    }
  }
  return manifest;
}

/** The run's manifest, or null when it has none. A damaged manifest is an InputError. */
export async function readManifest(runDir: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${runDir}/${MANIFEST}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.version !== 1 || typeof m.model !== "string" || typeof m.epoch !== "number") {
      throw new Error("unexpected content");
    }
    return m;
  } catch (e) {
    throw new InputError(`${runDir}/${MANIFEST} is damaged: ${(e as Error).message}`);
  }
}

/** Checks an archive against the manifest's digest. */
async function verified(runDir: string, rel: string, digest: string): Promise<string> {
  const path = `${runDir}/${rel}`;
  let actual: string;
  try {
    actual = await sha256File(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(`checkpoint file ${path} is missing`);
    }
    throw e;
  }
  if (actual !== digest) {
    throw new InputError(`checkpoint file ${path} is damaged (SHA-256 mismatch)`);
  }
  return path;
}

/**
 * Loads the run's latest checkpoint into `model` (and `optimizer`, when
 * given; with `restoreRng`, also libtorch's default generator). Throws a
 * InputError when there is none or a file is damaged.
 */
export async function loadCheckpoint(
  runDir: string,
  model: Model,
  optimizer?: SGD,
  restoreRng = false,
): Promise<Manifest> {
  const m = await readManifest(runDir);
  if (m === null) {
    throw new InputError(`${runDir} has no checkpoint (${MANIFEST}); train it first`);
  }
  const modelPath = await verified(runDir, m.model, m.sha256.model);
  if (modelPath.endsWith(".safetensors")) {
    const file = await readSafetensors(modelPath);
    loadWeights(model, file.tensors, { source: modelPath });
  } else {
    // A run written before the weights were safetensors: libtorch's archive.
    model.load(modelPath);
  }
  if (optimizer) optimizer.load(await verified(runDir, m.optimizer, m.sha256.optimizer));
  if (restoreRng) setDefaultGeneratorState(decodeBase64(m.rng));
  return m;
}
