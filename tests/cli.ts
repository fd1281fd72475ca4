/**
 * The one way tests run lade's command line: `deno run -A main.ts ARGS` in a
 * process of its own, its output collected. (Tests that need a process they
 * steer, to signal it or read it as it prints, spawn it themselves.)
 */

import assert from "node:assert/strict";

/** main.ts, the command line. */
export const MAIN: string = new URL("../main.ts", import.meta.url).pathname;

/** What a run of the command line did. */
export interface CliResult {
  /** Exit status (128 + n when a signal ended it). */
  code: number;
  /** The signal that ended it, if one did (its default action: no listener). */
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** How to run it. */
export interface CliOptions {
  /** The working directory (default: the test's). */
  cwd?: string;
  /** Environment variables added to (or, with `clearEnv`, instead of) the test's. */
  env?: Record<string, string>;
  /** Start from an empty environment. */
  clearEnv?: boolean;
}

/** Runs `lade ARGS` (main.ts) and collects what it printed and how it ended. */
export async function lade(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: options.cwd,
    env: options.env,
    clearEnv: options.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/**
 * What `run` (a command's function called in the test process, as main.ts
 * calls it) prints on stdout, that is with console.log; what it prints on
 * stderr (progress, warnings) is dropped. For checks that are not about the
 * command line itself: a child process costs a libtorch start-up each.
 */
export async function printed(run: () => Promise<unknown>): Promise<string> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = (...data: unknown[]) => lines.push(data.join(" "));
  console.error = () => {};
  try {
    await run();
  } finally {
    console.log = log;
    console.error = error;
  }
  return lines.join("\n");
}

/**
 * `r` (a run of the command line) failed as lade fails on bad input: a
 * non-zero exit (`code` when given), nothing on stdout, and on stderr one
 * line, `lade: error: ` then a message matching `re`, with no stack trace.
 */
export function assertOneLineError(
  r: { code: number; stdout?: string; stderr: string },
  re: RegExp,
  code?: number,
): void {
  if (code === undefined) assert.notEqual(r.code, 0, r.stderr);
  else assert.equal(r.code, code, r.stderr);
  if (r.stdout !== undefined) assert.equal(r.stdout, "", "nothing on stdout");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^lade: error: /);
  assert.match(lines[0], re);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
}
