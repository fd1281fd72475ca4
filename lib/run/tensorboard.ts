/**
 * TensorBoard event files of a run's per-epoch metrics (`--tensorboard`,
 * `logs.tensorboard`), written without TensorFlow: the file is a sequence of
 * TFRecords (a little-endian uint64 length, the masked CRC-32C of those 8
 * bytes, the data, the masked CRC-32C of the data), each holding one `Event`
 * protocol buffer (tensorflow/core/util/event.proto):
 *
 * - the first has `wall_time` (field 1, double) and `file_version` (field 3)
 *   "brain.Event:2", which TensorBoard expects first;
 * - then one per epoch: `wall_time`, `step` (field 2, int64: the epoch) and a
 *   `summary` (field 5) whose `value`s (field 1) each hold a `tag` (field 1)
 *   and a `simple_value` (field 2, float), the form TensorBoard's scalar
 *   dashboard reads.
 *
 * The whole file is rewritten (atomically) from the metrics after every
 * epoch, as metrics.jsonl is, so a resumed run's file holds each epoch once.
 *
 * @module
 */

import { writeFileAtomic } from "../fs.ts";
import { maskedCrc32c } from "./crc32c.ts";
import type { EpochMetrics } from "./metrics.ts";

/** The folder of the event files inside a run directory (`tensorboard --logdir RUN/tensorboard`). */
export const TENSORBOARD_DIR = "tensorboard";

/** The scalars of an epoch and their TensorBoard tags. */
export const SCALAR_TAGS: readonly [keyof EpochMetrics, string][] = [
  ["loss", "train/loss"],
  ["train_acc", "train/acc"],
  ["lr", "train/lr"],
  ["images_per_sec", "train/images_per_sec"],
  ["test_top1", "test/top1"],
  ["test_many", "test/many"],
  ["test_medium", "test/medium"],
  ["test_few", "test/few"],
  ["val_top1", "val/top1"],
];

/** Protocol-buffer bytes, appended field by field. */
class ProtoWriter {
  #parts: number[] = [];

  /** An unsigned varint (up to 2^53). */
  varint(value: number): this {
    let v = value;
    while (v >= 0x80) {
      this.#parts.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.#parts.push(v);
    return this;
  }

  #key(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }

  /** A double (wire type 1). */
  double(field: number, value: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.#key(field, 1);
    this.#parts.push(...b);
    return this;
  }

  /** A float (wire type 5). */
  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.#key(field, 5);
    this.#parts.push(...b);
    return this;
  }

  /** A non-negative int64 (wire type 0). */
  int(field: number, value: number): this {
    return this.#key(field, 0).varint(value);
  }

  /** Length-delimited bytes (wire type 2): a string or an embedded message. */
  bytes(field: number, value: Uint8Array): this {
    this.#key(field, 2).varint(value.length);
    this.#parts.push(...value);
    return this;
  }

  /** The bytes written. */
  finish(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

const utf8 = new TextEncoder();

/** An Event with wall_time and file_version "brain.Event:2" (what starts every event file). */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).bytes(3, utf8.encode("brain.Event:2")).finish();
}

/** An Event at `step` with a Summary of scalar values (tag, simple_value). */
export function scalarEvent(
  wallTime: number,
  step: number,
  scalars: readonly [string, number][],
): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of scalars) {
    summary.bytes(1, new ProtoWriter().bytes(1, utf8.encode(tag)).float(2, value).finish());
  }
  return new ProtoWriter().double(1, wallTime).int(2, step).bytes(5, summary.finish()).finish();
}

/** One TFRecord: length, its masked CRC-32C, the data, the data's masked CRC-32C. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** Seconds since the epoch of an ISO time. */
function seconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/** The event file's bytes for a run's metrics (empty metrics: the version event alone, at `now`). */
export function encodeEventFile(
  metrics: readonly EpochMetrics[],
  now = Date.now() / 1000,
): Uint8Array {
  const records = [tfRecord(fileVersionEvent(metrics.length ? seconds(metrics[0].time) : now))];
  for (const m of metrics) {
    const scalars: [string, number][] = [];
    for (const [key, tag] of SCALAR_TAGS) {
      const v = m[key];
      if (typeof v === "number" && Number.isFinite(v)) scalars.push([tag, v]);
    }
    records.push(tfRecord(scalarEvent(seconds(m.time), m.epoch, scalars)));
  }
  const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of records) out.set(r, at), at += r.length;
  return out;
}

/**
 * The event file's name: TensorFlow's `events.out.tfevents.<seconds>.<host>`
 * (the first epoch's time, so every rewrite keeps the name) and `.lade`.
 */
export function eventFileName(metrics: readonly EpochMetrics[], host: string): string {
  const t = Math.floor(metrics.length ? seconds(metrics[0].time) : Date.now() / 1000);
  return `events.out.tfevents.${String(t).padStart(10, "0")}.${
    host.replace(/[^A-Za-z0-9._-]/g, "_")
  }.lade`;
}

/**
 * Writes (atomically) RUN/tensorboard/events.out.tfevents.* with every epoch
 * of `metrics`: into the event file lade wrote there before (a run resumed on
 * another host keeps one file, so no epoch shows twice), else a new one.
 */
export async function writeEventFile(
  runDir: string,
  metrics: readonly EpochMetrics[],
): Promise<string> {
  const dir = `${runDir}/${TENSORBOARD_DIR}`;
  await Deno.mkdir(dir, { recursive: true });
  const ours = (await Array.fromAsync(Deno.readDir(dir)))
    .filter((e) => e.isFile && /^events\.out\.tfevents\..*\.lade$/.test(e.name))
    .map((e) => e.name).sort();
  let host = "localhost";
  try {
    host = Deno.hostname();
  } catch {
    // no hostname permission or none set: a fixed name
  }
  const path = `${dir}/${ours[0] ?? eventFileName(metrics, host)}`;
  await writeFileAtomic(path, encodeEventFile(metrics));
  return path;
}
