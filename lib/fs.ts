/**
 * Writing files so that a reader never sees half of one: the content goes to
 * a temporary file next to the destination, is flushed to disk, and is then
 * renamed over the destination, and the folder is flushed too (so that the
 * rename itself survives a power cut). A process killed at any moment leaves
 * the old file or the new one, never a torn mix (at worst a stray temporary,
 * named `<path>.<pid>.tmp`).
 *
 * Several files that belong together (a report, an exported set of arrays)
 * are written all or nothing by `writeFilesAtomic`: every temporary first,
 * then the renames, so a full disk leaves the folder as it was.
 *
 * This module sits at the bottom of the import tree, with errors.ts: it
 * imports nothing from lade but errors.ts.
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

import { dirname } from "node:path";
import { LadeError } from "./errors.ts";

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

/**
 * The temporaries of the atomic writes under way in this process (files,
 * and the folders of {@link writeDirAtomic}): what a process that must end
 * now removes first ({@link removeTemporariesSync}), so that it leaves
 * nothing half-written behind.
 */
const underWay = new Set<string>();
/**
 * The folders writeDirAtomic has moved aside (`dir.PID.old`) while it puts
 * the new one in place, by the folder: a stop in that moment puts the old
 * one back when the new one is not in place yet.
 */
const movedAside = new Map<string, string>();

/**
 * Removes the temporaries of every atomic write under way in this process
 * and returns their paths. For a process about to exit (a signal): the
 * destinations keep what they held before (the old file or folder, or
 * nothing).
 */
export function removeTemporariesSync(): string[] {
  const paths = [...underWay];
  underWay.clear();
  const removed = new Set<string>();
  // An asynchronous write runs on a thread of its own: one under way as the
  // signal came may create the temporary again (or a file inside it, so
  // that its removal fails) just after the first pass. So: passes until
  // none of them exists, with a pause between (the thread finishes within
  // milliseconds), a few at most.
  let clean = 0;
  for (let pass = 0; pass < 6 && clean < 2 && paths.length > 0; pass++) {
    let present = false;
    for (const path of paths) {
      try {
        Deno.removeSync(path, { recursive: true });
        removed.add(path);
      } catch (e) {
        // never made, or already renamed into place; else still being written
        if (!(e instanceof Deno.errors.NotFound)) present = true;
      }
    }
    const pause = 5 * 2 ** pass;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    clean = !present && paths.every((p) => !existsSync(p)) ? clean + 1 : 0;
  }
  // A folder moved aside: the new one in place, or the old one put back.
  for (const [dir, old] of movedAside) {
    try {
      if (existsSync(dir)) {
        Deno.removeSync(old, { recursive: true });
        removed.add(old);
      } else Deno.renameSync(old, dir);
    } catch {
      // not moved yet, or already removed
    }
  }
  movedAside.clear();
  return [...removed];
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
 * Flushes the folder that holds `path` to disk: its entries (a file renamed
 * or linked into it, a temporary removed) then survive a power cut, as
 * syncing a file does for its bytes. Windows cannot open a folder for this;
 * there its entries are written through by the file system.
 */
async function syncFolder(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const dir = await Deno.open(dirname(path), { read: true });
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** The synchronous form of {@link syncFolder}. */
function syncFolderSync(path: string): void {
  if (Deno.build.os === "windows") return;
  const dir = Deno.openSync(dirname(path), { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}

/**
 * Writes `content` to `path` atomically: to a temporary file in the same
 * folder, synced to disk, then renamed over `path`, and the folder synced.
 * On failure (a full disk included) the temporary file is removed, `path`
 * is untouched and the error is thrown as the file system gave it (a
 * failure to sync the folder comes after the rename: `path` then holds the
 * new content, which a power cut could still undo).
 */
export async function writeFileAtomic(path: string, content: AtomicContent): Promise<void> {
  const tmp = temporaryPath(path);
  underWay.add(tmp);
  try {
    if (typeof content === "function") {
      await content(tmp);
      await syncFile(tmp);
    } else {
      const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
      await writeAll(tmp, bytes);
    }
    await Deno.rename(tmp, path);
    await syncFolder(path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  } finally {
    underWay.delete(tmp);
  }
}

/** Writes the file `name` (a name inside the folder being made) with `content`. */
export type PutFile = (name: string, content: AtomicContent) => Promise<void>;

/**
 * Makes the folder `dir` atomically: `fill` writes its files into a
 * temporary folder beside it (`<dir>.<pid>.tmp`), which then replaces `dir`
 * (an existing `dir` is moved aside to `<dir>.<pid>.old` first and removed
 * after). A reader sees the old folder or the new one, never some of the
 * new files among the old; on failure the temporary folder is removed and
 * `dir` is untouched (a file-system failure is an OutputWriteError naming
 * the file, as it would have been in `dir`, and what is intact). `fill`
 * gets the temporary folder and `put`, which writes one file into it.
 * Returns what `fill` returned.
 */
export async function writeDirAtomic<T>(
  dir: string,
  fill: (temporaryDir: string, put: PutFile) => Promise<T>,
): Promise<T> {
  const tmp = temporaryPath(dir);
  const old = `${dir}.${Deno.pid}.old`;
  underWay.add(tmp);
  try {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await Deno.mkdir(tmp, { recursive: true });
    // A file of the folder; a failure names it (as it would be in `dir`, below).
    const put: PutFile = async (name, content) => {
      const path = `${tmp}/${name}`;
      try {
        await writeFileAtomic(path, content);
      } catch (e) {
        throw new OutputWriteError(path, e, "");
      }
    };
    const out = await fill(tmp, put);
    let replaced = false;
    // (Registered before the move: a stop during it puts the folder back.)
    movedAside.set(dir, old);
    try {
      await Deno.rename(dir, old);
      replaced = true;
    } catch (e) {
      movedAside.delete(dir);
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      if (replaced) await Deno.rename(old, dir).catch(() => {});
      movedAside.delete(dir);
      throw e;
    }
    if (replaced) await Deno.remove(old, { recursive: true }).catch(() => {});
    movedAside.delete(dir);
    await syncFolder(dir);
    return out;
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (!isFileSystemError(e)) throw e; // the caller's own
    throw await folderWriteError(e, dir, tmp);
  } finally {
    underWay.delete(tmp);
  }
}

/** Whether `e` is the file system's (Deno's, or an OutputWriteError), not a caller's own error. */
function isFileSystemError(e: unknown): e is Error {
  return e instanceof OutputWriteError ||
    (e instanceof Error && !(e instanceof LadeError) && /\(os error \d+\)/.test(e.message));
}

/**
 * A file-system error inside writeDirAtomic as an OutputWriteError naming
 * the file as it would have been in `dir` (not in the temporary `tmp`) and
 * what is intact.
 */
async function folderWriteError(e: Error, dir: string, tmp: string): Promise<OutputWriteError> {
  const quoted = e instanceof OutputWriteError ? e.path : /'([^']*)'$/.exec(e.message)?.[1];
  const file = quoted === undefined || !quoted.startsWith(`${tmp}/`)
    ? dir
    : `${dir}/${quoted.slice(tmp.length + 1).replace(/\.\d+\.tmp$/, "")}`;
  const cause = e instanceof OutputWriteError ? e.cause : e;
  return new OutputWriteError(
    file,
    cause,
    (await exists(dir)) ? `${dir} is unchanged` : "nothing was written",
  );
}

/** Options of {@link writeFileAtomicSync}. */
export interface AtomicWriteOptions {
  /**
   * Create `path` only if there is none: the complete, synced temporary is
   * hard-linked to `path` (which fails, atomically, when `path` exists)
   * rather than renamed over it, and the write returns false, leaving an
   * existing `path` as it was. For lock files. Default false.
   */
  exclusive?: boolean;
}

/**
 * The synchronous form of {@link writeFileAtomic}, for text or bytes;
 * returns true once `path` holds `content` (false only when `exclusive`
 * found a `path` already there).
 */
export function writeFileAtomicSync(
  path: string,
  content: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): boolean {
  const tmp = temporaryPath(path);
  // (Synchronous: no signal listener runs while it writes, so nothing to register.)
  try {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    const file = Deno.openSync(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
      file.syncSync();
    } finally {
      file.close();
    }
    if (opts.exclusive) {
      try {
        Deno.linkSync(tmp, path);
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) return false;
        throw e;
      }
      Deno.removeSync(tmp);
    } else {
      Deno.renameSync(tmp, path);
    }
    syncFolderSync(path);
    return true;
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch {
      // renamed into place, already removed, or never written
    }
  }
}

/** True for a name `writeFileAtomic` uses as a temporary (`<name>.<pid>.tmp`). */
export function isTemporaryName(name: string): boolean {
  return /\.\d+\.tmp$/.test(name);
}

/**
 * Removes the temporaries that interrupted atomic writes left in `dir` (not
 * recursive): files and folders named `<name>.<pid>.tmp` whose process `pid` is not
 * running (on Linux; elsewhere, those of any process but this one). Returns
 * the names removed. A folder that does not exist has none.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed;
  }
  for (const entry of entries) {
    if (!(entry.isFile || entry.isDirectory) || !isTemporaryName(entry.name)) continue;
    const pid = Number(/\.(\d+)\.tmp$/.exec(entry.name)![1]);
    if (pid === Deno.pid || processRunning(pid)) continue;
    try {
      await Deno.remove(`${dir}/${entry.name}`, { recursive: true });
      removed.push(entry.name);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/**
 * Whether process `pid` is running on this machine: Linux's /proc says;
 * where there is none, every other process counts as gone (its temporaries
 * are only ever left behind by a process that was killed).
 */
export function processRunning(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return false;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * A file that could not be written (a full disk, a folder in the way, no
 * permission): the message names the file, why, and what is intact.
 */
export class OutputWriteError extends LadeError {
  /** Always "OutputWriteError". */
  override name = "OutputWriteError";
  /** The file that could not be written. */
  readonly path: string;

  /** `path` could not be written because of `cause`; `intact` says what was kept. */
  constructor(path: string, cause: unknown, intact: string) {
    super(`cannot write ${path}: ${writeReason(cause)}; ${intact}`, { cause });
    this.path = path;
  }
}

/**
 * Why a write failed, in words: Deno's "No space left on device (os error
 * 28): write 'x'" becomes "no space left on device".
 */
export function writeReason(cause: unknown): string {
  const text = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
  const why = text.replace(/ \(os error \d+\).*$/, "").replace(/: \w+ '[^']*'$/, "");
  return why.charAt(0).toLowerCase() + why.slice(1);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes several files all or nothing: each to its temporary (see
 * `writeFileAtomic`), and only when every one is written and synced, the
 * renames. When a write fails (a full disk), the temporaries are removed,
 * no destination has changed, and an OutputWriteError names the file that
 * failed. Returns the paths written, in order.
 */
export async function writeFilesAtomic(
  files: ReadonlyArray<readonly [string, AtomicContent]>,
): Promise<string[]> {
  try {
    return await writeFilesAtomicUnderWay(files);
  } finally {
    for (const [path] of files) underWay.delete(temporaryPath(path));
  }
}

async function writeFilesAtomicUnderWay(
  files: ReadonlyArray<readonly [string, AtomicContent]>,
): Promise<string[]> {
  const made: string[] = [];
  for (const [path, content] of files) {
    const tmp = temporaryPath(path);
    made.push(tmp);
    underWay.add(tmp);
    try {
      if (typeof content === "function") {
        await content(tmp);
        await syncFile(tmp);
      } else {
        await writeAll(
          tmp,
          typeof content === "string" ? new TextEncoder().encode(content) : content,
        );
      }
    } catch (e) {
      for (const t of made) await Deno.remove(t).catch(() => {});
      const intact = files.length === 1
        ? (await exists(path) ? `${path} is unchanged` : "nothing was written")
        : "nothing was written (files already there are unchanged)";
      throw new OutputWriteError(path, e, intact);
    }
  }
  const done: string[] = [];
  for (const [path] of files) {
    try {
      await Deno.rename(temporaryPath(path), path);
    } catch (e) {
      for (const [p] of files) await Deno.remove(temporaryPath(p)).catch(() => {});
      throw new OutputWriteError(
        path,
        e,
        done.length === 0 ? "nothing was written" : `written before it: ${done.join(", ")}`,
      );
    }
    done.push(path);
  }
  // The renames survive a power cut once their folders are synced (each once).
  const folders = new Map(files.map(([path]) => [dirname(path), path]));
  for (const path of folders.values()) await syncFolder(path);
  return done;
}
