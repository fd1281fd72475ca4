/**
 * The safetensors format (https://github.com/huggingface/safetensors), read
 * and written in TypeScript: an 8-byte little-endian header length N, N bytes
 * of JSON (`{"__metadata__": {...}, "name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ...}`), then the tensors' bytes, little-endian
 * and in C order, offsets counted from the end of the header.
 *
 * Reading validates the whole header before any tensor is made: the length
 * (at least 2, at most 100 MB, inside the file), the JSON (an object; the
 * metadata a map of strings), each entry's dtype name, shape (non-negative
 * integers) and offsets (integers, begin <= end, inside the data), that the
 * shape times the dtype's size equals the byte range, and that the ranges
 * neither overlap nor leave gaps and cover the data exactly (as the
 * safetensors library itself requires, so what lade reads PyTorch reads too).
 * Any failure is one InputError line naming the file and the first problem.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { writeFilesAtomic } from "../fs.ts";
import { inputFileSize, MAX_BINARY_BYTES, readInputFile, readInputRange } from "../input_file.ts";
import type { DType } from "../torch/dtype.ts";

/** The safetensors dtype names lade reads and writes, and the torch dtype each is. */
export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  F64: "float64",
  F32: "float32",
  F16: "float16",
  BF16: "bfloat16",
  I64: "int64",
  I32: "int32",
  I16: "int16",
  I8: "int8",
  U8: "uint8",
  BOOL: "bool",
};

/** Valid safetensors dtypes that lade (libtorch 1.13) cannot hold: named in their error. */
const UNSUPPORTED = new Set([
  "U16",
  "U32",
  "U64",
  "F8_E4M3",
  "F8_E5M2",
  "F8_E8M0",
  "F4",
  "F6_E2M3",
]);

/** Bytes per element of each safetensors dtype lade reads. */
const DTYPE_SIZE: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The safetensors name of each torch dtype. */
const NAME_OF: Readonly<Record<DType, string>> = Object.fromEntries(
  Object.entries(SAFETENSORS_DTYPES).map(([k, v]) => [v, k]),
) as Record<DType, string>;

/** The largest header lade (and the safetensors library) accepts. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor as a file holds it: raw little-endian bytes in C order. */
export interface RawTensor {
  /** The torch dtype. */
  dtype: DType;
  /** The shape ([] for a scalar). */
  shape: number[];
  /** shape's element count times the dtype's size bytes (a view into the file's bytes). */
  data: Uint8Array;
}

/** One header entry, validated. */
export interface SafetensorsEntry {
  /** The tensor's name. */
  name: string;
  /** The safetensors dtype name (`F32`). */
  dtype: string;
  shape: number[];
  /** [begin, end) in the data section. */
  offsets: [number, number];
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  /** `__metadata__` (string to string; empty when absent). */
  metadata: Record<string, string>;
  /** The tensors in header order. */
  entries: SafetensorsEntry[];
  /** Where the data section starts in the file (8 + header length). */
  dataStart: number;
}

/** A file's tensors and metadata. */
export interface SafetensorsFile {
  /** `__metadata__`: string to string (empty when absent). */
  metadata: Record<string, string>;
  /** The tensors by name, in header order. */
  tensors: Map<string, RawTensor>;
}

/** A name as messages show it: quoted, at most 100 characters, on one line. */
export function quote(name: string): string {
  const short = name.length > 100 ? `${name.slice(0, 100)}...` : name;
  return JSON.stringify(short).replace(/\u2028|\u2029/g, " ");
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the header of safetensors `bytes` (see the module
 * notes). `source` names the file in messages. Throws a one-line InputError.
 */
export function parseSafetensorsHeader(bytes: Uint8Array, source: string): SafetensorsHeader {
  return parseHeaderOf(bytes, bytes.length, source);
}

/** The header length the first 8 bytes of a file of `fileSize` bytes declare, checked. */
export function declaredHeaderLength(first: Uint8Array, fileSize: number, source: string): number {
  const fail = (why: string): never => {
    throw new InputError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (fileSize < 8 || first.length < 8) {
    fail(`${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const n = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (n < 2n) fail(`header length ${n} is too small`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (n > BigInt(fileSize - 8)) {
    fail(`header length ${n} runs past the end of the file (${fileSize} bytes)`);
  }
  return Number(n);
}

/**
 * Validates the header in `head` (the file's first 8 + header-length bytes,
 * or more) of a file of `fileSize` bytes: what the file must hold after the
 * header is known before any of it is read.
 */
function parseHeaderOf(head: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const fail = (why: string): never => {
    throw new InputError(`${source}: not a valid safetensors file: ${why}`);
  };
  const headerLength = declaredHeaderLength(head, fileSize, source);
  if (head.length < 8 + headerLength) fail("truncated header");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(head.subarray(8, 8 + headerLength));
  } catch {
    return fail("the header is not UTF-8");
  }
  if (!text.startsWith("{")) fail("the header does not start with '{'");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (!isPlainObject(json)) return fail("the header is not a JSON object");
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === "__metadata__") {
      if (!isPlainObject(value)) fail("__metadata__ is not an object of strings");
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value of ${quote(k)} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    // Named only on failure: quoting 300,000 names that are fine costs seconds.
    const at = () => `tensor ${quote(name)}`;
    if (name === "") fail("a tensor has an empty name");
    if (!isPlainObject(value)) return fail(`${at()} is not an object`);
    for (const k in value) {
      if (k !== "dtype" && k !== "shape" && k !== "data_offsets") {
        fail(`${at()} has an unknown field ${quote(k)}`);
      }
    }
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== "string") return fail(`${at()} has no dtype`);
    if (!Object.hasOwn(DTYPE_SIZE, dtype)) {
      fail(
        UNSUPPORTED.has(dtype)
          ? `${at()} has dtype ${dtype}, which lade cannot hold`
          : `${at()} has an unknown dtype ${quote(dtype)}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      return fail(`${at()} has a shape that is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) ||
      !isCount(offsets[1])
    ) {
      return fail(`${at()} has data_offsets that are not two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) fail(`${at()} has data_offsets [${begin}, ${end}] that run backwards`);
    if (end > dataLength) {
      fail(`${at()} has data_offsets [${begin}, ${end}] beyond the ${dataLength} data bytes`);
    }
    // The element count exactly: in numbers while they stay exact, else in
    // BigInt (a product of huge dims must not round to the byte range).
    let elements = 1;
    for (const d of shape as number[]) elements *= d;
    const expected = Number.isSafeInteger(elements * DTYPE_SIZE[dtype])
      ? BigInt(elements * DTYPE_SIZE[dtype])
      : (shape as number[]).reduce((a, d) => a * BigInt(d), 1n) * BigInt(DTYPE_SIZE[dtype]);
    if (expected !== BigInt(end - begin)) {
      fail(
        `${at()}: shape [${shape}] of ${dtype} needs ${expected} bytes but data_offsets ` +
          `[${begin}, ${end}] hold ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: [...(shape as number[])], offsets: [begin, end] });
  }
  // The ranges tile the data section: sorted by start, each begins where the
  // previous ended, and the last ends at the end of the file.
  // (Writers put them in order: sorted only when they are not.)
  const inOrder = entries.every((e, i) =>
    i === 0 || entries[i - 1].offsets[0] < e.offsets[0] ||
    (entries[i - 1].offsets[0] === e.offsets[0] && entries[i - 1].offsets[1] <= e.offsets[1])
  );
  const sorted = inOrder
    ? entries
    : [...entries].sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
  let cursor = 0;
  for (const e of sorted) {
    if (e.offsets[0] < cursor) {
      fail(`tensor ${quote(e.name)} overlaps the tensor before it in the data`);
    }
    if (e.offsets[0] > cursor) {
      fail(`${e.offsets[0] - cursor} unused bytes before tensor ${quote(e.name)}`);
    }
    cursor = e.offsets[1];
  }
  if (cursor !== dataLength) {
    fail(`${dataLength - cursor} bytes after the last tensor (the data section is ${dataLength})`);
  }
  return { metadata, entries, dataStart };
}

/**
 * Reads safetensors `bytes` (a whole file): the header validated first, then
 * each tensor as a view of `bytes`. `source` names the file in messages.
 *
 * @example Bytes in, tensors and metadata out
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors, parseSafetensors } from "./mod.ts";
 *
 * const data = new Uint8Array(new Float32Array([1, 2]).buffer);
 * const bytes = encodeSafetensors([["w", { dtype: "float32", shape: [2], data }]], { note: "x" });
 * const file = parseSafetensors(bytes, "w.safetensors");
 * assert.deepEqual(file.metadata, { note: "x" });
 * assert.deepEqual(file.tensors.get("w")?.shape, [2]);
 * assert.throws(() => parseSafetensors(bytes.subarray(0, 12), "cut.safetensors"), /cut\.safetensors/);
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  return tensorsOf(parseSafetensorsHeader(bytes, source), bytes);
}

/** The tensors a validated `header` describes, as views of the file's `bytes`. */
function tensorsOf(header: SafetensorsHeader, bytes: Uint8Array): SafetensorsFile {
  const tensors = new Map<string, RawTensor>();
  for (const e of header.entries) {
    const start = header.dataStart + e.offsets[0];
    tensors.set(e.name, {
      dtype: SAFETENSORS_DTYPES[e.dtype],
      shape: e.shape,
      data: bytes.subarray(start, header.dataStart + e.offsets[1]),
    });
  }
  return { metadata: header.metadata, tensors };
}

/**
 * Reads a safetensors file; a missing, unreadable or invalid file is a
 * one-line InputError. The 8-byte length and the header it declares are
 * read and validated first, and the rest of the file only when the header
 * accounts for every byte of it: a huge (or sparse) file with a small or
 * damaged header is refused after reading a few bytes.
 *
 * @example Reading back what writeSafetensors wrote
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSafetensors, writeSafetensors } from "./mod.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * const data = new Uint8Array(new Float32Array([0.5]).buffer);
 * await writeSafetensors(path, [["bias", { dtype: "float32", shape: [1], data }]]);
 * const file = await readSafetensors(path);
 * assert.deepEqual([...file.tensors.keys()], ["bias"]);
 * await Deno.remove(path);
 * ```
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const opts = { maxBytes: MAX_BINARY_BYTES };
  const size = await inputFileSize(path, opts);
  const first = await readInputRange(path, 0, 8, opts);
  const length = declaredHeaderLength(first, size, path);
  const head = await readInputRange(path, 0, 8 + length, opts);
  const header = parseHeaderOf(head, size, path);
  const bytes = await readWholeFile(path);
  // A file that changed between the two reads is validated as it was read.
  const same = bytes.length === size && head.every((b, i) => bytes[i] === b);
  return same ? tensorsOf(header, bytes) : parseSafetensors(bytes, path);
}

/**
 * The whole file as bytes: a regular file of at most 16 GiB (a folder, a
 * FIFO or a device is refused without reading); a missing or unreadable
 * file is an InputError naming it.
 */
export async function readWholeFile(path: string): Promise<Uint8Array> {
  return await readInputFile(path, { maxBytes: MAX_BINARY_BYTES });
}

/**
 * The bytes of a safetensors file holding `tensors` (in this order, packed
 * one after the other) and `metadata`. The header is padded with spaces to a
 * multiple of 8 bytes, as the safetensors library writes it.
 *
 * @example The header's length, then the header, then the data
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSafetensors } from "./mod.ts";
 *
 * const data = new Uint8Array(new Float32Array([1, 2, 3]).buffer);
 * const bytes = encodeSafetensors([["w", { dtype: "float32", shape: [3], data }]]);
 * const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
 * assert.equal(headerLength % 8, 0); // padded with spaces
 * assert.equal(bytes.length, 8 + headerLength + 12);
 * ```
 */
export function encodeSafetensors(
  tensors: ReadonlyArray<readonly [string, RawTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  // No prototype: a tensor called "__proto__" is an ordinary key.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === "" || name === "__metadata__" || Object.hasOwn(header, name)) {
      throw new InputError("tensors", `invalid or repeated tensor name '${name}'`);
    }
    let elements = 1;
    for (const d of t.shape) elements *= d;
    const size = DTYPE_SIZE[NAME_OF[t.dtype]];
    if (elements * size !== t.data.length) {
      throw new InputError(
        "tensors",
        `'${name}': shape [${t.shape}] of ${t.dtype} needs ${
          elements * size
        } bytes, got ${t.data.length}`,
      );
    }
    header[name] = {
      dtype: NAME_OF[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + t.data.length],
    };
    offset += t.data.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const out = new Uint8Array(padded).fill(0x20);
    out.set(json);
    json = out;
  }
  const bytes = new Uint8Array(8 + json.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of tensors) {
    bytes.set(t.data, at);
    at += t.data.length;
  }
  return bytes;
}

/**
 * Writes a safetensors file atomically (see `encodeSafetensors`); a failed
 * write (a full disk) is an OutputWriteError naming the file, which is left
 * as it was.
 *
 * @example A file written whole or not at all
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeSafetensors } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const data = new Uint8Array(new Float32Array([1]).buffer);
 * await writeSafetensors(`${dir}/w.safetensors`, [["w", { dtype: "float32", shape: [], data }]]);
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: ReadonlyArray<readonly [string, RawTensor]>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFilesAtomic([[path, encodeSafetensors(tensors, metadata)]]);
}
