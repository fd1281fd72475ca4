/**
 * The local time in names the command line makes (a run directory, an
 * evaluation's report folder): 20250101-120000.
 *
 * @module
 */

/** `d` (default now) as 20250101-120000, local time. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${
    p(d.getMinutes())
  }${p(d.getSeconds())}`;
}
