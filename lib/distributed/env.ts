/**
 * Where this process sits in a distributed job, from the environment its
 * launcher set: torchrun's (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
 * `MASTER_ADDR`, `MASTER_PORT`; lade's own launcher sets the same) or Slurm's
 * (`SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`, with `MASTER_ADDR` and
 * `MASTER_PORT` given or derived from the allocation). torchrun's variables
 * win when both are present (torchrun inside an `srun` step).
 *
 * ```ts
 * import { expandHostList, parseRankEnv } from "./env.ts";
 * expandHostList("node[01-03,07]"); // ["node01", "node02", "node03", "node07"]
 * parseRankEnv({ SLURM_PROCID: "5", SLURM_NTASKS: "8", SLURM_LOCALID: "1",
 *   SLURM_JOB_NODELIST: "gpu[3-4]", SLURM_JOB_ID: "4242" });
 * // { rank: 5, worldSize: 8, localRank: 1, masterAddr: "gpu3", masterPort: 14242, launcher: "slurm" }
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** A distributed rank's place in its job. */
export interface RankEnv {
  /** This process's rank, 0..worldSize-1. */
  rank: number;
  /** Number of ranks in the job. */
  worldSize: number;
  /** Rank among the processes of this node (picks the CUDA device). */
  localRank: number;
  /** Processes on this node, when the launcher said. */
  localWorldSize?: number;
  /** Host of rank 0, where the rendezvous (TCPStore) listens. */
  masterAddr: string;
  /** Port of the rendezvous. */
  masterPort: number;
  /** Which variables described the job. */
  launcher: "torchrun" | "slurm";
}

/** The environment, as a plain object of variables (`Deno.env.toObject()`). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The rendezvous port when neither MASTER_PORT nor SLURM_JOB_ID says (torchrun's default). */
export const DEFAULT_MASTER_PORT = 29500;

function present(env: Env, name: string): boolean {
  return env[name] !== undefined && env[name]!.trim() !== "";
}

function integer(env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = env[name]!.trim();
  if (!/^\d+$/.test(text)) {
    throw new InputError(name, `'${env[name]}' is not a non-negative integer`);
  }
  const value = Number(text);
  if (value < min || value > max) {
    throw new InputError(name, `${value} is outside ${min}..${max}`);
  }
  return value;
}

function checkRank(rank: number, world: number, rankName: string, worldName: string): void {
  if (rank >= world) {
    throw new InputError(rankName, `${rank} is not below ${worldName} (${world})`);
  }
}

/** Splits at the commas that are not inside brackets. */
function topLevelItems(list: string): string[] {
  const items: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === "[") depth++;
    else if (c === "]") {
      depth--;
      if (depth < 0) throw new InputError("hostList", `unbalanced ']' in '${list}'`);
    } else if (c === "," && depth === 0) {
      items.push(list.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new InputError("hostList", `unbalanced '[' in '${list}'`);
  items.push(list.slice(start));
  return items.map((s) => s.trim()).filter((s) => s !== "");
}

/** The values of one bracket body such as `01-04,07`, zero-padding kept. */
function expandRanges(body: string, list: string, limit: number): string[] {
  const out: string[] = [];
  for (const part of body.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new InputError("hostList", `bad range '${part}' in '${list}'`);
    const lo = Number(m[1]), hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new InputError("hostList", `descending range '${part}' in '${list}'`);
    if (out.length + (hi - lo + 1) > limit) {
      throw new InputError("hostList", `'${list}' names more than ${limit} hosts`);
    }
    const width = m[1].length;
    for (let v = lo; v <= hi; v++) out.push(String(v).padStart(width, "0"));
  }
  return out;
}

/**
 * Expands Slurm's compressed host list (`node[01-04,07],gpu5`,
 * `rack[1-2]-n[1-2]`) into host names, in order. Zero padding follows the
 * lower bound (`[08-10]` gives 08, 09, 10). Throws an InputError on a
 * malformed list or one naming more than `limit` hosts.
 */
export function expandHostList(list: string, limit = 100_000): string[] {
  const hosts: string[] = [];
  for (const item of topLevelItems(list)) {
    // Split the item into literal text and bracket groups; the result is
    // their Cartesian product, leftmost group slowest.
    let names = [""];
    const pattern = /\[([^\]]*)\]|([^[\]]+)/g;
    for (const m of item.matchAll(pattern)) {
      const parts = m[1] !== undefined ? expandRanges(m[1], list, limit) : [m[2]];
      if (names.length * parts.length > limit) {
        throw new InputError("hostList", `'${list}' names more than ${limit} hosts`);
      }
      names = names.flatMap((prefix) => parts.map((p) => prefix + p));
    }
    hosts.push(...names);
    if (hosts.length > limit) {
      throw new InputError("hostList", `'${list}' names more than ${limit} hosts`);
    }
  }
  return hosts;
}

/** The first host of a Slurm host list, without expanding the rest. */
export function firstHost(list: string): string {
  const first = topLevelItems(list)[0];
  if (first === undefined) throw new InputError("hostList", `'${list}' names no host`);
  return expandHostList(first, 1_000_000)[0];
}

function master(env: Env, fallbackAddr: string | undefined, fallbackPort: number): {
  masterAddr: string;
  masterPort: number;
} {
  const masterAddr = present(env, "MASTER_ADDR") ? env.MASTER_ADDR!.trim() : fallbackAddr;
  if (masterAddr === undefined) {
    throw new InputError(
      "MASTER_ADDR",
      "is not set: set it to the host of rank 0 (and MASTER_PORT to a free port there)",
    );
  }
  const masterPort = present(env, "MASTER_PORT")
    ? integer(env, "MASTER_PORT", 1, 65535)
    : fallbackPort;
  return { masterAddr, masterPort };
}

/**
 * This process's rank environment, or undefined when it was not started as
 * one rank of a distributed job (neither `RANK`/`WORLD_SIZE` nor
 * `SLURM_PROCID`/`SLURM_NTASKS` set). Inconsistent or incomplete settings
 * throw an InputError naming the variable.
 *
 * torchrun (and lade's launcher): `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and
 * `MASTER_PORT` are required; `LOCAL_RANK` defaults to `RANK` (one node).
 *
 * Slurm (`srun`): `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID` (default
 * 0); `MASTER_ADDR` defaults to the first host of `SLURM_JOB_NODELIST`
 * (or `SLURM_NODELIST`), `MASTER_PORT` to 10000 + `SLURM_JOB_ID` mod 50000
 * (so two jobs sharing a node do not collide), else 29500.
 *
 * @example torchrun's variables; none outside a distributed job
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRankEnv } from "./mod.ts";
 *
 * const env = { RANK: "1", WORLD_SIZE: "2", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "29500" };
 * assert.deepEqual(parseRankEnv(env), {
 *   rank: 1,
 *   worldSize: 2,
 *   localRank: 1,
 *   masterAddr: "10.0.0.1",
 *   masterPort: 29500,
 *   launcher: "torchrun",
 * });
 * assert.equal(parseRankEnv({}), undefined);
 * ```
 */
export function parseRankEnv(env: Env = Deno.env.toObject()): RankEnv | undefined {
  if (present(env, "RANK") || present(env, "WORLD_SIZE")) {
    for (const name of ["RANK", "WORLD_SIZE"]) {
      if (!present(env, name)) {
        throw new InputError(
          name,
          `is not set, but ${
            name === "RANK" ? "WORLD_SIZE" : "RANK"
          } is (a torchrun-style launch needs both)`,
        );
      }
    }
    const worldSize = integer(env, "WORLD_SIZE", 1);
    const rank = integer(env, "RANK", 0);
    checkRank(rank, worldSize, "RANK", "WORLD_SIZE");
    const localWorldSize = present(env, "LOCAL_WORLD_SIZE")
      ? integer(env, "LOCAL_WORLD_SIZE", 1)
      : undefined;
    const localRank = present(env, "LOCAL_RANK") ? integer(env, "LOCAL_RANK", 0) : rank;
    if (localWorldSize !== undefined) {
      checkRank(localRank, localWorldSize, "LOCAL_RANK", "LOCAL_WORLD_SIZE");
    }
    return {
      rank,
      worldSize,
      localRank,
      ...(localWorldSize !== undefined ? { localWorldSize } : {}),
      ...master(env, undefined, DEFAULT_MASTER_PORT),
      launcher: "torchrun",
    };
  }
  if (present(env, "SLURM_PROCID") || present(env, "SLURM_NTASKS")) {
    for (const name of ["SLURM_PROCID", "SLURM_NTASKS"]) {
      if (!present(env, name)) {
        throw new InputError(
          name,
          "is not set (a Slurm launch needs SLURM_PROCID and SLURM_NTASKS)",
        );
      }
    }
    const worldSize = integer(env, "SLURM_NTASKS", 1);
    const rank = integer(env, "SLURM_PROCID", 0);
    checkRank(rank, worldSize, "SLURM_PROCID", "SLURM_NTASKS");
    const localRank = present(env, "SLURM_LOCALID") ? integer(env, "SLURM_LOCALID", 0) : 0;
    const localWorldSize = present(env, "SLURM_NTASKS_PER_NODE") &&
        /^\d+$/.test(env.SLURM_NTASKS_PER_NODE!.trim())
      ? Number(env.SLURM_NTASKS_PER_NODE!.trim())
      : undefined;
    const nodeList = present(env, "SLURM_JOB_NODELIST")
      ? env.SLURM_JOB_NODELIST!
      : present(env, "SLURM_NODELIST")
      ? env.SLURM_NODELIST!
      : undefined;
    let fallbackAddr: string | undefined;
    if (nodeList !== undefined && !present(env, "MASTER_ADDR")) {
      try {
        fallbackAddr = firstHost(nodeList);
      } catch (e) {
        throw new InputError(
          "SLURM_JOB_NODELIST",
          `cannot take rank 0's host from '${nodeList}': ${(e as Error).message}`,
        );
      }
    }
    const fallbackPort = present(env, "SLURM_JOB_ID") && /^\d+$/.test(env.SLURM_JOB_ID!.trim())
      ? 10000 + Number(env.SLURM_JOB_ID!.trim()) % 50000
      : DEFAULT_MASTER_PORT;
    let where: { masterAddr: string; masterPort: number };
    try {
      where = master(env, fallbackAddr, fallbackPort);
    } catch (e) {
      if (e instanceof InputError && e.parameter === "MASTER_ADDR") {
        throw new InputError(
          "MASTER_ADDR",
          "is not set and SLURM_JOB_NODELIST is not either: set MASTER_ADDR to the host of rank 0",
        );
      }
      throw e;
    }
    return {
      rank,
      worldSize,
      localRank,
      ...(localWorldSize !== undefined ? { localWorldSize } : {}),
      ...where,
      launcher: "slurm",
    };
  }
  return undefined;
}
