/**
 * Where a command may write the files a user names (`weights export --out`,
 * `predict --save-logits`, `evaluate --export-npy`, `compare --out`, ...):
 * never over a file a run directory manages (its manifest, checkpoints,
 * configuration, metrics; see lib/run/managed.ts) or over anything but a
 * regular file (a device, a FIFO), whatever the flags say, and never over
 * any other existing file unless `--force` asks for it.
 * Checked before the command's (slow) work, so a refusal costs nothing.
 *
 * @module
 */

import { join } from "node:path";
import { kindOf } from "../input_file.ts";
import { managingRun } from "../run/managed.ts";
import { UsageError } from "./errors.ts";

/** What a check needs: the flag that named the path, and whether --force was given. */
export interface OutputCheck {
  /** The flag (`--out`), for messages. */
  flag: string;
  /** Replace an existing file that no run manages. */
  force?: boolean;
}

async function lstat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    if (e instanceof Deno.errors.NotADirectory) {
      throw new UsageError(`${path}: a part of the path is a file, not a folder`);
    }
    throw e;
  }
}

/**
 * Checks that the file `path` may be written (see the module notes); a
 * UsageError naming `check.flag` otherwise.
 */
export async function checkOutputFile(path: string, check: OutputCheck): Promise<void> {
  const managed = await managingRun(path);
  if (managed !== undefined) {
    throw new UsageError(
      managed.file === "."
        ? `${check.flag} ${path} is a run directory; give a file name`
        : `${check.flag} ${path} is ${managed.file} of the run ${managed.run}, which the run ` +
          "needs: choose another path (--force does not override this)",
    );
  }
  const info = await lstat(path);
  if (info === undefined) return;
  // A symbolic link is judged by what it points at (a dangling one is replaced).
  const target = info.isSymlink ? await Deno.stat(path).catch(() => undefined) : info;
  if (target?.isDirectory) {
    throw new UsageError(`${check.flag} ${path} is a folder; give a file name`);
  }
  // Replacing a device or a FIFO with a file would break whatever uses it
  // (as root, /dev/null itself): only regular files are ever replaced.
  if (target !== undefined && !target.isFile) {
    throw new UsageError(
      `${check.flag} ${path} is ${kindOf(target)}, not a regular file: choose another path ` +
        "(--force does not override this)",
    );
  }
  if (!check.force) {
    throw new UsageError(`${check.flag} ${path} exists; use --force to replace it`);
  }
}

/**
 * Checks that the files `names` may be written into the folder `dir`
 * (absent, then made, or a folder): each as `checkOutputFile` checks it.
 */
export async function checkOutputFiles(
  dir: string,
  names: readonly string[],
  check: OutputCheck,
): Promise<void> {
  const info = await lstat(dir);
  if (info !== undefined && !info.isDirectory) {
    const target = info.isSymlink ? await Deno.stat(dir).catch(() => undefined) : info;
    if (!target?.isDirectory) {
      throw new UsageError(`${check.flag} ${dir}: exists and is not a folder`);
    }
  }
  const existing: string[] = [];
  for (const name of names) {
    try {
      await checkOutputFile(join(dir, name), { ...check, force: true });
    } catch (e) {
      if (e instanceof UsageError && /is a folder; give a file name$/.test(e.message)) {
        throw new UsageError(`${check.flag} ${dir}: ${name} there is a folder`);
      }
      throw e;
    }
    if (!check.force && (await lstat(join(dir, name))) !== undefined) existing.push(name);
  }
  if (existing.length > 0) {
    throw new UsageError(
      `${check.flag} ${dir} already holds ${existing.slice(0, 3).join(", ")}` +
        `${existing.length > 3 ? ` and ${existing.length - 3} more` : ""}; ` +
        "use --force to replace them",
    );
  }
}
