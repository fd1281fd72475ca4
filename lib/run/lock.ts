/**
 * One writer per run directory: training takes a lock file (`lade.lock`)
 * in the run directory before it writes anything there, and removes it when
 * it ends. The file names the holder (pid, host, start time), so a second
 * `train --resume` of the same run fails with one line saying who holds it.
 *
 * A lock left by a process that died (SIGKILL, a crashed node) is stale: on
 * the same host, a holder whose pid no longer runs (or runs another program
 * started later) is detected through /proc and the lock is taken over. A
 * holder on another host (a shared file system) cannot be checked from here;
 * the message says how to remove its lock by hand.
 *
 * In a distributed run only rank 0 writes the run directory, so only rank 0
 * takes the lock.
 *
 * @module
 */

import { hostname } from "node:os";
import { InputError } from "../errors.ts";
import { writeFileAtomicSync } from "../fs.ts";
import { decodeText, readInputFileSync } from "../input_file.ts";

/** The lock file's name inside a run directory. */
export const LOCK_FILE = "lade.lock";

/** What a lock file says about its holder. */
export interface LockHolder {
  /** Process id on `host`. */
  pid: number;
  /** The holder's host name. */
  host: string;
  /** When the holder took the lock (ISO time). */
  since: string;
  /** The holder's start time in clock ticks after boot (Linux), to tell a reused pid apart. */
  start?: string;
}

/** This process's start time from /proc (Linux), or undefined elsewhere. */
function processStart(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 22 (starttime); the command name (field 2) may hold spaces, so count after ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function hasProc(): boolean {
  try {
    return Deno.statSync("/proc/self/stat").isFile;
  } catch {
    return false;
  }
}

/** Whether the holder of a lock written on this host is gone (false when it cannot tell). */
function holderGone(h: LockHolder): boolean {
  if (h.host !== hostname() || !hasProc()) return false;
  if (h.pid === Deno.pid) return false;
  const start = processStart(h.pid);
  if (start === undefined) return true; // no such process
  return h.start !== undefined && start !== h.start; // the pid was reused
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof h.pid === "number" && Number.isInteger(h.pid) && typeof h.host === "string" &&
      typeof h.since === "string"
    ) {
      return h as LockHolder;
    }
  } catch {
    // not a lock this code wrote
  }
  return undefined;
}

function readHolder(path: string): LockHolder | undefined | null {
  let bytes: Uint8Array;
  try {
    // A lock is a small regular file; anything else planted there is refused
    // (a FIFO would block the read forever).
    bytes = readInputFileSync(path, { maxBytes: 64 * 1024, what: "run lock" });
  } catch (e) {
    if (e instanceof InputError && / not found$/.test(e.message)) return null;
    throw e;
  }
  return parseHolder(decodeText(bytes));
}

/** Writes `text` to a new file at `path` only when there is none (atomically, complete). */
function createExclusive(path: string, text: string): boolean {
  return writeFileAtomicSync(path, text, { exclusive: true });
}

/** A held run lock; `release()` (or `using`) removes it. */
export class RunLock {
  /** The lock file. */
  readonly path: string;
  /** The stale holder this lock was taken over from, if any. */
  readonly tookOverFrom?: LockHolder;
  readonly #me: LockHolder;
  #held = true;

  private constructor(path: string, me: LockHolder, tookOverFrom?: LockHolder) {
    this.path = path;
    this.#me = me;
    this.tookOverFrom = tookOverFrom;
    RunLock.#live.add(this);
  }

  static #live = new Set<RunLock>();
  static #unloadHooked = false;

  /**
   * Takes the lock of `runDir` (which must exist). A live holder makes it an
   * InputError naming the holder; a stale lock is taken over.
   */
  static acquire(runDir: string): RunLock {
    const path = `${runDir}/${LOCK_FILE}`;
    const me: LockHolder = {
      pid: Deno.pid,
      host: hostname(),
      since: new Date().toISOString(),
      ...(processStart(Deno.pid) !== undefined ? { start: processStart(Deno.pid) } : {}),
    };
    const text = JSON.stringify(me) + "\n";
    RunLock.#hookUnload();
    for (let attempt = 0; attempt < 5; attempt++) {
      if (createExclusive(path, text)) return new RunLock(path, me);
      const holder = readHolder(path);
      if (holder === null) continue; // released meanwhile: try again
      if (holder !== undefined && !holderGone(holder)) throw busy(runDir, holder);
      // Stale (or unreadable): take it over, one taker at a time.
      const takeover = `${path}.takeover`;
      if (!createExclusive(takeover, text)) {
        const other = readHolder(takeover);
        if (other && !holderGone(other)) throw busy(runDir, other);
        try {
          Deno.removeSync(takeover);
        } catch {
          // another taker removed it
        }
        continue;
      }
      try {
        const again = readHolder(path);
        if (again !== null && again !== undefined && !holderGone(again)) throw busy(runDir, again);
        writeFileAtomicSync(path, text);
        return new RunLock(path, me, holder);
      } finally {
        try {
          Deno.removeSync(takeover);
        } catch {
          // gone
        }
      }
    }
    const holder = readHolder(path);
    throw holder ? busy(runDir, holder) : new InputError(`cannot lock the run directory ${runDir}`);
  }

  /** Removes the lock file if this process still holds it. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    RunLock.#live.delete(this);
    const holder = readHolder(this.path);
    if (holder && holder.pid === this.#me.pid && holder.since === this.#me.since) {
      try {
        Deno.removeSync(this.path);
      } catch {
        // gone
      }
    }
  }

  /** Releases the lock at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Locks still held are released when the process exits, Deno.exit() included. */
  static #hookUnload(): void {
    if (RunLock.#unloadHooked) return;
    RunLock.#unloadHooked = true;
    globalThis.addEventListener("unload", () => {
      for (const lock of [...RunLock.#live]) lock.release();
    });
  }
}

function busy(runDir: string, h: LockHolder): InputError {
  const here = h.host === hostname();
  const hint = here
    ? "wait for it to finish or stop it"
    : `if that process is gone, delete ${runDir}/${LOCK_FILE}`;
  return new InputError(
    `${runDir} is in use by another lade (pid ${h.pid} on ${h.host}, since ${h.since}); ${hint}`,
  );
}
