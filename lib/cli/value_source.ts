/**
 * Where a configuration value came from, for messages: a library error
 * names the configuration key at fault (`train.batch_size`), and the
 * command line used to say the flag that sets it (`--batch-size`) even when
 * the user never gave that flag and the value came from a recipe, a resumed
 * run's config.yaml or the embedded default. This says the real source.
 *
 * @module
 */

import { parse as parseYaml } from "yaml";
import { MAX_RECIPE_BYTES } from "../config/config.ts";
import { decodeText, readInputFileSync } from "../input_file.ts";

/** Whether `flag` is among `args` (as `--flag value` or `--flag=value`). */
export function flagGiven(flag: string, args: readonly string[]): boolean {
  return args.some((a) => a === flag || a.startsWith(`${flag}=`));
}

/** The value of `flag` in `args`, if given. */
export function flagValue(flag: string, args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1];
    if (args[i].startsWith(`${flag}=`)) return args[i].slice(flag.length + 1);
  }
  return undefined;
}

/** Whether the YAML recipe at `path` sets the dotted `key` (false when it cannot be read). */
function recipeSets(path: string, key: string): boolean {
  try {
    let node: unknown = parseYaml(
      decodeText(readInputFileSync(path, { maxBytes: MAX_RECIPE_BYTES })),
    );
    for (const part of key.split(".")) {
      if (typeof node !== "object" || node === null || !Object.hasOwn(node, part)) return false;
      node = (node as Record<string, unknown>)[part];
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Where the configuration key `key` got its value, given the command's
 * arguments `args` (the flag that sets it was not among them): "F" for a
 * recipe F that sets it, "DIR/config.yaml" for a resumed run, or "the
 * default recipe".
 */
export function configSource(key: string, args: readonly string[]): string {
  const resume = flagValue("--resume", args);
  if (resume !== undefined) return `${resume.replace(/\/+$/, "")}/config.yaml`;
  const config = flagValue("--config", args);
  if (config !== undefined && recipeSets(config, key)) return config;
  return "the default recipe";
}
