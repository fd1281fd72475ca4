/**
 * Text placed in the reports' HTML pages. Names there come from files a
 * user gives (shift sets, class names, variants, datasets), so every one is
 * escaped: a set named `<script>` shows as text instead of running.
 *
 * @module
 */

/**
 * `s` with HTML's special characters escaped, safe in element content and
 * in quoted attribute values.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./html.ts";
 * console.assert(escapeHtml(`<b a="1">'&'</b>`) === "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
