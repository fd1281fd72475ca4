/**
 * Ownership of tensors: scopes that free what was made inside them, and the
 * live-handle count. (Each handle's finaliser, the safety net for handles
 * dropped without `dispose()`, is in handle.ts.)
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { native } from "./ffi.ts";

/** Something that owns a native handle and can free it. */
export interface Disposable {
  /** Frees the handle (idempotent). */
  dispose(): void;
}

const scopes: Set<Disposable>[] = [];

/** Registers a freshly made handle owner with the innermost scope, if any. */
export function track(owner: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(owner);
}

/** Forgets an owner that was disposed by hand. */
export function untrack(owner: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].delete(owner);
}

/** Walks a scope's return value (a Disposable, or arrays and plain objects of them) for what it keeps. */
function collect(value: unknown, out: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== "object" || depth > 4) return;
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (typeof (value as Disposable).dispose === "function") {
    out.add(value);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

/**
 * Runs `fn` and frees every tensor made inside it, except those in its return
 * value (a tensor, or arrays and plain objects of tensors), which move to the
 * enclosing scope. Scopes nest. `fn` must be synchronous.
 *
 * @example Intermediates freed, the result kept
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveTensors, scope, tensor } from "./mod.ts";
 *
 * const before = liveTensors();
 * using norm = scope(() => tensor([3, 4]).square().sum().sqrt());
 * assert.equal(norm.item(), 5);
 * assert.equal(liveTensors(), before + 1);
 * ```
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Disposable>();
  scopes.push(mine);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new InputError("fn", "scope() takes a synchronous function; await outside it");
    }
  } catch (error) {
    scopes.pop();
    for (const owner of mine) owner.dispose();
    throw error;
  }
  scopes.pop();
  const kept = new Set<unknown>();
  collect(result, kept);
  for (const owner of mine) {
    if (kept.has(owner)) track(owner);
    else owner.dispose();
  }
  return result;
}

/**
 * Moves `owner` out of the innermost scope (into the enclosing one, or none).
 *
 * @example A tensor that outlives its scope
 * ```ts
 * import assert from "node:assert/strict";
 * import { keep, liveTensors, scope, tensor, type Tensor } from "./mod.ts";
 *
 * const before = liveTensors();
 * const cache: Tensor[] = [];
 * scope(() => {
 *   cache.push(keep(tensor([1, 2]).mul(2))); // outlives the scope; the rest does not
 * });
 * assert.equal(liveTensors(), before + 1);
 * assert.deepEqual(cache[0].toList(), [2, 4]);
 * cache[0].dispose();
 * ```
 */
export function keep<T extends Disposable>(owner: T): T {
  if (scopes.length > 0 && scopes[scopes.length - 1].delete(owner) && scopes.length > 1) {
    scopes[scopes.length - 2].add(owner);
  }
  return owner;
}

/**
 * Number of native tensor handles alive right now.
 *
 * @example Counting native handles
 * ```ts
 * import assert from "node:assert/strict";
 * import { liveTensors, tensor } from "./mod.ts";
 *
 * const before = liveTensors();
 * const t = tensor([1]);
 * assert.equal(liveTensors(), before + 1);
 * t.dispose();
 * assert.equal(liveTensors(), before);
 * ```
 */
export function liveTensors(): number {
  return Number(native().lade_live_tensors());
}
