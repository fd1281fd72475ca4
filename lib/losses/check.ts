/**
 * Argument checks the loss functions share: a hyper-parameter outside its
 * range is an InputError naming it (a negative alpha or lambda turned the
 * objective upside down without a word).
 *
 * @module
 */

import { InputError } from "../errors.ts";

/** `value` unless it is not finite or fails `ok`; an InputError for `name` saying `rule` then. */
export function checkHyper(
  name: string,
  value: number,
  ok: (v: number) => boolean,
  rule: string,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new InputError(name, `${rule}, got ${value}`);
  }
  return value;
}

/** A weight that must be a finite number >= 0. */
export function nonNegative(name: string, value: number): number {
  return checkHyper(name, value, (v) => v >= 0, "must be a finite number >= 0");
}
