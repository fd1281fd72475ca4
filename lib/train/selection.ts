/**
 * Model selection on the held-out validation split, as PyTorch Lightning's
 * callbacks decide it (monitor: validation top-1, mode max):
 *
 * - the best checkpoint (ModelCheckpoint, save_top_k 1): an epoch whose
 *   top-1 is strictly above every earlier one becomes the best; the first
 *   evaluated epoch always does;
 * - early stopping (EarlyStopping): an epoch improves when its top-1 minus
 *   `min_delta` is strictly above the reference (the last improving value;
 *   -infinity before the first), which resets the wait count; otherwise the
 *   wait count grows, and the run stops when it reaches `patience`.
 *
 * The state is kept in the checkpoint (lib/run/checkpoint.ts's Selection), so
 * a resumed run decides as an uninterrupted one would.
 *
 * @module
 */

import type { Selection } from "../run/checkpoint.ts";

/** Early stopping's settings (the config's train.early_stop). */
export interface EarlyStopSettings {
  /** Validation checks without improvement before stopping. */
  patience: number;
  /** The least gain (percentage points) that counts as an improvement. */
  min_delta: number;
}

/** The state before any validation. */
export function initialSelection(): Selection {
  return { best: null, bestEpoch: 0, reference: null, wait: 0, stopped: false };
}

/** What one validation result decides. */
export interface SelectionStep {
  /** The state after it. */
  next: Selection;
  /** Whether this epoch is the new best (its checkpoint becomes the best one). */
  best: boolean;
  /** Whether early stopping ends the run after this epoch. */
  stop: boolean;
}

/**
 * Takes epoch `epoch`'s (1-based) validation top-1 into the selection state;
 * `earlyStop` undefined: the run never stops early.
 */
export function updateSelection(
  s: Selection,
  valTop1: number,
  epoch: number,
  earlyStop?: EarlyStopSettings,
): SelectionStep {
  const best = s.best === null || valTop1 > s.best;
  const next: Selection = { ...s };
  if (best) {
    next.best = valTop1;
    next.bestEpoch = epoch;
  }
  let stop = false;
  if (earlyStop !== undefined) {
    if (s.reference === null || valTop1 - earlyStop.min_delta > s.reference) {
      next.reference = valTop1;
      next.wait = 0;
    } else {
      next.wait = s.wait + 1;
      stop = next.wait >= earlyStop.patience;
    }
  }
  next.stopped = stop;
  return { next, best, stop };
}
