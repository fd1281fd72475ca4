/**
 * predict on an image-list run's own test images gives the logits evaluate
 * computes for them: the same decoding, resize (256/224 of the side), centre
 * crop and normalisation as the batch loader's evaluation path.
 */
import assert from "node:assert/strict";
import { writeImage } from "../../lib/data/mod.ts";
import { parseNpy } from "../../lib/eval/npy.ts";
import { tensor } from "../../lib/torch/mod.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function lade(args: string[], cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("predict --run on an image-list run's test list equals evaluate's logits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lade-predict-list-" });
  try {
    let seed = 3;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const write = (name: string, c: number, w: number, h: number, jpeg: boolean) => {
      const px = new Uint8Array(3 * w * h);
      for (let i = 0; i < px.length; i++) {
        const ch = Math.floor(i / (w * h));
        px[i] = Math.floor((ch === c ? 160 : 40) + rand() * 80);
      }
      using img = tensor(px, [3, h, w]);
      writeImage(img, `${dir}/${name}.${jpeg ? "jpg" : "png"}`, 90);
      return `${name}.${jpeg ? "jpg" : "png"}`;
    };
    const train: string[] = [], test: string[] = [];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 4; i++) {
        train.push(`${write(`tr${c}_${i}`, c, 50, 40, i % 2 === 0)} ${c}`);
      }
      for (let i = 0; i < 2; i++) {
        test.push(`${write(`te${c}_${i}`, c, 37 + 9 * i, 45, i === 1)} ${c}`);
      }
    }
    await Deno.writeTextFile(`${dir}/train.txt`, train.join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/test.txt`, test.join("\n") + "\n");
    await Deno.writeTextFile(
      `${dir}/run.yaml`,
      `dataset:\n  name: image-list\n  root: ${dir}\n  image_size: 32\n  imbalance: 1\nmodel:\n  arch: resnet32\n` +
        `method:\n  name: softmax\ntrain:\n  epochs: 1\n  batch_size: 4\n  eval_batch_size: 8\nthreads: 1\n`,
    );
    let r = await lade(["train", "--config", "run.yaml", "--out", "run"], dir);
    assert.equal(r.code, 0, r.stderr);
    r = await lade(["evaluate", "--run", "run", "--no-report", "--export-npy", "ev"], dir);
    assert.equal(r.code, 0, r.stderr);
    r = await lade(
      ["predict", "--run", "run", "--list", "test.txt", "--save-logits", "pred.npy"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    // Class names from the dataset folder's classes.txt.
    await Deno.writeTextFile(`${dir}/classes.txt`, "red\ngreen\nblue\n");
    const named = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "predict", "--run", "run", "te2_0.png", "--json", "--topk", "3"],
      cwd: dir,
      stdout: "piped",
    }).output();
    const top = JSON.parse(new TextDecoder().decode(named.stdout)).predictions[0].top;
    assert.deepEqual(top.map((t: { name: string }) => t.name).sort(), ["blue", "green", "red"]);
    const ev = parseNpy(await Deno.readFile(`${dir}/ev/logits.npy`));
    const pred = parseNpy(await Deno.readFile(`${dir}/pred.npy`));
    assert.deepEqual(pred.shape, ev.shape);
    assert.deepEqual(pred.shape, [6, 3]);
    const a = ev.data as Float32Array, b = pred.data as Float32Array;
    const diff = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    assert.ok(diff < 1e-4, `max difference ${diff}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
