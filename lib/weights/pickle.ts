/**
 * A restricted reader of Python pickles, as far as PyTorch's `torch.save`
 * writes state dicts: it builds plain values (None, booleans, numbers,
 * strings, bytes, lists, tuples, dicts) and runs no code. A reference to a
 * Python global (`GLOBAL`, `STACK_GLOBAL`) becomes a `PyGlobal` naming it;
 * calling one (`REDUCE`, `NEWOBJ`) calls a handler from the short list the
 * caller passes (PyTorch's tensor rebuilders, `collections.OrderedDict`) and
 * otherwise makes an inert `PyObject` recording the call, which nothing
 * ever executes. Persistent ids (the tensors' storages) go to the caller's
 * `persistentLoad`.
 *
 * Every read is bounds-checked; a truncated or malformed stream, an unknown
 * opcode or a stack underflow is a one-line InputError naming the source.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** A reference to a Python global (`module.name`), never resolved to code. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object the pickle asked to build by calling `callable`; kept inert. */
export class PyObject {
  /** The state a BUILD opcode set, if any. */
  state: unknown = undefined;
  constructor(readonly callable: unknown, readonly args: unknown[]) {}
}

/** A Python tuple (lists are plain arrays). */
export class PyTuple extends Array<unknown> {}

/** A value the reader builds. */
export type PyValue = unknown;

/** What the caller supplies. */
export interface UnpickleOptions {
  /** Names the stream in messages. */
  source: string;
  /** Resolves a persistent id (`BINPERSID`); throws InputError on a bad one. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /**
   * Safe implementations of the globals the stream may call, by qualified
   * name (`torch._utils._rebuild_tensor_v2`). Calling any other global makes
   * a PyObject.
   */
  handlers?: Readonly<Record<string, (args: PyValue[]) => PyValue>>;
}

const MARK = Symbol("mark");

/** The most memo entries and stack depth a stream may use. */
const LIMIT = 10_000_000;

/**
 * The longest integer a stream may hold, in bytes (LONG1, LONG4; a protocol
 * 0 INT or LONG in decimal digits, 2.5 times as many): 4 KiB is a
 * 32,768-bit integer, far beyond anything a state dict holds.
 */
export const MAX_INTEGER_BYTES = 4096;

/**
 * How deeply tuples used as dict keys may nest: such a key is turned into a
 * string, and a valid state dict's keys are strings.
 */
export const MAX_KEY_DEPTH = 100;

/** Reads the pickle `bytes` (see the module notes). */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): PyValue {
  const fail = (why: string): never => {
    throw new InputError(`${opts.source}: unreadable pickle: ${why}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const latin1 = new TextDecoder("latin1");
  let at = 0;
  const need = (n: number) => {
    if (n < 0 || at + n > bytes.length) fail(`truncated at byte ${at}`);
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), at += 2, view.getUint16(at - 2, true));
  const u32 = () => (need(4), at += 4, view.getUint32(at - 4, true));
  const i32 = () => (need(4), at += 4, view.getInt32(at - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(bytes.length)) fail(`a length of ${v} runs past the end`);
    return Number(v);
  };
  const take = (n: number) => (need(n), at += n, bytes.subarray(at - n, at));
  // Short ASCII strings (names, module paths) without a decoder call each:
  // a state dict of 300,000 tensors holds millions of them.
  const ascii = (b: Uint8Array): string | undefined => {
    if (b.length > 64) return undefined;
    for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return undefined;
    return String.fromCharCode(...b);
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail(`truncated at byte ${at}`);
    const raw = bytes.subarray(at, end);
    const s = ascii(raw) ?? latin1.decode(raw);
    at = end + 1;
    return s;
  };
  const text = (n: number): string => {
    try {
      const raw = take(n);
      return ascii(raw) ?? utf8.decode(raw);
    } catch (e) {
      if (e instanceof InputError) throw e;
      return fail("a string is not UTF-8");
    }
  };
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const pop = (): unknown => {
    if (stack.length === 0) fail("stack underflow");
    const v = stack.pop();
    if (v === MARK) fail("unexpected mark");
    return v;
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail("stack underflow");
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail("no mark on the stack");
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const push = (v: unknown) => {
    if (stack.length >= LIMIT) fail("stack too deep");
    stack.push(v);
  };
  const put = (i: number) => {
    if (memo.size >= LIMIT && !memo.has(i)) fail("memo too large");
    memo.set(i, top());
  };
  const get = (i: number) => {
    if (!memo.has(i)) fail(`memo entry ${i} is missing`);
    push(memo.get(i));
  };
  const tuple = (items: unknown[]) => {
    const t = new PyTuple();
    // A loop, not push(...items): a spread of a few hundred thousand items
    // overflows the call stack.
    for (const item of items) t.push(item);
    return t;
  };
  const extend = (list: unknown[], items: unknown[]) => {
    for (const item of items) list.push(item);
  };
  const asDict = (v: unknown): Map<unknown, unknown> => {
    if (v instanceof Map) return v;
    return fail("SETITEM on something that is not a dict");
  };
  const asList = (v: unknown): unknown[] => {
    if (Array.isArray(v) && !(v instanceof PyTuple)) return v;
    return fail("APPEND on something that is not a list");
  };
  const key = (k: unknown): unknown => {
    if (typeof k === "object" && k !== null) {
      if (k instanceof PyTuple) return tupleKey(k);
      return fail("an unhashable dict key");
    }
    return k;
  };
  // A tuple key as text, "(a, (b, c))", built without recursion and with
  // its nesting capped (String() of nested arrays recurses once per level).
  const tupleKey = (t: PyTuple): string => {
    const parts: string[] = [];
    const work: { items: unknown[]; at: number }[] = [{ items: t, at: 0 }];
    parts.push("(");
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top.at === top.items.length) {
        parts.push(")");
        work.pop();
        continue;
      }
      if (top.at > 0) parts.push(", ");
      const item = top.items[top.at++];
      if (Array.isArray(item)) {
        if (work.length >= MAX_KEY_DEPTH) {
          fail(`a dict key of tuples nested more than ${MAX_KEY_DEPTH} deep`);
        }
        parts.push("(");
        work.push({ items: item, at: 0 });
      } else {
        parts.push(typeof item === "object" && item !== null ? "<object>" : String(item));
      }
    }
    return parts.join("");
  };
  const call = (callable: unknown, args: unknown): unknown => {
    if (!Array.isArray(args)) fail("REDUCE arguments are not a tuple");
    const list = args as unknown[];
    if (callable instanceof PyGlobal) {
      const handler = opts.handlers?.[callable.qualified];
      if (handler) return handler(list);
    }
    return new PyObject(callable, list);
  };
  const int = (s: string): number | bigint => {
    const t = s.trim().replace(/L$/, "");
    // BigInt of decimal text costs more than linear time in its length.
    if (t.length > MAX_INTEGER_BYTES * 2.5) {
      fail(`an integer of ${t.length} digits (at most ${MAX_INTEGER_BYTES * 2.5})`);
    }
    if (t === "00") return 0; // protocol 0's False
    if (t === "01") return 1;
    if (!/^[-+]?\d+$/.test(t)) fail(`'${t.slice(0, 20)}' is not an integer`);
    const b = BigInt(t);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(b)
      : b;
  };
  // A little-endian two's-complement integer, built in linear time: its
  // bytes as one hexadecimal string (a shift-and-or loop over BigInts costs
  // more than the square of the length).
  const long = (raw: Uint8Array): number | bigint => {
    if (raw.length > MAX_INTEGER_BYTES) {
      fail(`an integer of ${raw.length} bytes (at most ${MAX_INTEGER_BYTES})`);
    }
    if (raw.length === 0) return 0;
    const hex = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) {
      hex[raw.length - 1 - i] = raw[i].toString(16).padStart(2, "0");
    }
    let v = BigInt(`0x${hex.join("")}`);
    if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail("pickle protocol above 5");
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return pop();
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(tuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push([]);
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x49: // INT
      case 0x4c: // LONG
        push(int(line()));
        break;
      case 0x8a: // LONG1
        push(long(take(u8())));
        break;
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail("negative LONG4 length");
        if (n > MAX_INTEGER_BYTES) fail(`an integer of ${n} bytes (at most ${MAX_INTEGER_BYTES})`);
        push(long(take(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x46: { // FLOAT
        const v = Number(line());
        if (Number.isNaN(v)) fail("a malformed FLOAT");
        push(v);
        break;
      }
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1.decode(take(u8())));
        break;
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail("negative BINSTRING length");
        push(latin1.decode(take(n)));
        break;
      }
      case 0x43: // SHORT_BINBYTES
        push(take(u8()));
        break;
      case 0x42: // BINBYTES
        push(take(u32()));
        break;
      case 0x8e: // BINBYTES8
        push(take(u64()));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail("STACK_GLOBAL needs two strings");
        }
        push(new PyGlobal(module as string, name as string));
        break;
      }
      case 0x71: // BINPUT
        put(u8());
        break;
      case 0x72: // LONG_BINPUT
        put(u32());
        break;
      case 0x70: // PUT
        put(Number(int(line())));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(u8());
        break;
      case 0x6a: // LONG_BINGET
        get(u32());
        break;
      case 0x67: // GET
        get(Number(int(line())));
        break;
      case 0x74: // TUPLE
        push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        push(tuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        push(tuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x91: // FROZENSET
        push(popMark());
        break;
      case 0x64: { // DICT
        const items = popMark();
        if (items.length % 2) fail("DICT with an odd number of items");
        const d = new Map();
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        push(d);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        extend(asList(top()), items);
        break;
      }
      case 0x90: { // ADDITEMS
        const items = popMark();
        extend(asList(top()), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        asDict(top()).set(key(k), v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        if (items.length % 2) fail("SETITEMS with an odd number of items");
        const d = asDict(top());
        for (let i = 0; i < items.length; i += 2) d.set(key(items[i]), items[i + 1]);
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail("a persistent id, but no storage to resolve it");
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID
        const pid = line();
        if (!opts.persistentLoad) fail("a persistent id, but no storage to resolve it");
        push(opts.persistentLoad!(pid));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), callable = pop();
        push(call(callable, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); // kwargs
        const args = pop(), cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (items.length === 0) fail("OBJ without a class");
        push(new PyObject(items[0], items.slice(1)));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        push(new PyObject(new PyGlobal(module, name), popMark()));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        // An OrderedDict's state (its _metadata attribute) is dropped; other
        // objects keep theirs, inert.
        if (obj instanceof PyObject) obj.state = state;
        break;
      }
      case 0x30: // POP
        if (stack.length === 0) fail("stack underflow");
        if (stack.pop() === MARK) {
          // POP of a mark is allowed (it discards it).
        }
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      default:
        return fail(`unsupported opcode 0x${op.toString(16).padStart(2, "0")} at byte ${at - 1}`);
    }
  }
}
