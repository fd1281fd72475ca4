/**
 * Ctrl-C (SIGINT) and SIGTERM, answered at every moment of every command.
 *
 * main.ts installs one listener per signal before it prints anything, for
 * the whole life of the process ({@link installSignalHandlers}); a listener
 * that comes and goes leaves windows in which Deno's default action kills
 * the process without a word. The command that runs keeps a *phase* up to
 * date ({@link setPhase}, {@link inPhase}): what it is doing, what a stop now
 * leaves intact, and what to run next. A signal then ends the process with
 * one line on stderr saying those three things and exit status 130 (SIGINT)
 * or 143 (SIGTERM), after removing the temporaries of the atomic writes
 * under way (lib/fs.ts): a destination holds its old content or its new,
 * never half of one.
 *
 * A phase can take a signal itself: training finishes its step, writes a
 * checkpoint and then ends the process. Its `onSignal` returns true and the
 * process goes on; a second signal ends it at once.
 *
 * @module
 */

import { removeTemporariesSync } from "../fs.ts";
import { LAUNCHER_PID_ENV } from "../distributed/launcher.ts";

/** The signals lade answers. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** What a command is doing now, for the line a signal prints. */
export interface Phase {
  /** What is running: "the final evaluation (the shift grid)". */
  doing: string;
  /** What a stop now leaves: "nothing was written", "its checkpoint in runs/x is intact". */
  intact: string;
  /** What to run next, when there is something: "evaluate it with: lade evaluate --run x". */
  next?: string;
  /**
   * Takes the signal instead of ending the process now: returns true when it
   * did (and then ends the process itself, as training does after its
   * step). Returning false ends it with this phase's line.
   */
  onSignal?: (signal: StopSignal) => boolean;
}

/** The phase of every command until it says otherwise. */
export const START_UP: Phase = { doing: "start-up", intact: "nothing was written" };

/**
 * The phase of a command that reads and prints but writes nothing (commands
 * that write set their own phases as they go): `["data", "verify"]`.
 */
export function commandPhase(names: readonly string[]): Phase {
  return { doing: `lade ${names.join(" ")}`, intact: "nothing was written" };
}

/**
 * Whether this process is a rank other than rank 0 of a distributed job
 * (RANK or SLURM_PROCID set and not 0): rank 0 speaks for the others.
 */
export function otherRank(env: Record<string, string | undefined> = Deno.env.toObject()): boolean {
  const rank = env.RANK ?? env.SLURM_PROCID;
  return rank !== undefined && rank.trim() !== "0";
}

/** Whether this process is a rank that lade's own launcher started (`train --nproc-per-node`). */
export function launchedRank(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): boolean {
  return env[LAUNCHER_PID_ENV] !== undefined;
}

let phase: Phase = START_UP;
let installed = false;
let quiet = false;
/** The signal a phase took (a second one ends the process at once). */
let taken: StopSignal | undefined;
const subscribers = new Set<(signal: StopSignal) => void>();

/** The exit status after `signal`: 128 + its number, as a shell reports a process it ended. */
export function signalExitCode(signal: StopSignal): number {
  return signal === "SIGINT" ? 130 : 143;
}

/** How a signal is named in messages: Ctrl-C is "interrupted", SIGTERM itself. */
export function signalWord(signal: StopSignal): string {
  return signal === "SIGINT" ? "interrupted" : "SIGTERM";
}

/** The one line a signal prints in `p`. */
export function stopLine(signal: StopSignal, p: Phase): string {
  return `lade: ${signalWord(signal)} during ${p.doing}; ${p.intact}` +
    (p.next === undefined ? "" : `; ${p.next}`);
}

/**
 * Ends the process after `signal`: removes the temporaries of atomic writes
 * under way, prints `line` (unless quiet) and exits 130 or 143.
 */
export function exitOnSignal(signal: StopSignal, line?: string): never {
  removeTemporariesSync();
  if (line !== undefined && !quiet) console.error(line);
  Deno.exit(signalExitCode(signal));
}

function handle(signal: StopSignal): void {
  for (const fn of subscribers) fn(signal);
  if (phase.onSignal?.(signal)) {
    taken ??= signal;
    return;
  }
  const again = taken !== undefined
    ? `lade: ${signal === "SIGINT" ? "Ctrl-C" : "SIGTERM"} again; stopped at once during ` +
      `${phase.doing}; ${phase.intact}` + (phase.next === undefined ? "" : `; ${phase.next}`)
    : undefined;
  exitOnSignal(signal, again ?? stopLine(signal, phase));
}

/**
 * Installs the process's listeners for SIGINT and SIGTERM (once; later
 * calls do nothing). `quiet`: print nothing (the ranks of a distributed
 * job other than rank 0, whose launcher or rank 0 speaks for them).
 */
export function installSignalHandlers(
  options: {
    quiet?: boolean;
    /**
     * Leave SIGTERM to its default action, which ends the process at once
     * even inside a native call (a rank of lade's own launcher: its
     * launcher sends SIGTERM to end it now, when another rank failed, and
     * says so itself; a user's SIGTERM reaches it as SIGINT).
     */
    defaultTerm?: boolean;
  } = {},
): void {
  quiet = options.quiet ?? false;
  if (installed || Deno.build.os === "windows") return;
  installed = true;
  Deno.addSignalListener("SIGINT", () => handle("SIGINT"));
  if (!options.defaultTerm) Deno.addSignalListener("SIGTERM", () => handle("SIGTERM"));
}

/** Prints nothing from here on when a signal ends the process (see installSignalHandlers). */
export function setQuiet(value: boolean): void {
  quiet = value;
}

/** Makes `p` the current phase; returns the one it replaces. */
export function setPhase(p: Phase): Phase {
  const before = phase;
  phase = p;
  return before;
}

/** The current phase. */
export function currentPhase(): Phase {
  return phase;
}

/** The signal a phase took and is acting on (training stopping after its step), if any. */
export function signalTaken(): StopSignal | undefined {
  return taken;
}

/** Runs `fn` in phase `p`, then restores the phase before it. */
export async function inPhase<T>(p: Phase, fn: () => Promise<T>): Promise<T> {
  const before = setPhase(p);
  try {
    return await fn();
  } finally {
    setPhase(before);
  }
}

/**
 * Calls `fn` with every signal, before the phase acts on it (lade's
 * launcher forwards them to its ranks); returns the function that stops it.
 */
export function onEverySignal(fn: (signal: StopSignal) => void): () => void {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}
