/**
 * Counts in words for messages: "1 epoch", "12 epochs", "1 batch",
 * "3 batches". (Messages said "1 epochs" before.)
 *
 * This module sits at the bottom of the import tree: it imports nothing.
 *
 * @module
 */

/**
 * `n` with `word`, or `plural` (default `word` + "s") unless n is 1; large
 * counts with thousands separators (`14,886 images`).
 */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  const shown = Number.isInteger(n) ? n.toLocaleString("en-US") : String(n);
  return `${shown} ${n === 1 ? word : pluralWord}`;
}
