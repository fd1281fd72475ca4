/**
 * Which files a run directory manages: its manifest, configuration,
 * metrics (JSON lines and CSV), result, lock and every file under
 * `checkpoints/` (older archives there are deleted when a newer checkpoint
 * is saved) and `tensorboard/`, and a seed group's `seeds.json` and
 * `config.yaml`. A command that writes a file the user
 * names (`weights export --out`, `predict --save-logits`, ...) asks
 * `managingRun` first, so that no output ever lands on one of them: a run
 * that loses its manifest or checkpoint no longer loads.
 *
 * A folder is a run directory when it holds `checkpoint.json` or
 * `lade.lock` (a run in training that has not saved yet), and a seed group
 * when it holds `seeds.json`.
 *
 * @module
 */

import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { CHECKPOINT_DIR, MANIFEST } from "./checkpoint.ts";
import { LOCK_FILE } from "./lock.ts";
import { METRICS_CSV, METRICS_FILE } from "./metrics.ts";
import { TENSORBOARD_DIR } from "./tensorboard.ts";

/** The run's configuration file (lib/train/trainer.ts writes it). */
export const RUN_CONFIG_FILE = "config.yaml";
/** The run's final result (lib/train/trainer.ts writes it). */
export const RUN_RESULT_FILE = "result.json";
/** A seed group's list of seeds (`train --seeds`). */
export const GROUP_SEEDS_FILE = "seeds.json";

/** The files at the top of a run directory (or seed group) that it manages. */
export const MANAGED_FILES: readonly string[] = [
  MANIFEST,
  RUN_CONFIG_FILE,
  RUN_RESULT_FILE,
  METRICS_FILE,
  METRICS_CSV,
  LOCK_FILE,
  GROUP_SEEDS_FILE,
];

/**
 * The folders of a run directory whose every file it manages: checkpoints
 * (older archives are deleted when a newer one is saved) and TensorBoard's
 * event files (appended to by a resumed run).
 */
export const MANAGED_DIRS: readonly string[] = [CHECKPOINT_DIR, TENSORBOARD_DIR];

/** A file a run manages: the run directory and the file's path inside it. */
export interface ManagedFile {
  /** The run directory (or seed group) that manages the file. */
  run: string;
  /** The file's path relative to it (`checkpoint.json`, `checkpoints/model-...`). */
  file: string;
}

async function isFile(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `dir` is a run directory or a seed group (see the module notes). */
export async function isRunDirectory(dir: string): Promise<boolean> {
  return await isFile(join(dir, MANIFEST)) || await isFile(join(dir, LOCK_FILE)) ||
    await isFile(join(dir, GROUP_SEEDS_FILE));
}

/** `path` with symbolic links resolved as far as the path exists (the rest as given). */
async function realPath(path: string): Promise<string> {
  const missing: string[] = [];
  let at = resolve(path);
  for (;;) {
    try {
      const real = await Deno.realPath(at);
      return missing.length === 0 ? real : join(real, ...missing.reverse());
    } catch {
      const parent = dirname(at);
      if (parent === at) return resolve(path);
      missing.push(basename(at));
      at = parent;
    }
  }
}

/**
 * The run that manages `path` (a file about to be written), or undefined:
 * the nearest enclosing run directory or seed group whose managed files
 * (see the module notes) include it, or the run directory itself. Symbolic
 * links are followed, so a link to a manifest is found too.
 */
export async function managingRun(path: string): Promise<ManagedFile | undefined> {
  const target = await realPath(path);
  if (await isRunDirectory(target)) return { run: target, file: "." };
  for (let dir = dirname(target);; dir = dirname(dir)) {
    if (await isRunDirectory(dir)) {
      const file = relative(dir, target);
      const top = file.split(sep)[0];
      if (MANAGED_FILES.includes(file) || MANAGED_DIRS.includes(top)) return { run: dir, file };
    }
    if (dirname(dir) === dir) return undefined;
  }
}
