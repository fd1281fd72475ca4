/**
 * Shared by the distributed tests and the rank scripts they start: a small
 * deterministic problem (features, labels, a linear classifier), the
 * LADE loss of a global batch, and a helper that launches rank scripts.
 */
import { launchLocal, type LaunchResult } from "../../lib/distributed/launcher.ts";
import { tensor } from "../../lib/torch/create.ts";
import type { Tensor } from "../../lib/torch/tensor.ts";

/** Classes, feature width and the source prior of the toy problem. */
export const CLASSES = 5;
export const FEATURES = 4;
export const PRIOR = [0.4, 0.25, 0.15, 0.12, 0.08];
export const LADE_OPTIONS = { alpha: 0.1, lambda: 0.1 };
export const LR = 0.5;
export const STEPS = 3;

/** A deterministic pseudo-random value in [-1, 1) (no libtorch generator involved). */
function hash(i: number): number {
  let x = (i + 1) * 2654435761 >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 2246822507) >>> 0;
  x ^= x >>> 13;
  return (x / 4294967296) * 2 - 1;
}

/** The global batch of step `step`: features [n, FEATURES] (float64) and labels. */
export function globalBatch(n: number, step: number): { x: Float64Array; y: BigInt64Array } {
  const x = Float64Array.from({ length: n * FEATURES }, (_, i) => hash(i + 1000 * step) * 2);
  // Class 4 is absent from some batches (LADER's T1 of an absent class is 0).
  const y = BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 3 + step) % (CLASSES - 1)));
  return { x, y };
}

/** The initial classifier weights [FEATURES, CLASSES]. */
export function initialWeights(): Float64Array {
  return Float64Array.from({ length: FEATURES * CLASSES }, (_, i) => hash(7777 + i) * 0.5);
}

/** Rows [start, start + length) of a batch, as tensors. */
export function rows(
  batch: { x: Float64Array; y: BigInt64Array },
  start: number,
  length: number,
): { x: Tensor; y: Tensor } {
  return {
    x: tensor(batch.x.slice(start * FEATURES, (start + length) * FEATURES), [length, FEATURES]),
    y: tensor(batch.y.slice(start, start + length), [length]),
  };
}

/** Launches `script` (under tests/distributed/) as `n` ranks with piped output. */
export function launchScript(
  script: string,
  n: number,
  args: string[] = [],
  options: { timeoutSeconds?: number; graceSeconds?: number; env?: Record<string, string> } = {},
): Promise<LaunchResult> {
  const path = new URL(script, import.meta.url).pathname;
  return launchLocal({
    nprocPerNode: n,
    command: [Deno.execPath(), "run", "-A", path],
    args,
    stdio: "piped",
    ...options,
  });
}

/** The lines of a rank's error output. */
export function errorLines(stderr: string | undefined): string[] {
  return (stderr ?? "").split("\n").filter((l) => l.trim() !== "");
}
