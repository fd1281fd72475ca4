/**
 * `lade train --seeds 0,1,2` (or `--repeat N`): the recipe once per seed,
 * each into its own run directory inside one group folder
 * (`GROUP/seed0`, `GROUP/seed1`, ...), then the comparison of the group: every
 * cell of the shift grid as mean ± std over the seeds (`GROUP/compare/`).
 * `train --resume GROUP` continues the unfinished seeds and starts the
 * missing ones.
 *
 * The group folder holds `config.yaml` (the resolved recipe, which every
 * seed run trains with its own seed) and `seeds.json` (the seeds).
 *
 * @module
 */

import { join } from "node:path";
import { writeFilesAtomic } from "../fs.ts";
import { MAX_TEXT_BYTES, readInputJson } from "../input_file.ts";
import { UsageError } from "./errors.ts";
import { setPhase } from "./signals.ts";
import { TRAIN_FLAGS } from "../config/train_flags.ts";
import { compareCommand } from "./compare.ts";
import { readManifest } from "../run/checkpoint.ts";
import { parseRankEnv } from "../distributed/env.ts";
import { configToYaml, readConfigFile, resolveConfig } from "../config/config.ts";
import { RESULT_FILE } from "../train/trainer.ts";
import { parseFlags, timestamp, trainCommand, type TrainCommandOptions } from "./train.ts";

/** The flags of `train` with the seed flags. */
export interface TrainEntryOptions extends TrainCommandOptions {
  /** Comma-separated seeds. */
  seeds?: string;
  /** Runs with seeds s, s+1, ..., s+N-1 (s: --seed or the recipe's seed). */
  repeat?: string;
}

/** The group folder's list of seeds. */
export const SEEDS_FILE = "seeds.json";

/** Parses `--seeds 0,1,2`: distinct non-negative integers. */
export function parseSeeds(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const seeds = parts.map(Number);
  if (
    parts.some((p) => p === "") || !seeds.every((s) => Number.isSafeInteger(s) && s >= 0) ||
    new Set(seeds).size !== seeds.length
  ) {
    throw new UsageError(
      `invalid --seeds '${text}': expected distinct non-negative integers, e.g. 0,1,2`,
    );
  }
  return seeds;
}

/** The run directory of `seed` in a group. */
export function seedRunDir(group: string, seed: number): string {
  return join(group, `seed${seed}`);
}

async function readSeeds(group: string): Promise<number[] | null> {
  try {
    const v = await readInputJson(join(group, SEEDS_FILE), { maxBytes: MAX_TEXT_BYTES }) as {
      seeds?: unknown;
    };
    return Array.isArray(v?.seeds) ? v.seeds : null;
  } catch {
    return null;
  }
}

async function finished(dir: string): Promise<boolean> {
  try {
    await Deno.stat(join(dir, RESULT_FILE));
    return true;
  } catch {
    return false;
  }
}

/** Trains the seeds of a group that are not finished, then compares them. */
async function runGroup(group: string, seeds: number[], o: TrainEntryOptions): Promise<void> {
  const config = join(group, "config.yaml");
  for (const [k, seed] of seeds.entries()) {
    const dir = seedRunDir(group, seed);
    // Between seeds (each seed's training sets phases of its own).
    setPhase({
      doing: `the seed group ${group} (seed ${seed}, ${k + 1} of ${seeds.length})`,
      intact: "the runs of the seeds so far are intact",
      next: `continue the group with: lade train --resume ${group}`,
    });
    console.log(`\n== seed ${seed} (${k + 1} of ${seeds.length}): ${dir}`);
    if (await finished(dir)) {
      console.log("finished already");
      continue;
    }
    // The flags every seed's run takes (TRAIN_FLAGS' `group: "passed"`); the
    // rest is the group's recipe, config.yaml.
    const hardware = Object.fromEntries(
      TRAIN_FLAGS.filter((f) => f.group === "passed" && f.name !== "resume").map((f) => [
        f.name,
        o[f.name],
      ]),
    );
    if ((await readManifest(dir).catch(() => null)) !== null) {
      await trainCommand({ ...hardware, resume: dir }, { group });
    } else {
      await trainCommand({ ...hardware, config, seed: String(seed), out: dir }, { group });
    }
  }
  console.log(`\n== ${seeds.length} seeds of ${group}`);
  setPhase({
    doing: `the comparison of the seeds of ${group}`,
    intact: `every seed's run in ${group} is finished and intact`,
    next: `compare them with: lade compare ${group} --out ${join(group, "compare")} --force`,
  });
  // The group's own comparison, rewritten as its seeds finish (not a user's file).
  await compareCommand([group], { out: join(group, "compare"), force: true });
}

/** `train --resume GROUP`: whether `dir` is a seed group rather than a run. */
export async function isSeedGroup(dir: string): Promise<boolean> {
  return (await readSeeds(dir)) !== null && (await readManifest(dir).catch(() => null)) === null;
}

/** Runs `train`: one run, or one per seed with --seeds/--repeat (or --resume of a group). */
export async function trainEntry(o: TrainEntryOptions): Promise<void> {
  const many = o.seeds !== undefined || o.repeat !== undefined;
  const asGroup = many || (o.resume !== undefined && await isSeedGroup(o.resume));
  const env = parseRankEnv();
  if (asGroup && env !== undefined) {
    // Every rank would run the whole group and write its comparison.
    throw new UsageError(
      `--seeds/--repeat: this process is rank ${env.rank} of ${env.worldSize} ` +
        `(started by ${env.launcher}); run the seeds from one process with --nproc-per-node, ` +
        `or launch one seed at a time`,
    );
  }
  if (o.resume !== undefined && asGroup) {
    for (const f of TRAIN_FLAGS) {
      if (f.group === "refused" && o[f.name] !== undefined) {
        throw new UsageError(`${f.flag} cannot be combined with --resume of a seed group`);
      }
    }
    const seeds = await readSeeds(o.resume);
    if (seeds === null) throw new UsageError(`--resume ${o.resume}: no ${SEEDS_FILE} there`);
    return await runGroup(o.resume, seeds, o);
  }
  if (!many) return await trainCommand(o);
  if (o.seeds !== undefined && o.repeat !== undefined) {
    throw new UsageError("give --seeds or --repeat, not both");
  }
  if (o.seeds !== undefined && o.seed !== undefined) {
    throw new UsageError("give --seeds or --seed, not both");
  }
  const file = o.config === undefined
    ? undefined
    : { patch: await readConfigFile(o.config), path: o.config };
  const config = resolveConfig(file, parseFlags(o));
  let seeds: number[];
  if (o.seeds !== undefined) {
    seeds = parseSeeds(o.seeds);
  } else {
    const n = Number(o.repeat);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(`invalid --repeat '${o.repeat}': expected a positive integer`);
    }
    seeds = Array.from({ length: n }, (_, i) => config.seed + i);
  }
  const group = o.out ??
    `runs/${config.name ?? `${config.dataset.name}_${config.method.name}`}_${timestamp()}`;
  if ((await readSeeds(group)) !== null || (await readManifest(group).catch(() => null)) !== null) {
    throw new UsageError(
      `--out ${group} already holds runs; continue with --resume ${group} or choose another --out`,
    );
  }
  const existed = await Deno.lstat(group).then(() => true, () => false);
  await Deno.mkdir(group, { recursive: true });
  try {
    // Both or neither (a full disk names the file and leaves no group behind).
    await writeFilesAtomic([
      [join(group, "config.yaml"), configToYaml(config)],
      [
        join(group, SEEDS_FILE),
        JSON.stringify({ seeds, created: new Date().toISOString() }) + "\n",
      ],
    ]);
  } catch (e) {
    if (!existed) await Deno.remove(group, { recursive: true }).catch(() => {});
    throw e;
  }
  await runGroup(group, seeds, o);
}
