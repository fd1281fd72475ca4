/**
 * Every command's --json names its keys one way, snake_case, without twins
 * (info had nativeLibrary beside native_library; data inspect classNames),
 * while evaluate keeps the shapes of the interface contract: one object for
 * one shift, an array for `--shift all`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeNpy } from "../../lib/eval/npy.ts";
import { Model } from "../../lib/models/mod.ts";
import { manualSeed } from "../../lib/torch/device.ts";
import { exportWeights } from "../../lib/weights/model_weights.ts";
import { writeFixture } from "../train/fixture.ts";
import { lade } from "../cli.ts";

async function json(args: string[], cwd: string): Promise<unknown> {
  const out = await lade(args, { cwd });
  assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
  return JSON.parse(out.stdout);
}

/**
 * The keys of `value` that are not snake_case, with their paths. Keys that
 * are data rather than names (variants such as pc_softmax+em, shift names)
 * are lower case too; `+` joins a variant to its estimator.
 */
function badKeys(value: unknown, path = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => badKeys(v, `${path}[${i}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(/^[a-z][a-z0-9_]*(\+[a-z]+)?$/.test(k) ? [] : [`${path}.${k}`]),
    ...badKeys(v, `${path}.${k}`),
  ]);
}

Deno.test("badKeys finds camelCase at any depth", () => {
  assert.deepEqual(badKeys({ a_b: [{ nativeLibrary: 1 }], c: { "pc_softmax+em": { Top1: 2 } } }), [
    "$.a_b[0].nativeLibrary",
    "$.c.pc_softmax+em.Top1",
  ]);
});

Deno.test("every command's --json is snake_case; evaluate keeps its contract's shapes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-json-" });
  const root = await writeFixture();
  try {
    // Logits and labels of 6 classes made here (no training needed).
    const C = 6, N = 240, counts = [400, 150, 60, 30, 12, 5];
    const labels = BigInt64Array.from({ length: N }, (_, i) => BigInt(i % C));
    const logits = Float32Array.from(
      { length: N * C },
      (_, k) => Math.sin(k * 12.9898) * 2 + (k % C === Number(labels[Math.floor(k / C)]) ? 1.5 : 0),
    );
    await Deno.writeFile(
      join(dir, "f.npy"),
      encodeNpy({ dtype: "float32", shape: [N, C], data: logits }),
    );
    await Deno.writeFile(
      join(dir, "y.npy"),
      encodeNpy({ dtype: "int64", shape: [N], data: labels }),
    );
    await Deno.writeTextFile(join(dir, "n.json"), JSON.stringify(counts));
    const files = ["--logits", "f.npy", "--labels", "y.npy", "--train-counts", "n.json"];
    const source = ["--source-logits", "f.npy", "--source-labels", "y.npy"];

    const one = await json(["evaluate", ...files, "--shift", "forward10", "--json"], dir);
    assert.ok(!Array.isArray(one) && (one as { shift: string }).shift === "forward10");
    const all = await json(
      ["evaluate", ...files, ...source, "--shift", "all", "--prior", "all", "--json"],
      dir,
    );
    assert.ok(Array.isArray(all) && all.length === 11);
    await Deno.writeTextFile(join(dir, "grid.json"), JSON.stringify(all));

    manualSeed(1);
    using model = Model.create({ arch: "cnn28", classes: 10, inChannels: 1 });
    await exportWeights(model, join(dir, "w.safetensors"), {
      arch: "cnn28",
      classes: 10,
      inChannels: 1,
      head: "linear",
      trainCounts: [9, 8, 7, 6, 5, 4, 3, 3, 2, 2],
      method: "softmax",
    });
    await Deno.writeFile(
      join(dir, "x.npy"),
      encodeNpy({ dtype: "uint8", shape: [20, 1, 28, 28], data: new Uint8Array(20 * 784).fill(9) }),
    );

    const outputs: [string, unknown][] = [
      ["info", await json(["info", "--json"], dir)],
      [
        "data inspect",
        await json(["data", "inspect", "--dataset", "mnist-lt", "--root", root, "--json"], dir),
      ],
      [
        "data verify",
        await json(["data", "verify", "--dataset", "mnist", "--root", root, "--json"], dir),
      ],
      ["evaluate", one],
      ["evaluate --shift all", all],
      [
        "estimate-prior",
        await json(["estimate-prior", ...files, ...source, "--shift", "backward5", "--json"], dir),
      ],
      ["compare", await json(["compare", "grid.json", "--json"], dir)],
      ["weights inspect", await json(["weights", "inspect", "w.safetensors", "--json"], dir)],
      [
        "predict",
        await json([
          "predict",
          "--weights",
          "w.safetensors",
          "--npy",
          "x.npy",
          "--prior",
          "em",
          "--json",
        ], dir),
      ],
    ];
    for (const [command, value] of outputs) assert.deepEqual(badKeys(value), [], command);
    // The one name info keeps for the library path, and data inspect's class names.
    const info = outputs[0][1] as Record<string, unknown>;
    assert.equal(typeof info.native_library, "string");
    assert.equal(info.nativeLibrary, undefined);
    assert.equal((outputs[1][1] as { class_names: string[] }).class_names.length, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});
