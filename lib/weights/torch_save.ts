/**
 * Writing a state dict as `torch.save` does (the zip format of PyTorch 1.6
 * and later), so that `torch.load(path, weights_only=True)` reads it: a ZIP
 * archive of stored (uncompressed) members under one folder,
 *
 * - `archive/data.pkl`: a protocol-2 pickle of a `collections.OrderedDict`
 *   whose values are `torch._utils._rebuild_tensor_v2(storage, 0, size,
 *   stride, False, OrderedDict())`, each storage a persistent id
 *   `('storage', torch.<Type>Storage, key, 'cpu', numel)`;
 * - `archive/data/<key>`: each storage's bytes (little-endian), aligned to 64
 *   bytes in the file as torch.save aligns them (the padding is an extra
 *   field of the local header);
 * - `archive/byteorder` ("little") and `archive/version` ("3").
 *
 * Only the pickle opcodes PyTorch's weights-only unpickler accepts are used,
 * and only the globals it allows. Every member carries its CRC-32, which
 * PyTorch's reader checks.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type DType, DTYPE_BYTES } from "../torch/dtype.ts";
import type { RawTensor } from "./safetensors.ts";

/** The storage class of each dtype, as `torch.save` names it. */
const STORAGE_CLASS: Readonly<Partial<Record<DType, string>>> = {
  float32: "FloatStorage",
  float64: "DoubleStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int64: "LongStorage",
  int32: "IntStorage",
  int16: "ShortStorage",
  int8: "CharStorage",
  uint8: "ByteStorage",
  bool: "BoolStorage",
};

/** The table of the standard CRC-32 (zlib's, reflected polynomial 0xEDB88320). */
const CRC32_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 of `bytes`, as ZIP members record it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Pickle bytes, appended opcode by opcode (protocol 2). */
class Pickler {
  #parts: number[] = [];

  /** Raw bytes. */
  raw(...bytes: number[]): this {
    for (const b of bytes) this.#parts.push(b);
    return this;
  }

  /** GLOBAL module\nname\n. */
  global(module: string, name: string): this {
    return this.raw(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }

  /** BINUNICODE: a str. */
  str(text: string): this {
    const b = new TextEncoder().encode(text);
    this.raw(
      0x58,
      b.length & 0xff,
      (b.length >>> 8) & 0xff,
      (b.length >>> 16) & 0xff,
      b.length >>> 24,
    );
    return this.raw(...b);
  }

  /** A non-negative int: BININT1, BININT2, BININT or LONG1. */
  int(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new InputError(`pickle int ${n}: not a non-negative safe integer`);
    }
    if (n < 0x100) return this.raw(0x4b, n);
    if (n < 0x10000) return this.raw(0x4d, n & 0xff, n >>> 8);
    if (n < 0x80000000) {
      return this.raw(0x4a, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    }
    // LONG1: little-endian two's complement bytes, with a 0 byte when the top bit is set.
    const bytes: number[] = [];
    let v = BigInt(n);
    while (v > 0n) bytes.push(Number(v & 0xffn)), v >>= 8n;
    if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
    return this.raw(0x8a, bytes.length, ...bytes);
  }

  /** A tuple of ints (EMPTY_TUPLE, TUPLE1-3, or MARK ... TUPLE). */
  intTuple(values: readonly number[]): this {
    if (values.length === 0) return this.raw(0x29);
    if (values.length > 3) this.raw(0x28);
    for (const v of values) this.int(v);
    return this.raw(values.length <= 3 ? 0x84 + values.length : 0x74);
  }

  /** The bytes written, ended by STOP. */
  finish(): Uint8Array {
    return Uint8Array.from([...this.#parts, 0x2e]);
  }
}

/** C-order strides of `shape`. */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** data.pkl of a state dict whose i-th tensor's storage is key `i`. */
function statePickle(entries: readonly [string, RawTensor][]): Uint8Array {
  const p = new Pickler().raw(0x80, 0x02);
  // OrderedDict() then its items, in order.
  p.global("collections", "OrderedDict").raw(0x29, 0x52);
  p.raw(0x28); // MARK
  entries.forEach(([name, t], i) => {
    const cls = STORAGE_CLASS[t.dtype]!;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    p.str(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.raw(0x28); // MARK of the arguments
    // The storage: BINPERSID of ('storage', torch.<Type>Storage, key, 'cpu', numel).
    p.raw(0x28).str("storage").global("torch", cls).str(String(i)).str("cpu").int(numel);
    p.raw(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0).intTuple(t.shape).intTuple(contiguousStrides(t.shape));
    p.raw(0x89); // requires_grad False
    p.global("collections", "OrderedDict").raw(0x29, 0x52); // backward hooks
    p.raw(0x74, 0x52); // TUPLE, REDUCE
  });
  p.raw(0x75); // SETITEMS
  return p.finish();
}

/** A ZIP member to write. */
interface Member {
  name: string;
  data: Uint8Array;
}

/** Members as a ZIP archive (stored, no ZIP64), each member's data aligned to `align` bytes. */
function zipArchive(members: readonly Member[], align: number): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = enc.encode(m.name);
    const crc = crc32(m.data);
    const headerEnd = offset + 30 + name.length;
    // An extra field (id "FB", as torch.save) pads the header so the data starts aligned.
    const pad = (align - ((headerEnd + 4) % align)) % align;
    const extra = new Uint8Array(4 + pad);
    const ev = new DataView(extra.buffer);
    ev.setUint16(0, 0x4246, true);
    ev.setUint16(2, pad, true);
    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0, true); // flags
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(10, 0, true); // time
    lv.setUint16(12, 0x21, true); // date: 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, m.data.length, true);
    lv.setUint32(22, m.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    const entry = new Uint8Array(46 + name.length);
    const cv = new DataView(entry.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true); // version made by
    cv.setUint16(6, 20, true); // version needed
    cv.setUint16(10, 0, true); // stored
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, m.data.length, true);
    cv.setUint32(24, m.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    entry.set(name, 46);
    central.push(entry);
    chunks.push(local, m.data);
    offset += local.length + m.data.length;
  }
  const dirSize = central.reduce((n, c) => n + c.length, 0);
  if (offset + dirSize > 0xffffffff || members.length > 0xffff) {
    throw new InputError("the state dict is too large for a ZIP archive without ZIP64 (4 GiB)");
  }
  const end = new Uint8Array(22);
  const endView = new DataView(end.buffer);
  endView.setUint32(0, 0x06054b50, true);
  endView.setUint16(8, members.length, true);
  endView.setUint16(10, members.length, true);
  endView.setUint32(12, dirSize, true);
  endView.setUint32(16, offset, true);
  const out = new Uint8Array(offset + dirSize + end.length);
  let at = 0;
  for (const c of [...chunks, ...central, end]) out.set(c, at), at += c.length;
  return out;
}

/**
 * A state dict (names and tensors, in order) as the bytes of a `torch.save`
 * file; `archive` is the folder name inside the ZIP (torch.save uses the
 * file's stem). An InputError for a dtype torch.save has no storage for.
 */
export function encodeTorchStateDict(
  entries: readonly [string, RawTensor][],
  archive = "archive",
): Uint8Array {
  for (const [name, t] of entries) {
    const size = DTYPE_BYTES[t.dtype];
    if (size === undefined || STORAGE_CLASS[t.dtype] === undefined) {
      throw new InputError(`${name}: no PyTorch storage for dtype ${t.dtype}`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel * size) {
      throw new InputError(`${name}: ${t.data.length} bytes for ${numel} ${t.dtype} values`);
    }
  }
  const enc = new TextEncoder();
  const members: Member[] = [
    { name: `${archive}/data.pkl`, data: statePickle(entries) },
    { name: `${archive}/byteorder`, data: enc.encode("little") },
    ...entries.map(([, t], i) => ({ name: `${archive}/data/${i}`, data: t.data })),
    { name: `${archive}/version`, data: enc.encode("3\n") },
  ];
  return zipArchive(members, 64);
}
