/**
 * Per-epoch metrics of a run, kept as JSON lines in `metrics.jsonl` (one
 * object per finished epoch) and as CSV in `metrics.csv` (the same columns,
 * a header and a row per epoch, an empty cell where a value is absent), both
 * rewritten atomically after each epoch.
 *
 * @module
 */

import { writeFileAtomic } from "../fs.ts";
import { MAX_TEXT_BYTES, readInputText } from "../input_file.ts";
import { InputError } from "../errors.ts";

/** The metrics file's name inside a run directory. */
export const METRICS_FILE = "metrics.jsonl";
/** The same metrics as CSV, for spreadsheets and pandas.read_csv. */
export const METRICS_CSV = "metrics.csv";

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

/** The columns of metrics.csv: every field of EpochMetrics, in the order of metrics.jsonl. */
export const METRICS_COLUMNS: readonly (keyof EpochMetrics)[] = [
  "epoch",
  "loss",
  "lr",
  "train_acc",
  "images_per_sec",
  "seconds",
  "test_top1",
  "test_many",
  "test_medium",
  "test_few",
  "val_top1",
  "time",
];

/** A CSV cell (RFC 4180): numbers as JSON writes them, absent and null empty, text quoted when needed. */
function csvCell(v: unknown): string {
  if (v === undefined || v === null) return "";
  const text = typeof v === "number" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The metrics as CSV text: a header of METRICS_COLUMNS and a row per epoch. */
export function metricsCsv(metrics: readonly EpochMetrics[]): string {
  const rows = [METRICS_COLUMNS.join(",")];
  for (const m of metrics) rows.push(METRICS_COLUMNS.map((c) => csvCell(m[c])).join(","));
  return rows.join("\n") + "\n";
}

/** Writes all metrics of a run (atomically): metrics.jsonl, then metrics.csv. */
export async function writeMetrics(runDir: string, metrics: EpochMetrics[]): Promise<void> {
  await writeFileAtomic(
    `${runDir}/${METRICS_FILE}`,
    metrics.map((m) => JSON.stringify(m)).join("\n") + (metrics.length ? "\n" : ""),
  );
  await writeFileAtomic(`${runDir}/${METRICS_CSV}`, metricsCsv(metrics));
}
