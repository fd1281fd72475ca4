/**
 * PyTorch checkpoints (`torch.save`'s zip format, `.pth` / `.pt`) read
 * without executing anything: the archive's members through lib/weights/
 * zip.ts, `data.pkl` through the restricted unpickler of lib/weights/
 * pickle.ts, whose only callable globals are PyTorch's tensor rebuilders and
 * `collections.OrderedDict`. Each tensor is checked against its storage
 * (dtype, offset, sizes and strides inside the stored bytes) before its bytes
 * are taken.
 *
 * `readTorchStateDict` then finds the state dict inside what was saved:
 * a bare state dict, or one nested under `state_dict`, `model`,
 * `model_state_dict` or `net`; `module.` prefixes (DataParallel) removed;
 * and the official LADE checkpoint layout, `{'state_dict': {'feat_model':
 * {...}, 'classifier': {...}}}`, flattened to one dict (the feature model's
 * names as they are, the classifier's `fc.*`).
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { type DType, DTYPE_BYTES } from "../torch/dtype.ts";
import { PyGlobal, PyObject, PyTuple, type PyValue, unpickle } from "./pickle.ts";
import type { RawTensor } from "./safetensors.ts";
import { isZip, readZip } from "./zip.ts";

/** The storage classes of `torch.save` and their dtypes. */
const STORAGES: Readonly<Record<string, DType>> = {
  FloatStorage: "float32",
  DoubleStorage: "float64",
  HalfStorage: "float16",
  BFloat16Storage: "bfloat16",
  LongStorage: "int64",
  IntStorage: "int32",
  ShortStorage: "int16",
  CharStorage: "int8",
  ByteStorage: "uint8",
  BoolStorage: "bool",
};

/** A storage a persistent id named: its dtype and bytes. */
class Storage {
  constructor(readonly dtype: DType, readonly bytes: Uint8Array) {}
}

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === "number" && Number.isSafeInteger(x));
}

/**
 * How much the tensors of one checkpoint may copy out of their storages in
 * total: twice the file's size, plus 64 MiB. A view that addresses its
 * storage's elements more than once (a stride of 0, overlapping views) is
 * copied element by element; without a bound, a file of a few hundred bytes
 * could ask for terabytes.
 */
export function expansionLimit(fileBytes: number): number {
  return 2 * fileBytes + 64 * 2 ** 20;
}

/** The budget of bytes that non-contiguous views may still copy (see expansionLimit). */
interface CopyBudget {
  left: number;
  readonly limit: number;
}

/**
 * A tensor from `_rebuild_tensor_v2(storage, offset, size, stride, ...)`:
 * the viewed elements in C order. The view is checked against its storage
 * (every addressed element inside it) before any byte is touched; a
 * C-contiguous view is a slice of the storage, any other is copied in runs
 * of its contiguous innermost dimensions, within the file's copy budget.
 */
function rebuildTensor(
  args: PyValue[],
  budget: CopyBudget,
  fail: (why: string) => never,
): RawTensor {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof Storage)) return fail("a tensor without a storage");
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    return fail("a tensor with a bad storage offset");
  }
  if (!isIntList(size) || !isIntList(stride) || size.length !== stride.length) {
    return fail("a tensor with bad sizes or strides");
  }
  if (size.length > 64) return fail(`a tensor of ${size.length} dimensions (at most 64)`);
  if (size.some((d) => d < 0) || stride.some((s) => s < 0)) {
    return fail("a tensor with negative sizes or strides");
  }
  const item = DTYPE_BYTES[storage.dtype]!;
  // Exact arithmetic: a product or a reach past 2^53 must not round into range.
  const elementsBig = size.reduce((a, b) => a * BigInt(b), 1n);
  if (elementsBig * BigInt(item) > BigInt(Number.MAX_SAFE_INTEGER)) {
    return fail(`a tensor of shape [${size.join(", ")}] is too large`);
  }
  const elements = Number(elementsBig);
  const shape = [...size];
  if (elements === 0) return { dtype: storage.dtype, shape, data: new Uint8Array(0) };
  const available = storage.bytes.length / item;
  let lastBig = BigInt(offset);
  for (let i = 0; i < size.length; i++) lastBig += BigInt(size[i] - 1) * BigInt(stride[i]);
  if (lastBig >= BigInt(available)) {
    return fail(
      `a tensor of shape [${size.join(", ")}] reaches element ${lastBig} of a storage of ` +
        `${available} elements`,
    );
  }
  // The innermost dimensions that are C-contiguous form runs copied as one slice.
  let inner = size.length, run = 1;
  while (inner > 0 && (size[inner - 1] === 1 || stride[inner - 1] === run)) {
    run *= size[inner - 1];
    inner--;
  }
  if (inner === 0) {
    return {
      dtype: storage.dtype,
      shape,
      data: storage.bytes.subarray(offset * item, (offset + elements) * item),
    };
  }
  const nbytes = elements * item;
  if (nbytes > budget.left) {
    return fail(
      `its tensors would expand to more than ${budget.limit} bytes (twice the file, plus ` +
        `64 MiB): a view of shape [${size.join(", ")}] addresses a storage of ${available} ` +
        "elements repeatedly",
    );
  }
  budget.left -= nbytes;
  const out = new Uint8Array(nbytes);
  const runBytes = run * item;
  const index = new Array(inner).fill(0);
  const src = storage.bytes;
  for (let at = 0; at < nbytes; at += runBytes) {
    let from = offset;
    for (let i = 0; i < inner; i++) from += index[i] * stride[i];
    out.set(src.subarray(from * item, from * item + runBytes), at);
    for (let i = inner - 1; i >= 0; i--) {
      if (++index[i] < size[i]) break;
      index[i] = 0;
    }
  }
  return { dtype: storage.dtype, shape, data: out };
}

/** Whether `v` is a tensor read from a checkpoint. */
export function isRawTensor(v: unknown): v is RawTensor {
  return typeof v === "object" && v !== null && !(v instanceof Map) && !Array.isArray(v) &&
    (v as RawTensor).data instanceof Uint8Array && Array.isArray((v as RawTensor).shape) &&
    typeof (v as RawTensor).dtype === "string";
}

/**
 * What `torch.save` wrote to `bytes` (a zip-format checkpoint): dicts as
 * Maps, tensors as RawTensors, other objects inert. `source` names the file.
 */
export function readTorchPickle(bytes: Uint8Array, source: string): PyValue {
  const fail = (why: string): never => {
    throw new InputError(`${source}: not a readable PyTorch checkpoint: ${why}`);
  };
  if (!isZip(bytes)) {
    if (bytes.length > 2 && bytes[0] === 0x80) {
      fail("the legacy (pre-1.6) format; re-save it with torch.save in a current PyTorch");
    }
    fail("not a zip archive");
  }
  const entries = readZip(bytes, source);
  const pkl = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) {
    fail(pkl.length === 0 ? "no data.pkl in the archive" : "several data.pkl in the archive");
  }
  const prefix = pkl[0].slice(0, -"data.pkl".length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order.data).trim() !== "little") {
    fail("big-endian tensors are not supported");
  }
  if ([...entries.keys()].some((n) => n.startsWith(`${prefix}code/`))) {
    fail("a TorchScript module, not a state dict (save model.state_dict() instead)");
  }
  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: PyValue): PyValue => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== "storage") {
      return fail("an unknown persistent id");
    }
    // Indexing, not destructuring: a tuple is an Array subclass, whose
    // iterator is slow over hundreds of thousands of tensors.
    const type = pid[1], key = pid[2], numel = pid[4];
    if (
      !(type instanceof PyGlobal) || type.module !== "torch" || !Object.hasOwn(STORAGES, type.name)
    ) {
      return fail(`an unsupported storage type ${type instanceof PyGlobal ? type.qualified : "?"}`);
    }
    if (
      typeof key !== "string" || typeof numel !== "number" || !Number.isSafeInteger(numel) ||
      numel < 0
    ) {
      return fail("a bad storage id");
    }
    const dtype = STORAGES[type.name];
    const cached = storages.get(key);
    if (cached) return cached;
    const member = entries.get(`${prefix}data/${key}`);
    if (!member) return fail(`storage '${key}' is missing from the archive`);
    const nbytes = numel * DTYPE_BYTES[dtype]!;
    if (member.data.length < nbytes) {
      return fail(`storage '${key}' holds ${member.data.length} bytes, needs ${nbytes}`);
    }
    const storage = new Storage(dtype, member.data.subarray(0, nbytes));
    storages.set(key, storage);
    return storage;
  };
  const limit = expansionLimit(bytes.length);
  const budget: CopyBudget = { left: limit, limit };
  const rebuild = (args: PyValue[]) => rebuildTensor(args, budget, fail);
  return unpickle(entries.get(pkl[0])!.data, {
    source,
    persistentLoad,
    handlers: {
      "torch._utils._rebuild_tensor_v2": rebuild,
      "torch._utils._rebuild_tensor": rebuild,
      // A Parameter: its tensor (the first argument).
      "torch._utils._rebuild_parameter": (args) => args[0],
      "torch._utils._rebuild_parameter_with_state": (args) => args[0],
      "collections.OrderedDict": (args) => {
        const d = new Map<unknown, unknown>();
        // OrderedDict(items): a list of (key, value) pairs.
        if (args.length > 0 && Array.isArray(args[0])) {
          for (const pair of args[0] as unknown[]) {
            if (Array.isArray(pair) && pair.length === 2) d.set(pair[0], pair[1]);
          }
        }
        return d;
      },
    },
  });
}

/** Keys under which training scripts nest a state dict, tried in this order. */
const NESTS = ["state_dict", "model_state_dict", "model", "net", "module"];

function hasTensors(d: Map<unknown, unknown>): boolean {
  for (const v of d.values()) if (isRawTensor(v)) return true;
  return false;
}

/** Tensors of nested dicts, with dotted names. */
function flatten(
  d: Map<unknown, unknown>,
  prefix: string,
  out: Map<string, RawTensor>,
  depth = 0,
): void {
  if (depth > 64) {
    throw new InputError(`dicts nested more than 64 deep at '${prefix.slice(0, 100)}'`);
  }
  for (const [k, v] of d) {
    const name = `${prefix}${String(k)}`;
    if (isRawTensor(v)) out.set(name, v);
    else if (v instanceof Map) flatten(v, `${name}.`, out, depth + 1);
  }
}

/** Removes `prefix` from every name when all of them carry it. */
function stripCommon(tensors: Map<string, RawTensor>, prefix: string): Map<string, RawTensor> {
  if (tensors.size === 0 || ![...tensors.keys()].every((k) => k.startsWith(prefix))) return tensors;
  return new Map([...tensors].map(([k, v]) => [k.slice(prefix.length), v]));
}

/**
 * The state dict inside what a PyTorch checkpoint holds (see the module
 * notes): tensor names to tensors, in the file's order.
 */
export function findStateDict(root: PyValue, source: string): Map<string, RawTensor> {
  try {
    return findIn(root, source);
  } catch (e) {
    if (e instanceof InputError && !e.message.startsWith(`${source}: `)) {
      throw new InputError(`${source}: ${e.message}`);
    }
    throw e;
  }
}

function findIn(root: PyValue, source: string): Map<string, RawTensor> {
  let d = root;
  // A bounded descent: a pickle may make a dict contain itself.
  for (let level = 0; level < 16; level++) {
    if (!(d instanceof Map)) break;
    if (hasTensors(d)) break;
    const nest = NESTS.find((k) => d instanceof Map && d.get(k) instanceof Map);
    if (nest === undefined) break;
    d = d.get(nest);
  }
  if (!(d instanceof Map)) {
    const what = d instanceof PyObject && d.callable instanceof PyGlobal
      ? `a ${d.callable.qualified} object`
      : d instanceof PyTuple
      ? "a tuple"
      : Array.isArray(d)
      ? "a list"
      : typeof d;
    throw new InputError(
      `${source}: holds ${what}, not a state dict (save model.state_dict() instead of the model)`,
    );
  }
  let out = new Map<string, RawTensor>();
  const lade = d.get("feat_model") instanceof Map && d.get("classifier") instanceof Map;
  if (lade) {
    // The official LADE layout: feature model and classifier, each wrapped
    // in DataParallel.
    const feat = new Map<string, RawTensor>();
    flatten(d.get("feat_model") as Map<unknown, unknown>, "", feat);
    const head = new Map<string, RawTensor>();
    flatten(d.get("classifier") as Map<unknown, unknown>, "", head);
    for (const [k, v] of stripCommon(feat, "module.")) out.set(k, v);
    for (const [k, v] of stripCommon(head, "module.")) out.set(k, v);
  } else {
    flatten(d, "", out);
    for (const prefix of ["module.", "model.", "module."]) out = stripCommon(out, prefix);
  }
  if (out.size === 0) throw new InputError(`${source}: holds no tensors`);
  return out;
}

/**
 * The state dict of a PyTorch checkpoint's bytes (readTorchPickle, then findStateDict).
 *
 * @example A torch.save checkpoint's state dict
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeTorchStateDict, parseTorchStateDict } from "./mod.ts";
 *
 * const data = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
 * const bytes = encodeTorchStateDict([["fc.weight", { dtype: "float32", shape: [2, 2], data }]]);
 * const sd = parseTorchStateDict(bytes, "model.pt");
 * assert.deepEqual(sd.get("fc.weight")?.shape, [2, 2]);
 * assert.deepEqual(new Float32Array(sd.get("fc.weight")!.data.slice().buffer), new Float32Array([1, 2, 3, 4]));
 * ```
 */
export function parseTorchStateDict(bytes: Uint8Array, source: string): Map<string, RawTensor> {
  return findStateDict(readTorchPickle(bytes, source), source);
}
