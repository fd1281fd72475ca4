/**
 * Reading the recipes in configs/ for the tests that check them against
 * the official code's values (recipes_test.ts, sade_recipes_test.ts).
 *
 * @module
 */

import { readConfigFile, resolveConfig, type TrainConfig } from "../../lib/config/config.ts";

/** The folder of the recipes. */
export const CONFIGS_DIR: string = new URL("../../configs/", import.meta.url).pathname;

/** The leaf keys a recipe file sets (schedule as one value). */
export function leafKeys(patch: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(patch).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    if (key === "train.schedule") return [key];
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? leafKeys(v as Record<string, unknown>, key)
      : [key];
  });
}

/** The value of a dotted key (`train.lr`) in a resolved config. */
export function valueAt(c: TrainConfig, key: string): unknown {
  return key.split(".").reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], c);
}

/** A recipe of configs/ resolved, and the keys its file sets. */
export async function recipe(name: string): Promise<{ config: TrainConfig; keys: string[] }> {
  const patch = await readConfigFile(CONFIGS_DIR + name);
  return { config: resolveConfig({ patch, path: name }, {}), keys: leafKeys(patch) };
}
