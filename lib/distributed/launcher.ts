/**
 * The local launcher: starts N ranks of the current program on this machine
 * with torchrun's environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
 * `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`) and a free port, forwards
 * SIGINT and SIGTERM to them (a SIGTERM as SIGINT: to its ranks, SIGTERM is
 * the launcher's own "end now" when another rank has failed, while both
 * signals sent to the launcher mean "checkpoint and stop"), and, when one
 * rank fails, terminates the rest and reports the first failure.
 *
 * The ranks run in their own session, so a Ctrl-C at the terminal reaches the
 * launcher only and each rank receives it exactly once (forwarded). A rank
 * calls {@link watchLauncher} to end itself if the launcher dies.
 *
 * ```ts ignore
 * const result = await launchLocal({ nprocPerNode: 2, args: ["train", "--epochs", "1"] });
 * if (!result.success) console.error(result.message);
 * Deno.exit(result.code);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { checkTimeout, DEFAULT_TIMEOUT_SECONDS } from "./process_group.ts";

/** What `launchLocal` runs. */
export interface LaunchOptions {
  /** Number of ranks to start. */
  nprocPerNode: number;
  /** Arguments each rank gets after the program (the same for every rank). */
  args: readonly string[];
  /** The program, as argv (default: `selfCommand()`, this very program). */
  command?: readonly string[];
  /** Extra environment for the ranks (on top of this process's). */
  env?: Readonly<Record<string, string>>;
  /** The rendezvous host (default 127.0.0.1). */
  masterAddr?: string;
  /** The rendezvous port (default: a free port). */
  masterPort?: number;
  /**
   * Seconds the other ranks get to finish once one has exited successfully
   * (a rank that hangs then is terminated and the launch fails); default 120.
   */
  timeoutSeconds?: number;
  /** Seconds between SIGTERM and SIGKILL when terminating ranks (default 10). */
  graceSeconds?: number;
  /** inherit (default): ranks write to this process's stdout and stderr; piped: collected. */
  stdio?: "inherit" | "piped";
  /** The working directory of the ranks (default: this process's). */
  cwd?: string;
  /**
   * How the launcher hears of SIGINT and SIGTERM, which it forwards to the
   * ranks (as SIGINT: each rank checkpoints and stops): a function that
   * subscribes a listener and returns its unsubscriber. Default: the
   * launcher adds its own process signal listeners for the launch's
   * duration (a program with listeners of its own for the whole process,
   * as lade's command line, passes its subscription instead).
   */
  signals?: (listener: (signal: "SIGINT" | "SIGTERM") => void) => () => void;
}

/** How one rank ended. */
export interface RankExit {
  /** The rank. */
  rank: number;
  /** Its process id. */
  pid: number;
  /** Exit status (128 + n for signal n). */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
  /** Whether the launcher terminated it (after another rank failed or hung). */
  terminated: boolean;
  /** Collected output (stdio "piped" only). */
  stdout?: string;
  /** Collected error output (stdio "piped" only). */
  stderr?: string;
}

/** How a launch ended. */
export interface LaunchResult {
  /** True when every rank exited 0. */
  success: boolean;
  /** The exit status to end with: 0, or the first failing rank's status. */
  code: number;
  /** The first rank that failed (or hung), if any. */
  failedRank?: number;
  /** One line describing the failure, if any. */
  message?: string;
  /** The signal forwarded to the ranks, if the launcher received one. */
  interrupted?: Deno.Signal;
  /** Every rank's ending, by rank. */
  ranks: RankExit[];
}

/** The environment variable holding the launcher's pid, for `watchLauncher`. */
export const LAUNCHER_PID_ENV = "LADE_LAUNCHER_PID";

/**
 * The argv that starts this program again: the compiled binary itself, or
 * the Deno executable running the same main module.
 */
export function selfCommand(): string[] {
  const main = Deno.mainModule;
  if (main.includes("/deno-compile-")) return [Deno.execPath()];
  const script = main.startsWith("file:") ? decodeURIComponent(new URL(main).pathname) : main;
  // A bundled script (the self-extracting build) ran without a config file.
  const flags = script.endsWith(".js") ? ["--no-config", "--no-lock", "--quiet"] : [];
  return [Deno.execPath(), "run", "--allow-all", ...flags, script];
}

/** A TCP port that was free on `hostname` a moment ago. */
export function freePort(hostname = "127.0.0.1"): number {
  const listener = Deno.listen({ hostname, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function describe(exit: { code: number; signal: Deno.Signal | null }): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
}

/**
 * Starts `nprocPerNode` ranks and waits for them. Resolves (never rejects
 * for a rank's failure) with how they ended; a failure to start the program
 * rejects.
 *
 * @example Two ranks of a shell command
 * ```ts
 * import assert from "node:assert/strict";
 * import { launchLocal } from "./mod.ts";
 *
 * const result = await launchLocal({
 *   nprocPerNode: 2,
 *   command: ["sh", "-c", 'echo "rank $RANK of $WORLD_SIZE"'],
 *   args: [],
 *   stdio: "piped",
 * });
 * assert.ok(result.success);
 * assert.deepEqual(result.ranks.map((r) => r.stdout?.trim()), ["rank 0 of 2", "rank 1 of 2"]);
 * ```
 */
export async function launchLocal(options: LaunchOptions): Promise<LaunchResult> {
  const n = options.nprocPerNode;
  if (!Number.isInteger(n) || n < 1) {
    throw new InputError("nprocPerNode", `must be a positive integer (got ${n})`);
  }
  const command = options.command ?? selfCommand();
  if (command.length === 0) throw new InputError("command", "is empty");
  const timeoutMs = checkTimeout(options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
  const graceMs = (options.graceSeconds ?? 10) * 1000;
  const masterAddr = options.masterAddr ?? "127.0.0.1";
  const masterPort = options.masterPort ?? freePort();
  const piped = options.stdio === "piped";

  const children: Deno.ChildProcess[] = [];
  const exits: (RankExit | undefined)[] = new Array(n);
  const terminated = new Set<number>();
  const killTimers: ReturnType<typeof setTimeout>[] = [];
  const kill = (rank: number, signal: Deno.Signal) => {
    if (exits[rank] !== undefined) return;
    try {
      children[rank].kill(signal);
    } catch {
      // Already gone.
    }
  };
  /**
   * SIGTERM every rank still running (and SIGCONT, so that a stopped rank
   * receives it), then SIGKILL those that outlive the grace period.
   */
  const terminateAll = () => {
    for (let r = 0; r < n; r++) {
      if (exits[r] !== undefined || terminated.has(r)) continue;
      terminated.add(r);
      kill(r, "SIGTERM");
      kill(r, "SIGCONT");
    }
    killTimers.push(setTimeout(() => {
      for (let r = 0; r < n; r++) kill(r, "SIGKILL");
    }, graceMs));
  };

  let interrupted: Deno.Signal | undefined;
  const forward = (signal: Deno.Signal) => () => {
    interrupted = signal;
    for (let r = 0; r < n; r++) kill(r, "SIGINT");
  };
  const onInt = forward("SIGINT"), onTerm = forward("SIGTERM");
  const unsubscribe = options.signals !== undefined
    ? options.signals((signal) => (signal === "SIGINT" ? onInt : onTerm)())
    : (() => {
      Deno.addSignalListener("SIGINT", onInt);
      Deno.addSignalListener("SIGTERM", onTerm);
      return () => {
        Deno.removeSignalListener("SIGINT", onInt);
        Deno.removeSignalListener("SIGTERM", onTerm);
      };
    })();

  let failure: { rank: number; code: number; message: string } | undefined;
  try {
    for (let rank = 0; rank < n; rank++) {
      const env: Record<string, string> = {
        ...options.env,
        RANK: String(rank),
        WORLD_SIZE: String(n),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(n),
        GROUP_RANK: "0",
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        [LAUNCHER_PID_ENV]: String(Deno.pid),
      };
      try {
        children.push(
          new Deno.Command(command[0], {
            args: [...command.slice(1), ...options.args],
            env,
            cwd: options.cwd,
            stdin: "null",
            stdout: piped ? "piped" : "inherit",
            stderr: piped ? "piped" : "inherit",
            detached: true,
          }).spawn(),
        );
      } catch (e) {
        terminateAll();
        throw e;
      }
    }

    const decoder = new TextDecoder();
    const ended = children.map(async (child, rank): Promise<RankExit> => {
      let status: Deno.CommandStatus, stdout: string | undefined, stderr: string | undefined;
      if (piped) {
        const out = await child.output();
        status = out;
        stdout = decoder.decode(out.stdout);
        stderr = decoder.decode(out.stderr);
      } else {
        status = await child.status;
      }
      return {
        rank,
        pid: child.pid,
        code: status.code,
        signal: status.signal,
        terminated: terminated.has(rank),
        ...(piped ? { stdout, stderr } : {}),
      };
    });
    const waiting = new Map(ended.map((p, r) => [r, p.then((exit) => ({ exit }))]));
    // Once a rank has finished successfully, the others must follow within the timeout.
    let deadline: number | undefined;
    while (waiting.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const racers: Promise<{ exit?: RankExit }>[] = [...waiting.values()];
      if (deadline !== undefined) {
        racers.push(
          new Promise((resolve) => timer = setTimeout(() => resolve({}), deadline! - Date.now())),
        );
      }
      const { exit } = await Promise.race(racers);
      if (timer !== undefined) clearTimeout(timer);
      if (exit === undefined) {
        const stuck = [...waiting.keys()];
        failure ??= {
          rank: stuck[0],
          code: 1,
          message: `rank ${stuck.join(", rank ")} did not exit within ${
            timeoutMs / 1000
          } s of another rank finishing; terminated`,
        };
        deadline = undefined;
        terminateAll();
        continue;
      }
      exits[exit.rank] = { ...exit, terminated: terminated.has(exit.rank) };
      waiting.delete(exit.rank);
      const ok = exit.code === 0 && exit.signal === null;
      if (!ok && failure === undefined) {
        // After a forwarded signal every rank is stopping on its own (rank 0
        // may still be writing a checkpoint): the others get the timeout to
        // finish rather than being terminated at once.
        const stopping = interrupted !== undefined;
        failure = {
          rank: exit.rank,
          code: exit.code === 0 ? 1 : exit.code,
          message: `rank ${exit.rank} (pid ${exit.pid}) ${describe(exit)}${
            waiting.size > 0 && !stopping ? "; terminated the other ranks" : ""
          }`,
        };
        deadline = undefined;
        if (stopping && waiting.size > 0) deadline = Date.now() + timeoutMs;
        else terminateAll();
      } else if (ok && failure === undefined && deadline === undefined && waiting.size > 0) {
        deadline = Date.now() + timeoutMs;
      }
    }
  } finally {
    unsubscribe();
    for (const t of killTimers) clearTimeout(t);
  }

  const ranks = exits as RankExit[];
  if (failure !== undefined) {
    return {
      success: false,
      code: failure.code,
      failedRank: failure.rank,
      message: failure.message,
      ...(interrupted ? { interrupted } : {}),
      ranks,
    };
  }
  return { success: true, code: 0, ...(interrupted ? { interrupted } : {}), ranks };
}

/**
 * In a rank started by `launchLocal`: calls `onLost` (default: exit with
 * status 1) when the launcher process has gone (its ranks run in their own
 * session, so nothing else would end them). Polls every `intervalMs` on an
 * unreferenced timer; returns a function that stops watching. Does nothing
 * outside a launched rank.
 */
export function watchLauncher(
  onLost: () => void = () => Deno.exit(1),
  intervalMs = 1000,
): () => void {
  const pid = Number(Deno.env.get(LAUNCHER_PID_ENV));
  if (!Number.isInteger(pid) || pid <= 0 || Deno.ppid !== pid) return () => {};
  const timer = setInterval(() => {
    if (Deno.ppid !== pid) {
      clearInterval(timer);
      onLost();
    }
  }, intervalMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
