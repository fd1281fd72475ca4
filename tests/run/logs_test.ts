/**
 * A run's logs: metrics.csv beside metrics.jsonl, and TensorBoard event
 * files. The event file is read back by a reader written here from the
 * format's description alone (bitwise CRC-32C, a generic protocol-buffer
 * decoder), not by lade's encoder; and by TensorBoard itself where python3
 * has it.
 */

import assert from "node:assert/strict";
import { crc32c, maskedCrc32c } from "../../lib/run/crc32c.ts";
import { readMetrics } from "../../lib/run/metrics.ts";
import { encodeEventFile } from "../../lib/run/tensorboard.ts";
import { writeFixture } from "../train/fixture.ts";
import { findPython, runPythonCode } from "../python.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("CRC-32C: RFC 3720's known answers, and the mask rotates and offsets", () => {
  const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(ascending), 0x46dd794e);
  assert.equal(crc32c(ascending.slice().reverse()), 0x113fdb5c);
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  // TensorFlow's mask: rotate right by 15, add 0xa282ead8; unmasking gives the CRC back.
  for (const bytes of [ascending, new TextEncoder().encode("foo")]) {
    const c = BigInt(crc32c(bytes));
    const rotated = ((c >> 15n) | (c << 17n)) & 0xffffffffn;
    assert.equal(BigInt(maskedCrc32c(bytes)), (rotated + 0xa282ead8n) & 0xffffffffn);
    const back = (BigInt(maskedCrc32c(bytes)) - 0xa282ead8n) & 0xffffffffn;
    assert.equal(((back << 15n) | (back >> 17n)) & 0xffffffffn, c);
  }
});

/** CRC-32C bit by bit from the polynomial (no table), then TensorFlow's mask. */
function referenceMaskedCrc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  c = (c ^ 0xffffffff) >>> 0;
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;
}

/** A decoded protocol-buffer field: its number, wire type and value. */
type Field = { field: number; wire: number; value: number | bigint | Uint8Array };

/** Decodes one message's fields (varint, 64-bit, length-delimited, 32-bit). */
function decodeProto(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  const varint = (): bigint => {
    let v = 0n, shift = 0n;
    for (;;) {
      const x = b[i++];
      v |= BigInt(x & 0x7f) << shift;
      shift += 7n;
      if (x < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const field = key >> 3, wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) out.push({ field, wire, value: view.getFloat64(i, true) }), i += 8;
    else if (wire === 5) out.push({ field, wire, value: view.getFloat32(i, true) }), i += 4;
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ field, wire, value: b.subarray(i, i + n) });
      i += n;
    } else throw new Error(`wire type ${wire}`);
  }
  assert.equal(i, b.length, "message ends on a field boundary");
  return out;
}

/** An event as the reader sees it. */
interface ReadEvent {
  wallTime?: number;
  step?: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

/** Reads a TFRecord file of Event protos, checking every length and CRC. */
function readEvents(bytes: Uint8Array): ReadEvent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: ReadEvent[] = [];
  let at = 0;
  const dec = new TextDecoder();
  while (at < bytes.length) {
    const length = Number(view.getBigUint64(at, true));
    assert.equal(view.getUint32(at + 8, true), referenceMaskedCrc(bytes.subarray(at, at + 8)));
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(view.getUint32(at + 12 + length, true), referenceMaskedCrc(data));
    at += 16 + length;
    const e: ReadEvent = { scalars: {} };
    for (const f of decodeProto(data)) {
      if (f.field === 1 && f.wire === 1) e.wallTime = f.value as number;
      else if (f.field === 2 && f.wire === 0) e.step = Number(f.value);
      else if (f.field === 3 && f.wire === 2) e.fileVersion = dec.decode(f.value as Uint8Array);
      else if (f.field === 5 && f.wire === 2) {
        for (const v of decodeProto(f.value as Uint8Array)) {
          assert.deepEqual([v.field, v.wire], [1, 2], "Summary.value");
          const value = decodeProto(v.value as Uint8Array);
          const tag = value.find((x) => x.field === 1 && x.wire === 2)!;
          const simple = value.find((x) => x.field === 2 && x.wire === 5)!;
          e.scalars[dec.decode(tag.value as Uint8Array)] = simple.value as number;
        }
      } else throw new Error(`unexpected Event field ${f.field} (wire ${f.wire})`);
    }
    events.push(e);
  }
  assert.equal(at, bytes.length);
  return events;
}

Deno.test("an event file of no epochs is the version event alone", () => {
  const events = readEvents(encodeEventFile([], 1234.5));
  assert.deepEqual(events, [{ wallTime: 1234.5, fileVersion: "brain.Event:2", scalars: {} }]);
});

const f32 = (x: number) => Math.fround(x);

Deno.test("train --tensorboard: metrics.csv, metrics.jsonl and the event file say the same", async () => {
  const root = await writeFixture(12, 4);
  try {
    const out = `${root}/run`;
    await Deno.writeTextFile(
      `${root}/r.yaml`,
      `dataset: {name: mnist-lt, root: ${root}, imbalance: 3}\n` +
        "train: {epochs: 2, batch_size: 16}\nthreads: 1\n",
    );
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main,
        "train",
        "--config",
        `${root}/r.yaml`,
        "--val-per-class",
        "2",
        "--tensorboard",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const metrics = await readMetrics(out);
    assert.equal(metrics.length, 2);

    // metrics.csv: the same columns as metrics.jsonl, a row per epoch, the same values.
    const csv = (await Deno.readTextFile(`${out}/metrics.csv`)).trimEnd().split("\n");
    const header = csv[0].split(",");
    assert.deepEqual(header, [
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
    ]);
    for (const m of metrics) {
      assert.ok(Object.keys(m).every((k) => header.includes(k)), `${Object.keys(m)}`);
    }
    assert.equal(csv.length, 3);
    csv.slice(1).forEach((line, i) => {
      const cells = line.split(",");
      header.forEach((col, j) => {
        const v = (metrics[i] as unknown as Record<string, unknown>)[col];
        if (v === undefined || v === null) assert.equal(cells[j], "", col);
        else if (typeof v === "number") assert.equal(Number(cells[j]), v, col);
        else assert.equal(cells[j], v, col);
      });
    });

    // The event file.
    const files = (await Array.fromAsync(Deno.readDir(`${out}/tensorboard`))).map((e) => e.name);
    assert.equal(files.length, 1);
    assert.match(files[0], /^events\.out\.tfevents\.\d{10}\..+\.lade$/);
    const events = readEvents(await Deno.readFile(`${out}/tensorboard/${files[0]}`));
    assert.equal(events.length, 3);
    assert.equal(events[0].fileVersion, "brain.Event:2");
    metrics.forEach((m, i) => {
      const e = events[i + 1];
      assert.equal(e.step, m.epoch);
      assert.equal(e.wallTime, Date.parse(m.time) / 1000);
      const want: Record<string, number> = {
        "train/loss": f32(m.loss),
        "train/acc": f32(m.train_acc),
        "train/lr": f32(m.lr),
        "train/images_per_sec": f32(m.images_per_sec),
        "test/top1": f32(m.test_top1!),
        "val/top1": f32(m.val_top1!),
      };
      for (const k of ["many", "medium", "few"] as const) {
        const v = m[`test_${k}`];
        if (typeof v === "number") want[`test/${k}`] = f32(v);
      }
      assert.deepEqual(e.scalars, want);
    });

    const python = await findPython(["tensorboard"]);
    if (python !== undefined) {
      // TensorBoard's own reader (not run where python3 lacks tensorboard).
      const read = JSON.parse(
        await runPythonCode(
          python,
          [
            "import json, sys",
            "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator",
            "ea = EventAccumulator(sys.argv[1]); ea.Reload()",
            "print(json.dumps({t: [[s.step, s.value] for s in ea.Scalars(t)] " +
            "for t in ea.Tags()['scalars']}))",
          ].join("\n"),
          [`${out}/tensorboard`],
        ),
      );
      assert.deepEqual(read["train/loss"], metrics.map((m) => [m.epoch, f32(m.loss)]));
      assert.deepEqual(read["val/top1"], metrics.map((m) => [m.epoch, f32(m.val_top1!)]));
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
