/**
 * Structured inputs for the fuzz harness (scripts/fuzz.ts) and the hostile
 * tests: byte mutations of a valid file almost never build a pickle that
 * nests a tuple ten thousand deep, a tensor whose strides revisit its
 * storage a billion times, a safetensors header that promises gigabytes or
 * a YAML recipe nested past the parser's stack. These builders write such
 * files on purpose, and the random generators draw them from a seeded
 * stream:
 *
 * - `Pickle`: an opcode stream, written op by op (protocol 2, as
 *   `torch.save` writes it);
 * - `torchCheckpoint`: a `torch.save` zip archive of tensors given as
 *   views (dtype, storage size, offset, shape, strides);
 * - `safetensorsFile`: a header object as given (valid or not) and data;
 * - `nestedYaml`: a recipe nested `depth` levels in flow or block style.
 *
 * @module
 */

const enc = new TextEncoder();

/** A pickle opcode stream, built op by op. */
export class Pickle {
  #buffer = new Uint8Array(1024);
  #length = 0;

  /** The opcodes so far, as bytes. */
  bytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #room(n: number): void {
    if (this.#length + n <= this.#buffer.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.#buffer.length, this.#length + n));
    bigger.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = bigger;
  }

  #append(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }

  /** Raw bytes (an opcode and its argument as the caller encodes them). */
  raw(...bytes: number[]): this {
    this.#room(bytes.length);
    for (const b of bytes) this.#buffer[this.#length++] = b & 0xff;
    return this;
  }

  #u32(n: number): void {
    this.raw(n, n >>> 8, n >>> 16, n >>> 24);
  }

  /** PROTO n. */
  proto(n = 2): this {
    return this.raw(0x80, n);
  }
  /** STOP. */
  stop(): this {
    return this.raw(0x2e);
  }
  /** MARK. */
  mark(): this {
    return this.raw(0x28);
  }
  /** EMPTY_DICT. */
  dict(): this {
    return this.raw(0x7d);
  }
  /** EMPTY_LIST. */
  list(): this {
    return this.raw(0x5d);
  }
  /** EMPTY_TUPLE. */
  emptyTuple(): this {
    return this.raw(0x29);
  }
  /** TUPLE (of the items since the last MARK). */
  tuple(): this {
    return this.raw(0x74);
  }
  /** TUPLE1. */
  tuple1(): this {
    return this.raw(0x85);
  }
  /** SETITEMS (pairs since the last MARK into the dict below). */
  setItems(): this {
    return this.raw(0x75);
  }
  /** SETITEM. */
  setItem(): this {
    return this.raw(0x73);
  }
  /** APPENDS. */
  appends(): this {
    return this.raw(0x65);
  }
  /** NONE. */
  none(): this {
    return this.raw(0x4e);
  }
  /** NEWFALSE. */
  false(): this {
    return this.raw(0x89);
  }
  /** An integer: BININT (32-bit signed). */
  int(n: number): this {
    this.raw(0x4a);
    this.#u32(n | 0);
    return this;
  }
  /** LONG1 with these little-endian bytes (up to 255). */
  long1(bytes: readonly number[]): this {
    return this.raw(0x8a, bytes.length, ...bytes);
  }
  /** LONG4 of `length` bytes, all `fill`. */
  long4(length: number, fill = 0x7f): this {
    this.raw(0x8b);
    this.#u32(length);
    this.#append(new Uint8Array(length).fill(fill));
    return this;
  }
  /** BINUNICODE. */
  str(s: string): this {
    const b = enc.encode(s);
    this.raw(0x58);
    this.#u32(b.length);
    this.#append(b);
    return this;
  }
  /** GLOBAL module\nname\n. */
  global(module: string, name: string): this {
    this.raw(0x63);
    this.#append(enc.encode(`${module}\n${name}\n`));
    return this;
  }
  /** REDUCE. */
  reduce(): this {
    return this.raw(0x52);
  }
  /** BINPERSID. */
  persid(): this {
    return this.raw(0x51);
  }
  /** BINPUT i (one byte). */
  put(i: number): this {
    return this.raw(0x71, i);
  }
  /** BINGET i (one byte). */
  get(i: number): this {
    return this.raw(0x68, i);
  }
  /** A tuple of small integers. */
  ints(values: readonly number[]): this {
    this.mark();
    for (const v of values) this.int(v);
    return this.tuple();
  }
}

/** The storage classes of torch.save, by dtype. */
const STORAGE_CLASS: Readonly<Record<string, [string, number]>> = {
  float32: ["FloatStorage", 4],
  float64: ["DoubleStorage", 8],
  int64: ["LongStorage", 8],
  uint8: ["ByteStorage", 1],
};

/** A tensor of a checkpoint, as a view of a storage of its own. */
export interface TensorView {
  name: string;
  /** float32 (default), float64, int64 or uint8. */
  dtype?: string;
  /** Elements of the storage. */
  storage: number;
  offset?: number;
  size: number[];
  stride: number[];
  /** The storage's bytes (default: element i holds i, as the dtype writes it). */
  data?: Uint8Array;
}

function storageBytes(dtype: string, elements: number): Uint8Array {
  const [, item] = STORAGE_CLASS[dtype];
  const out = new Uint8Array(elements * item);
  const v = new DataView(out.buffer);
  for (let i = 0; i < elements; i++) {
    if (dtype === "float32") v.setFloat32(i * 4, i, true);
    else if (dtype === "float64") v.setFloat64(i * 8, i, true);
    else if (dtype === "int64") v.setBigInt64(i * 8, BigInt(i), true);
    else out[i] = i & 0xff;
  }
  return out;
}

/**
 * The state dict pickle `torch.save` writes for `views`: an OrderedDict
 * filled by SETITEMS in batches of 1,000 (as Python's pickler batches
 * them), each tensor `_rebuild_tensor_v2(persistent storage, offset, size,
 * stride, False, OrderedDict())`, storage i named "i".
 */
export function stateDictPickle(views: readonly TensorView[]): Uint8Array {
  const p = new Pickle().proto(2);
  p.global("collections", "OrderedDict").emptyTuple().reduce();
  for (let start = 0; start < views.length; start += 1000) {
    p.mark();
    views.slice(start, start + 1000).forEach((t, j) => {
      const i = start + j;
      const dtype = t.dtype ?? "float32";
      p.str(t.name);
      p.global("torch._utils", "_rebuild_tensor_v2");
      p.mark();
      p.mark().str("storage").global("torch", STORAGE_CLASS[dtype][0]).str(String(i)).str("cpu")
        .int(t.storage).tuple().persid();
      p.int(t.offset ?? 0).ints(t.size).ints(t.stride).false();
      p.global("collections", "OrderedDict").emptyTuple().reduce();
      p.tuple().reduce();
    });
    p.setItems();
  }
  return p.stop().bytes();
}

/** A ZIP archive of stored (uncompressed) members, as torch.save writes them. */
export function zipStored(members: readonly [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of members) {
    const n = enc.encode(name);
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    local.set(n, 30);
    const c = new Uint8Array(46 + n.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    c.set(n, 46);
    parts.push(local, data);
    central.push(c);
    offset += local.length + data.length;
  }
  const dirSize = central.reduce((a, c) => a + c.length, 0);
  // More than 65,535 members need ZIP64's end records (as torch.save writes them).
  const zip64 = members.length > 0xfffe;
  const end64 = new Uint8Array(zip64 ? 56 + 20 : 0);
  if (zip64) {
    const v = new DataView(end64.buffer);
    v.setUint32(0, 0x06064b50, true);
    v.setBigUint64(4, 44n, true);
    v.setUint16(12, 45, true);
    v.setUint16(14, 45, true);
    v.setBigUint64(24, BigInt(members.length), true);
    v.setBigUint64(32, BigInt(members.length), true);
    v.setBigUint64(40, BigInt(dirSize), true);
    v.setBigUint64(48, BigInt(offset), true);
    v.setUint32(56, 0x07064b50, true);
    v.setBigUint64(64, BigInt(offset + dirSize), true);
    v.setUint32(72, 1, true);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : members.length, true);
  ev.setUint16(10, zip64 ? 0xffff : members.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : dirSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : offset, true);
  const all = [...parts, ...central, end64, end];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of all) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A `torch.save` checkpoint (zip format) of `views`, or of a pickle given as is. */
export function torchCheckpoint(views: readonly TensorView[], pickle?: Uint8Array): Uint8Array {
  const members: [string, Uint8Array][] = [
    ["archive/data.pkl", pickle ?? stateDictPickle(views)],
    ["archive/byteorder", enc.encode("little")],
  ];
  views.forEach((t, i) => {
    members.push([
      `archive/data/${i}`,
      t.data ?? storageBytes(t.dtype ?? "float32", t.storage),
    ]);
  });
  members.push(["archive/version", enc.encode("3\n")]);
  return zipStored(members);
}

/** A safetensors file: 8-byte length, the header object as JSON (as given), then `data`. */
export function safetensorsFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** How a nested recipe is written: flow lists, flow maps, compact block lists, indented block maps. */
export type YamlStyle = "flow" | "map" | "block" | "indented";

/**
 * A recipe whose `dataset.mean` is nested `depth` levels deep: flow lists
 * `[[[0]]]`, flow maps `{a: {a: 0}}`, compact block lists `- - - 0`, or block
 * maps indented one more step each line (whose text grows with the square
 * of the depth: keep that one to a few thousand).
 */
export function nestedYaml(depth: number, style: YamlStyle): string {
  if (style === "flow") return `dataset:\n  mean: ${"[".repeat(depth)}0${"]".repeat(depth)}\n`;
  if (style === "map") return `dataset:\n  mean: ${"{a: ".repeat(depth)}0${"}".repeat(depth)}\n`;
  if (style === "block") return `dataset:\n  mean:\n    ${"- ".repeat(depth)}0\n`;
  const lines = ["dataset:", "  mean:"];
  for (let i = 0; i < depth; i++) lines.push(`${" ".repeat(i + 4)}a:`);
  lines[lines.length - 1] += " 0";
  return lines.join("\n") + "\n";
}

/** A seeded stream of floats in [0, 1). */
export type Draw = () => number;

function pick(r: Draw, n: number): number {
  return Math.floor(r() * n);
}

/**
 * A random opcode stream: pushes, containers, memo use, integers of many
 * sizes (LONG1, LONG4), tuples nested deep and wide, and a STOP (or not).
 * Mostly well formed, so that the reader gets past its first checks.
 */
export function randomPickle(r: Draw): Uint8Array {
  const p = new Pickle().proto(2);
  const steps = 1 + pick(r, 40);
  for (let k = 0; k < steps; k++) {
    switch (pick(r, 12)) {
      case 0:
        p.int(pick(r, 2 ** 31) - 2 ** 30);
        break;
      case 1:
        p.str(["a", "weight", "", "é", "\u202e"][pick(r, 5)]);
        break;
      case 2: { // deep tuples
        const depth = [1, 10, 1000, 20000][pick(r, 4)];
        for (let i = 0; i < depth; i++) p.mark();
        p.int(1);
        for (let i = 0; i < depth; i++) p.tuple();
        break;
      }
      case 3: { // a wide mark
        const n = [0, 3, 5000, 200_000][pick(r, 4)];
        p.mark();
        for (let i = 0; i < n; i++) p.none();
        p.raw([0x74, 0x6c, 0x64, 0x31][pick(r, 4)]);
        break;
      }
      case 4:
        p.long1(Array.from({ length: pick(r, 12) }, () => pick(r, 256)));
        break;
      case 5:
        p.long4([0, 8, 4096, 4097, 300_000][pick(r, 5)], pick(r, 256));
        break;
      case 6:
        p.dict();
        break;
      case 7:
        p.list();
        break;
      case 8:
        p.put(pick(r, 4));
        break;
      case 9:
        p.get(pick(r, 4));
        break;
      case 10:
        p.raw([0x73, 0x75, 0x65, 0x61, 0x52, 0x85, 0x30][pick(r, 7)]);
        break;
      default:
        p.global(
          ["torch", "collections", "os"][pick(r, 3)],
          ["OrderedDict", "system", "x"][pick(r, 3)],
        );
    }
  }
  if (r() < 0.9) p.stop();
  return p.bytes();
}

/**
 * A checkpoint of one to three tensors with random views: storages of 0 to
 * 64 elements, offsets and sizes near and past their ends, strides of 0,
 * 1, large and huge (2^40), up to six dimensions.
 */
export function randomViews(r: Draw): Uint8Array {
  const views: TensorView[] = [];
  const count = 1 + pick(r, 3);
  for (let i = 0; i < count; i++) {
    const storage = [0, 1, 16, 64][pick(r, 4)];
    const dims = pick(r, 7);
    const size = Array.from({ length: dims }, () => [0, 1, 2, 4, 1000, 1_000_000_000][pick(r, 6)]);
    const stride = Array.from({ length: dims }, () => [0, 1, 4, 16, 2 ** 40][pick(r, 5)]);
    views.push({
      name: `t${i}`,
      dtype: ["float32", "float64", "int64", "uint8"][pick(r, 4)],
      storage,
      offset: [0, 1, storage, storage + 1][pick(r, 4)],
      size,
      stride,
    });
  }
  return torchCheckpoint(views);
}

/**
 * A safetensors file with a random header: entries of odd dtypes and
 * shapes, offsets that overlap, leave gaps or run past the data, huge
 * element counts, metadata of odd types, thousands of entries; and data of
 * a random length.
 */
export function randomSafetensors(r: Draw): Uint8Array {
  const header: Record<string, unknown> = {};
  if (r() < 0.5) {
    header.__metadata__ = [{ format: "lade" }, { a: 1 }, "x", { arch: "cnn28", classes: "1e9" }][
      pick(r, 4)
    ];
  }
  const entries = [0, 1, 3, 3000][pick(r, 4)];
  let offset = 0;
  for (let i = 0; i < entries; i++) {
    const shape = Array.from(
      { length: pick(r, 4) },
      () => [0, 1, 3, 2 ** 31, 2 ** 53][pick(r, 5)],
    );
    const dtype = ["F32", "U8", "BOOL", "F64", "U16", "X"][pick(r, 6)];
    const length = [0, 1, 4, 12][pick(r, 4)];
    const begin = r() < 0.8 ? offset : pick(r, 32);
    header[`t${i}`] = { dtype, shape, data_offsets: [begin, begin + length] };
    offset = begin + length;
  }
  const data = new Uint8Array(r() < 0.8 ? offset : pick(r, 64));
  return safetensorsFile(header, data);
}

/** A recipe nested 1 to 20,000 levels deep (indented block maps: at most 2,000), in any style. */
export function randomYaml(r: Draw): Uint8Array {
  const style = (["flow", "map", "block", "indented"] as const)[pick(r, 4)];
  const depth = [1, 3, 50, 1000, style === "indented" ? 2000 : 20_000][pick(r, 5)];
  return enc.encode(nestedYaml(depth, style));
}
