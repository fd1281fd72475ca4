/**
 * The entries of a ZIP archive, as far as PyTorch's `torch.save` writes them:
 * stored (uncompressed) members, ZIP64 sizes and offsets included. Reading
 * checks every offset against the file before touching the bytes; an entry
 * is a view of the file's bytes, never a copy.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** One member of the archive. */
export interface ZipEntry {
  /** The member's name (`archive/data.pkl`). */
  name: string;
  /** Its bytes (a view of the archive's bytes). */
  data: Uint8Array;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Whether `bytes` start like a ZIP archive (a local file header). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 &&
    bytes[3] === 0x04;
}

/**
 * The members of the archive `bytes`, by name. `source` names the file in
 * messages. A compressed member, an offset outside the file or a damaged
 * directory is a one-line InputError.
 */
export function readZip(bytes: Uint8Array, source: string): Map<string, ZipEntry> {
  const fail = (why: string): never => {
    throw new InputError(`${source}: damaged or unsupported ZIP archive: ${why}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (
    at: number,
  ) => (at + 2 <= bytes.length ? view.getUint16(at, true) : fail("truncated"));
  const u32 = (
    at: number,
  ) => (at + 4 <= bytes.length ? view.getUint32(at, true) : fail("truncated"));
  const u64 = (at: number): number => {
    if (at + 8 > bytes.length) fail("truncated");
    const v = view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail("a 64-bit field is too large");
    return Number(v);
  };
  // The end-of-central-directory record: within the last 64 KiB + 22 bytes.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === EOCD) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) fail("no end-of-central-directory record (truncated?)");
  let count = u16(eocd + 10);
  let dirSize = u32(eocd + 12);
  let dirOffset = u32(eocd + 16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || u32(locator) !== EOCD64_LOCATOR) fail("missing ZIP64 locator");
    const record = u64(locator + 8);
    if (u32(record) !== EOCD64) fail("missing ZIP64 end-of-central-directory record");
    count = u64(record + 32);
    dirSize = u64(record + 40);
    dirOffset = u64(record + 48);
  }
  if (dirOffset + dirSize > bytes.length) fail("the central directory lies outside the file");
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let at = dirOffset;
  for (let i = 0; i < count; i++) {
    if (u32(at) !== CENTRAL) fail(`entry ${i} of the central directory is damaged`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let compressed = u32(at + 20);
    let size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    let local = u32(at + 42);
    if (at + 46 + nameLength + extraLength > bytes.length) fail("truncated central directory");
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // ZIP64 extra field: the 64-bit values of the fields that hold 0xffffffff, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = u16(extra);
      const length = u16(extra + 2);
      if (id === 0x0001) {
        let field = extra + 4;
        if (size === 0xffffffff) size = u64(field), field += 8;
        if (compressed === 0xffffffff) compressed = u64(field), field += 8;
        if (local === 0xffffffff) local = u64(field);
      }
      extra += 4 + length;
    }
    if (flags & 1) fail(`'${name}' is encrypted`);
    if (method !== 0) {
      fail(`'${name}' is compressed (method ${method}); PyTorch writes members uncompressed`);
    }
    if (compressed !== size) fail(`'${name}' has inconsistent sizes`);
    if (u32(local) !== LOCAL) fail(`the local header of '${name}' is damaged`);
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    if (start + size > bytes.length) fail(`'${name}' runs past the end of the file`);
    entries.set(name, { name, data: bytes.subarray(start, start + size) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
