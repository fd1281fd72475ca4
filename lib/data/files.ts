/**
 * Reading data files: a missing file names its path and where the data comes
 * from; gzip is undone by Deno's native decompressor.
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** Reads `path`; a missing or unreadable file is an InputError naming it and `source` (how to get it). */
export async function readDataFile(path: string, source: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(`missing data file ${path} (${source})`);
    }
    if (e instanceof Deno.errors.IsADirectory) {
      throw new InputError(`${path} is a folder, not a data file (${source})`);
    }
    throw new InputError(`cannot read data file ${path}: ${(e as Error).message}`);
  }
}

/** True when `bytes` start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip data (anything else is returned as is); corrupt data is an InputError. */
export async function gunzip(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
      new DecompressionStream("gzip"),
    );
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new InputError(`corrupted gzip data in ${path}: ${(e as Error).message}`);
  }
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
