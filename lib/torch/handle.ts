/**
 * `NativeHandle`: the one base of every JavaScript object that owns a native
 * handle (Tensor, Generator, Model, SGD, BatchLoader). It frees the handle on
 * `dispose()` or at the end of a `using` block, frees it from a
 * FinalizationRegistry when the owner was dropped without either (a safety
 * net, not a schedule), and turns any use after dispose into one
 * {@link DisposedError}.
 *
 * @module
 */

import { DisposedError, LadeError } from "../errors.ts";

type Free = (ptr: Deno.PointerObject) => void;

/** One finaliser per native free function, so the held value is just the pointer. */
const finalizers = new Map<Free, FinalizationRegistry<Deno.PointerObject>>();

function finalizerFor(free: Free): FinalizationRegistry<Deno.PointerObject> {
  let registry = finalizers.get(free);
  if (registry === undefined) {
    registry = new FinalizationRegistry(free);
    finalizers.set(free, registry);
  }
  return registry;
}

/** The owner of one native handle; subclasses add the operations. */
export abstract class NativeHandle {
  #ptr: Deno.PointerObject | null = null;
  readonly #finalizer: FinalizationRegistry<Deno.PointerObject>;
  readonly #free: Free;
  readonly #kind: string;

  /**
   * `kind` names the object in the "used after dispose()" message ("tensor",
   * "model"); `free` is the native function that frees the handle (a
   * module-level function, so the finaliser keeps no reference to the
   * owner). With `ptr` the new object owns it at once; otherwise the
   * subclass's constructor calls {@link NativeHandle.adopt} once it has made
   * the handle.
   */
  protected constructor(
    kind: string,
    free: (ptr: Deno.PointerObject) => void,
    ptr?: Deno.PointerObject,
  ) {
    this.#free = free;
    this.#finalizer = finalizerFor(free);
    this.#kind = kind;
    if (ptr !== undefined) this.adopt(ptr);
  }

  /** Takes ownership of `ptr` (once, from the subclass's constructor). */
  protected adopt(ptr: Deno.PointerObject): void {
    if (this.#ptr !== null) throw new LadeError(`${this.#kind} already owns a handle`);
    this.#ptr = ptr;
    this.#finalizer.register(this, ptr, this);
  }

  /** The native handle; throws a DisposedError once disposed. */
  get ptr(): Deno.PointerObject {
    if (this.#ptr === null) throw new DisposedError(`${this.#kind} used after dispose()`);
    return this.#ptr;
  }

  /** True once the handle has been freed (or before it was made). */
  get disposed(): boolean {
    return this.#ptr === null;
  }

  /** Frees the native handle now (idempotent). */
  dispose(): void {
    const ptr = this.#ptr;
    if (ptr === null) return;
    this.#ptr = null;
    this.#finalizer.unregister(this);
    this.#free(ptr);
  }

  /** Frees the handle at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
