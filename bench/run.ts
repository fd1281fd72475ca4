/**
 * `deno task bench`: runs every benchmark in bench/ one after another.
 *
 * @module
 */

const here = new URL(".", import.meta.url).pathname;
const benches = [...Deno.readDirSync(here)]
  .filter((e) => e.isFile && e.name.endsWith("_bench.ts"))
  .map((e) => e.name)
  .sort();

let failed = 0;
for (const name of benches) {
  console.log(`\n== ${name}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}${name}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) failed++;
}
if (failed > 0) Deno.exit(1);
