/**
 * lade's command line: wires the commands in lib/cli/ and nothing else.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { exitWithError } from "./lib/cli/errors.ts";
import { infoCommand } from "./lib/cli/info.ts";
import { VERSION } from "./lib/version.ts";

/** Builds the command tree. */
export function buildProgram(): Command {
  const program = new Command()
    .name("lade")
    .description("Long-tailed classification under label shift (LADE, CVPR 2021) on libtorch")
    .version(VERSION)
    .configureOutput({ outputError: (str, write) => write(str.split("\n")[0] + "\n") })
    .exitOverride();

  program
    .command("info")
    .description("versions, devices, threads and the native library in use")
    .option("--json", "print JSON")
    .action((options) => infoCommand(options));

  // ---- data commands (lib/cli/data_inspect.ts) ----
  // (end of data commands)

  // ---- train command (lib/cli/train.ts) ----
  // (end of train command)

  // ---- evaluation commands (lib/cli/evaluate.ts, lib/cli/estimate_prior.ts) ----
  // (end of evaluation commands)

  return program as unknown as Command;
}

if (import.meta.main) {
  try {
    await buildProgram().parseAsync(Deno.args, { from: "user" });
  } catch (error) {
    // commander has already printed its own usage message.
    if ((error as { code?: string }).code?.startsWith("commander.")) {
      const code = (error as { exitCode?: number }).exitCode ?? 2;
      Deno.exit(code);
    }
    exitWithError(error);
  }
}
