/**
 * Reading a file the user names (a recipe, a JSON file, a list, weights,
 * an `.npy` array, a data file) without trusting it: only a regular file is
 * read (a folder, a FIFO, a device such as /dev/zero or a socket is refused
 * by `stat` before anything opens it, so nothing blocks and nothing reads
 * without end), and never more than a size limit the caller sets. Text is
 * UTF-8, with a leading byte-order mark dropped (editors on Windows write
 * one). Every refusal is one InputError line naming the file.
 *
 * This module sits at the bottom of the import tree with errors.ts and
 * fs.ts; it imports errors.ts only.
 *
 * ```ts
 * import { readInputText } from "./input_file.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "\ufeff[1, 2]");
 * console.assert((await readInputText(path, { maxBytes: 1024 })) === "[1, 2]");
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

import { InputError } from "./errors.ts";

/** The most a text file (a recipe, JSON, a list of images or classes) may hold: 1 GiB. */
export const MAX_TEXT_BYTES = 2 ** 30;

/** The most a weights file or an `.npy` array may hold: 16 GiB. */
export const MAX_BINARY_BYTES = 2 ** 34;

/** How to read, and how to name the file in messages. */
export interface InputFileOptions {
  /** Refuse a file larger than this many bytes. */
  maxBytes: number;
  /** What the file is, for messages ("config file", "--prior file"); default: nothing. */
  what?: string;
  /** The message for a file that does not exist (default "<what> <path> not found"). */
  missing?: string;
}

/** "1.5 GiB", "300 MiB", "12 KiB" or "100 bytes". */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[2 ** 30, "GiB"], [2 ** 20, "MiB"], [2 ** 10, "KiB"]];
  for (const [size, unit] of units) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}

function named(path: string, what?: string): string {
  return what ? `${what} ${path}` : path;
}

/** The kind of a file that is not regular, in words ("a FIFO (named pipe)"). */
export function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a folder";
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * The size of `path`, checked: a regular file (symbolic links followed) of
 * at most `opts.maxBytes` bytes. Throws a one-line InputError otherwise.
 */
export async function inputFileSize(path: string, opts: InputFileOptions): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw statError(path, opts, e);
  }
  return checkInfo(path, info, opts);
}

function statError(path: string, opts: InputFileOptions, e: unknown): InputError {
  if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
    return new InputError(opts.missing ?? `${named(path, opts.what)} not found`);
  }
  return new InputError(
    `cannot read ${named(path, opts.what)}: ${
      (e as Error).message.split("\n")[0].replace(/ \(os error \d+\).*$/, "").toLowerCase()
    }`,
  );
}

function checkInfo(path: string, info: Deno.FileInfo, opts: InputFileOptions): number {
  if (!info.isFile) {
    const kind = kindOf(info);
    throw new InputError(
      `${named(path, opts.what)} is ${kind}, not a file` +
        (info.isDirectory ? "" : " (only regular files are read)"),
    );
  }
  if (info.size > opts.maxBytes) {
    throw new InputError(
      `${named(path, opts.what)} is ${formatBytes(info.size)}, more than the ` +
        `${formatBytes(opts.maxBytes)} such a file may hold`,
    );
  }
  return info.size;
}

/**
 * The bytes of `path` (see the module notes): a regular file of at most
 * `opts.maxBytes` bytes, read to its end. A file that grows past the limit
 * while it is read is refused too.
 */
export async function readInputFile(path: string, opts: InputFileOptions): Promise<Uint8Array> {
  const size = await inputFileSize(path, opts);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw statError(path, opts, e);
  }
  try {
    return await readToEnd(file, size, path, opts);
  } finally {
    file.close();
  }
}

async function readToEnd(
  file: Deno.FsFile,
  size: number,
  path: string,
  opts: InputFileOptions,
): Promise<Uint8Array> {
  // The size stat gave, plus a byte to notice a file that grew meanwhile.
  let buffer = new Uint8Array(size + 1);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length > opts.maxBytes) {
        throw new InputError(
          `${named(path, opts.what)} grew past ${formatBytes(opts.maxBytes)} while it was read`,
        );
      }
      const bigger = new Uint8Array(Math.min(opts.maxBytes + 1, buffer.length * 2));
      bigger.set(buffer);
      buffer = bigger;
    }
    let n: number | null;
    try {
      n = await file.read(buffer.subarray(length));
    } catch (e) {
      throw statError(path, opts, e);
    }
    if (n === null) break;
    length += n;
  }
  return buffer.subarray(0, length);
}

/**
 * Reads `length` bytes of `path` at byte `offset` (a regular file's header,
 * before deciding whether to read the rest); fewer when the file ends first.
 */
export async function readInputRange(
  path: string,
  offset: number,
  length: number,
  opts: InputFileOptions,
): Promise<Uint8Array> {
  await inputFileSize(path, opts);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw statError(path, opts, e);
  }
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = await file.read(buffer.subarray(got));
      if (n === null) break;
      got += n;
    }
    return buffer.subarray(0, got);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw statError(path, opts, e);
  } finally {
    file.close();
  }
}

/** `bytes` as UTF-8 text (invalid sequences become U+FFFD), a leading byte-order mark dropped. */
export function decodeText(bytes: Uint8Array): string {
  // TextDecoder drops a BOM itself unless told not to.
  return new TextDecoder("utf-8").decode(bytes);
}

/** The text of `path` (see `readInputFile` and `decodeText`). */
export async function readInputText(path: string, opts: InputFileOptions): Promise<string> {
  return decodeText(await readInputFile(path, opts));
}

/**
 * How deeply the arrays and objects of a JSON input may nest. JSON.parse
 * takes any depth, but the code that walks a value (merging a run's
 * configuration, comparing recipes) recurses once per level; no file lade
 * reads nests more than a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `value` (parsed JSON) nests arrays and objects more than `limit`
 * levels deep, found without recursion.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const work: [unknown, number][] = [[value, 0]];
  while (work.length > 0) {
    const [v, depth] = work.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth + 1 > limit) return true;
    for (const item of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof item === "object" && item !== null) work.push([item, depth + 1]);
    }
  }
  return false;
}

/** `text` as JSON (see `readInputJson`); `source` names it in messages. */
export function parseInputJson(text: string, source: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${source}: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new InputError(`${source}: nested more than ${MAX_JSON_DEPTH} levels deep`);
  }
  return value;
}

/**
 * The JSON value in `path` (a UTF-8 file, a byte-order mark allowed). Not
 * JSON, or JSON nested more than MAX_JSON_DEPTH levels, is an InputError:
 * "<what> <path>: not JSON (why)".
 */
export async function readInputJson(path: string, opts: InputFileOptions): Promise<unknown> {
  return parseInputJson(await readInputText(path, opts), named(path, opts.what));
}

/** The synchronous form of `readInputFile`. */
export function readInputFileSync(path: string, opts: InputFileOptions): Uint8Array {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (e) {
    throw statError(path, opts, e);
  }
  checkInfo(path, info, opts);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw statError(path, opts, e);
  }
  if (bytes.length > opts.maxBytes) {
    throw new InputError(
      `${named(path, opts.what)} grew past ${formatBytes(opts.maxBytes)} while it was read`,
    );
  }
  return bytes;
}
