/**
 * A tiny MNIST-format dataset for the training tests: 10 classes of 28x28
 * images, each class a bright bar at its own place plus noise (learnable in
 * an epoch or two), written as IDX files into a temporary folder.
 */

import { DEFAULT_CONFIG } from "../../lib/config/config.ts";
import { mergeConfig, type TrainConfig, validateConfig } from "../../lib/config/config.ts";
import { Model } from "../../lib/models/model.ts";
import { loadCheckpoint, readManifest } from "../../lib/run/checkpoint.ts";

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  view.setUint8(2, 0x08);
  view.setUint8(3, dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

function split(perClass: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const n = perClass * 10;
  const images = new Uint8Array(n * 28 * 28);
  const labels = new Uint8Array(n);
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let p = 0; p < 28 * 28; p++) images[i * 784 + p] = Math.floor(rand() * 60);
    const row = 2 + c * 2;
    for (let x = 4; x < 24; x++) images[i * 784 + row * 28 + x] = 255;
  }
  return { images, labels };
}

/** Writes the fixture into a new temporary folder and returns it. */
export async function writeFixture(trainPerClass = 24, testPerClass = 6): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lade-train-" });
  for (
    const [prefix, perClass, seed] of [["train", trainPerClass, 1], [
      "t10k",
      testPerClass,
      2,
    ]] as const
  ) {
    const { images, labels } = split(perClass, seed);
    await Deno.writeFile(
      `${dir}/${prefix}-images-idx3-ubyte`,
      idx([labels.length, 28, 28], images),
    );
    await Deno.writeFile(`${dir}/${prefix}-labels-idx1-ubyte`, idx([labels.length], labels));
  }
  return dir;
}

/** A small, fast config over the fixture (override with `patch`). */
export function fixtureConfig(root: string, patch: Record<string, unknown> = {}): TrainConfig {
  const base = mergeConfig(DEFAULT_CONFIG, {
    dataset: { name: "mnist-lt", root, imbalance: 3 },
    train: { epochs: 3, batch_size: 16, eval_every: 1, eval_batch_size: 64 },
    threads: 1,
  });
  return validateConfig(mergeConfig(base, patch), "test");
}

/** Options for lib/train's train() that print nothing. */
export const quiet = { log: () => {}, tty: false };

/** A cnn28 run's latest checkpoint as one vector (parameters and buffers). */
export async function weights(runDir: string): Promise<Float32Array> {
  const m = (await readManifest(runDir))!;
  using model = Model.create({ arch: "cnn28", classes: m.classes, inChannels: m.inChannels });
  await loadCheckpoint(runDir, model);
  using v = model.stateVector(true);
  return v.toArray() as Float32Array;
}
