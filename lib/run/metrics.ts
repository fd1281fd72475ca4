/**
 * Per-epoch metrics of a run, kept as JSON lines in `metrics.jsonl` (one
 * object per finished epoch) and rewritten atomically after each epoch.
 *
 * @module
 */

import { writeFileAtomic } from "../fs.ts";
import { MAX_TEXT_BYTES, readInputText } from "../input_file.ts";
import { InputError } from "../errors.ts";

/** The metrics file's name inside a run directory. */
export const METRICS_FILE = "metrics.jsonl";

/** One finished epoch. */
export interface EpochMetrics {
  /** Epochs completed (1-based number of the epoch just finished). */
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  loss: number;
  /** Learning rate used during the epoch. */
  lr: number;
  /** Training top-1 (percent) from the logits of the training steps. */
  train_acc: number;
  /** Training throughput. */
  images_per_sec: number;
  /** Seconds of training steps. */
  seconds: number;
  /** Top-1 (percent) on the uniform test set, when evaluated this epoch. */
  test_top1?: number;
  /** Mean per-class top-1 (percent) of the many-shot classes (null: none). */
  test_many?: number | null;
  /** Mean per-class top-1 (percent) of the medium-shot classes (null: none). */
  test_medium?: number | null;
  /** Mean per-class top-1 (percent) of the few-shot classes (null: none). */
  test_few?: number | null;
  /** Top-1 (percent) on the held-out validation split, when the run has one and evaluated this epoch. */
  val_top1?: number;
  /** ISO time the epoch ended. */
  time: string;
}

/** The metrics of `runDir` (empty when there are none yet). */
export async function readMetrics(runDir: string): Promise<EpochMetrics[]> {
  const path = `${runDir}/${METRICS_FILE}`;
  try {
    await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
  }
  const text = await readInputText(path, { maxBytes: MAX_TEXT_BYTES });
  return text.split("\n").filter((l) => l.trim() !== "").map((l, i) => {
    try {
      return JSON.parse(l);
    } catch {
      throw new InputError(`${path} is damaged: line ${i + 1} is not JSON`);
    }
  });
}

/** Writes all metrics of a run (atomically). */
export async function writeMetrics(runDir: string, metrics: EpochMetrics[]): Promise<void> {
  await writeFileAtomic(
    `${runDir}/${METRICS_FILE}`,
    metrics.map((m) => JSON.stringify(m)).join("\n") + (metrics.length ? "\n" : ""),
  );
}
