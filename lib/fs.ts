/**
 * Writing files so that a reader never sees half of one: the content goes to
 * a temporary file next to the destination, is flushed to disk, and is then
 * renamed over the destination. A process killed at any moment leaves the
 * old file or the new one, never a torn mix (at worst a stray temporary,
 * named `<path>.<pid>.tmp`).
 *
 * This module sits at the bottom of the import tree, with errors.ts: it
 * imports nothing from lade.
 *
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * const path = await Deno.makeTempFile();
 * await writeFileAtomic(path, "one\ntwo\n");
 * console.assert((await Deno.readTextFile(path)) === "one\ntwo\n");
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

/**
 * What to write: text (UTF-8), bytes, or a function that writes the file at
 * the temporary path it is given (for writers that take a path, such as
 * libtorch's archive writer).
 */
export type AtomicContent =
  | string
  | Uint8Array
  | ((temporaryPath: string) => void | Promise<void>);

/** The temporary name `writeFileAtomic` writes `path` through. */
export function temporaryPath(path: string): string {
  return `${path}.${Deno.pid}.tmp`;
}

async function writeAll(path: string, bytes: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

async function syncFile(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true, write: true });
  try {
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * Writes `content` to `path` atomically: to a temporary file in the same
 * folder, synced to disk, then renamed over `path`. On failure the temporary
 * file is removed and `path` is untouched.
 */
export async function writeFileAtomic(path: string, content: AtomicContent): Promise<void> {
  const tmp = temporaryPath(path);
  try {
    if (typeof content === "function") {
      await content(tmp);
      await syncFile(tmp);
    } else {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      await writeAll(tmp, bytes);
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
