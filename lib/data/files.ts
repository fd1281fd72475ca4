/**
 * Reading data files: a missing file names its path and where the data comes
 * from; gzip is undone by Deno's native decompressor.
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { formatBytes, inputFileSize, MAX_BINARY_BYTES, readInputFile } from "../input_file.ts";

/** Reads `path`; a missing or unreadable file is an InputError naming it and `source` (how to get it). */
export async function readDataFile(path: string, source: string): Promise<Uint8Array> {
  const opts = {
    maxBytes: MAX_BINARY_BYTES,
    what: "data file",
    missing: `missing data file ${path} (${source})`,
  };
  try {
    await inputFileSize(path, opts);
  } catch (e) {
    // A folder where a file should be: say where the data comes from.
    if (e instanceof InputError && / is a folder, not a file$/.test(e.message)) {
      throw new InputError(`${path} is a folder, not a data file (${source})`);
    }
    throw e;
  }
  return await readInputFile(path, opts);
}

/** The most a gzip file may expand to: 16 GiB (a gzip bomb stops there). */
export const MAX_GUNZIP_BYTES = MAX_BINARY_BYTES;

/** True when `bytes` start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip data (anything else is returned as is); corrupt data is an InputError. */
export async function gunzip(
  bytes: Uint8Array,
  path: string,
  maxBytes = MAX_GUNZIP_BYTES,
): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      // Counted as it expands: a few kilobytes of gzip can claim terabytes.
      if (total > maxBytes) {
        throw new InputError(
          `${path}: gzip data that expands past ${
            formatBytes(maxBytes)
          } (a damaged or hostile file)`,
        );
      }
      chunks.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof InputError) throw e;
    throw new InputError(`corrupted gzip data in ${path}: ${(e as Error).message}`);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The first of `candidates` that exists, or undefined. */
export async function firstExisting(candidates: readonly string[]): Promise<string | undefined> {
  for (const path of candidates) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile) return path;
    } catch {
      // not there: try the next
    }
  }
  return undefined;
}

/**
 * The entries of the folder `dir`. Deno decodes entry names as UTF-8,
 * replacing bytes that are not by U+FFFD, and a name decoded so opens
 * nothing: such an entry is an InputError naming it, with the ways that
 * keep a name's bytes (the command line, a list file). An unreadable
 * folder is an InputError too.
 */
export async function folderEntries(dir: string): Promise<Deno.DirEntry[]> {
  let list: Deno.DirEntry[];
  try {
    list = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    throw new InputError(`cannot read the folder ${dir}: ${(e as Error).message.split("\n")[0]}`);
  }
  const lossy = list.find((e) => e.name.includes("\ufffd"));
  if (lossy !== undefined) {
    throw new InputError(
      `${dir} holds '${lossy.name}', a name that is not UTF-8, which a folder listing cannot ` +
        "open: rename it, or name its images on the command line or in a list file",
    );
  }
  return list;
}
