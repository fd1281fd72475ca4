import assert from "node:assert/strict";
import { BatchLoader } from "../../lib/data/batch_loader.ts";
import { TensorImageSet } from "../../lib/data/image_set.ts";
import { epochOrder } from "../../lib/data/sampler.ts";
import { shareRange } from "../../lib/distributed/shard.ts";
import { tensor } from "../../lib/torch/create.ts";
import { makeImages, pixel } from "./fixtures.ts";

const S = 8;

function smallSet(n: number, channels = 1, size = S): TensorImageSet {
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new TensorImageSet(
    tensor(makeImages(n, channels, size), [n, channels, size, size]),
    labels,
  );
}

/** Undoes the normalisation: back to the 0..255 pixel values. */
function toBytes(
  images: Float32Array,
  mean: number[],
  std: number[],
  channels: number,
  size: number,
) {
  const plane = size * size;
  return Array.from(images, (v, k) => {
    const c = Math.floor(k / plane) % channels;
    return Math.round((v * std[c] + mean[c]) * 255);
  });
}

async function collect(loader: BatchLoader, epoch: number) {
  const out: { images: number[]; labels: number[] }[] = [];
  for await (const batch of loader.epoch(epoch)) {
    out.push({
      images: Array.from(batch.images.toArray() as Float32Array),
      labels: batch.labels.toList(),
    });
    batch.dispose();
  }
  return out;
}

Deno.test("evaluation batches: file order, exact normalised pixels, labels, sizes", async () => {
  {
    using set = smallSet(10);
    const norm = { mean: [0.25], std: [0.5] };
    using loader = new BatchLoader(set, norm, {
      batchSize: 4,
      train: false,
      device: "cpu",
      seed: 1,
    });
    assert.equal(loader.batchesPerEpoch, 3);
    const sizes: number[] = [];
    let i0 = 0;
    for await (const batch of loader.epoch(0)) {
      const n = batch.images.shape[0];
      sizes.push(n);
      assert.deepEqual(batch.images.shape, [n, 1, S, S]);
      assert.equal(batch.images.dtype, "float32");
      assert.equal(batch.labels.dtype, "int64");
      assert.deepEqual(batch.labels.toList(), Array.from({ length: n }, (_, k) => (i0 + k) % 3));
      const v = batch.images.toArray() as Float32Array;
      for (let k = 0; k < n; k++) {
        for (let y = 0; y < S; y++) {
          for (let x = 0; x < S; x++) {
            const want = (pixel(i0 + k, 0, y, x) / 255 - 0.25) / 0.5;
            assert.ok(Math.abs(v[(k * S + y) * S + x] - want) < 1e-5);
          }
        }
      }
      i0 += n;
      batch.dispose();
    }
    assert.deepEqual(sizes, [4, 4, 2]);
    using dropping = new BatchLoader(set, norm, {
      batchSize: 4,
      train: false,
      device: "cpu",
      seed: 1,
      dropLast: true,
    });
    assert.equal((await collect(dropping, 0)).length, 2);
  }
});

Deno.test("a subset's batches hold the subset's samples (RGB, per-channel normalisation)", async () => {
  using base = smallSet(12, 3, 32);
  using set = base.subset(Int32Array.from([11, 2, 7]));
  const norm = { mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 0.125] };
  using loader = new BatchLoader(set, norm, { batchSize: 8, train: false, device: "cpu", seed: 0 });
  const [batch] = await collect(loader, 0);
  assert.deepEqual(batch.labels, [11 % 3, 2 % 3, 7 % 3]);
  const bytes = toBytes(Float32Array.from(batch.images), norm.mean, norm.std, 3, 32);
  [11, 2, 7].forEach((i, k) => {
    for (const [c, y, x] of [[0, 0, 0], [1, 31, 2], [2, 9, 30]]) {
      assert.equal(bytes[((k * 3 + c) * 32 + y) * 32 + x], pixel(i, c, y, x));
    }
  });
});

/** Finds the crop offset and flip that turn source image i into `out`, or null. */
function matchAugmentation(out: number[], i: number, pad: number): string | null {
  for (let dy = 0; dy <= 2 * pad; dy++) {
    for (let dx = 0; dx <= 2 * pad; dx++) {
      for (const flip of [false, true]) {
        let ok = true;
        for (let y = 0; y < S && ok; y++) {
          for (let x = 0; x < S && ok; x++) {
            const sy = y + dy - pad, sx = (flip ? S - 1 - x : x) + dx - pad;
            const want = sy < 0 || sy >= S || sx < 0 || sx >= S ? 0 : pixel(i, 0, sy, sx);
            ok = out[y * S + x] === want;
          }
        }
        if (ok) return `${dx},${dy},${flip}`;
      }
    }
  }
  return null;
}

Deno.test("training batches: a shuffled epoch of padded random crops and flips", async () => {
  using set = smallSet(24);
  const norm = { mean: [0], std: [1] };
  const opts = { batchSize: 5, train: true, device: "cpu" as const, seed: 42, pad: 2 };
  using loader = new BatchLoader(set, norm, opts);
  const order = loader.order(3);
  assert.deepEqual(
    Array.from(order).sort((a, b) => a - b),
    Array.from({ length: 24 }, (_, i) => i),
  );
  const batches = await collect(loader, 3);
  assert.equal(batches.length, 5);
  const seen = new Set<string>();
  let k = 0;
  for (const b of batches) {
    const bytes = toBytes(Float32Array.from(b.images), [0], [1], 1, S);
    for (let j = 0; j < b.labels.length; j++, k++) {
      const i = order[k];
      assert.equal(b.labels[j], i % 3);
      const how = matchAugmentation(bytes.slice(j * S * S, (j + 1) * S * S), i, 2);
      assert.ok(how !== null, `sample ${i} is not a crop/flip of its image`);
      seen.add(how);
    }
  }
  // 24 draws over 50 possibilities: augmentation is not stuck on one setting.
  assert.ok(seen.size > 5, `only ${seen.size} distinct augmentations`);
});

Deno.test("an epoch depends only on (seed, epoch): a resumed run replays it", async () => {
  using set = smallSet(17);
  const norm = { mean: [0.5], std: [0.3] };
  const opts = { batchSize: 4, train: true, device: "cpu" as const, seed: 9, workers: 2 };
  using a = new BatchLoader(set, norm, opts);
  await collect(a, 0);
  await collect(a, 1);
  const third = await collect(a, 2);
  using b = new BatchLoader(set, norm, opts);
  assert.deepEqual(await collect(b, 2), third);
  assert.notDeepEqual(await collect(b, 1), third);
  using c = new BatchLoader(set, norm, { ...opts, seed: 10 });
  assert.notDeepEqual(await collect(c, 2), third);
});

Deno.test("leaving an epoch early drops the batches prepared ahead", async () => {
  {
    using set = smallSet(40);
    using loader = new BatchLoader(set, { mean: [0], std: [1] }, {
      batchSize: 4,
      train: true,
      device: "cpu",
      seed: 0,
      prefetch: 4,
    });
    for await (const batch of loader.epoch(0)) {
      batch.dispose();
      break;
    }
    const again = await collect(loader, 0);
    assert.equal(again.length, 10);
  }
});

Deno.test("class-balanced and square-root sampling draw classes as specified", () => {
  // Counts 900, 90, 10.
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i < 900 ? 0 : i < 990 ? 1 : 2));
  const freq = (sampler: "balanced" | "sqrt") => {
    const hits = [0, 0, 0];
    let total = 0;
    for (let e = 0; e < 10; e++) {
      const order = epochOrder(labels, sampler, 5, e);
      assert.equal(order.length, 1000);
      for (const i of order) hits[labels[i]]++;
      total += order.length;
    }
    return hits.map((h) => h / total);
  };
  const balanced = freq("balanced");
  for (const f of balanced) assert.ok(Math.abs(f - 1 / 3) < 0.03, `${balanced}`);
  const sqrt = freq("sqrt");
  const z = Math.sqrt(900) + Math.sqrt(90) + Math.sqrt(10);
  [Math.sqrt(900) / z, Math.sqrt(90) / z, Math.sqrt(10) / z].forEach((p, c) =>
    assert.ok(Math.abs(sqrt[c] - p) < 0.03, `${sqrt}`)
  );
  assert.deepEqual(epochOrder(labels, "balanced", 5, 3), epochOrder(labels, "balanced", 5, 3));
});

Deno.test("no tensor handle outlives its owner (checked in a process of its own)", async () => {
  // liveTensors() counts the whole process, and `deno test --parallel` runs
  // other test files in the same process, so the count is taken apart.
  const lib = new URL("../../lib/", import.meta.url).href;
  const code = `
    import { BatchLoader } from "${lib}data/batch_loader.ts";
    import { TensorImageSet } from "${lib}data/image_set.ts";
    import { tensor } from "${lib}torch/create.ts";
    import { liveTensors } from "${lib}torch/memory.ts";
    const before = liveTensors();
    {
      const n = 40;
      using set = new TensorImageSet(tensor(new Uint8Array(n * 64), [n, 1, 8, 8]), new Int32Array(n));
      using sub = set.subset(Int32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]));
      using loader = new BatchLoader(sub, { mean: [0], std: [1] }, {
        batchSize: 2, train: true, device: "cpu", seed: 0, prefetch: 4,
      });
      for await (const b of loader.epoch(0)) { b.dispose(); break; }
      for await (const b of loader.epoch(1)) b.dispose();
    }
    console.log(JSON.stringify({ before, after: liveTensors() }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const { before, after } = JSON.parse(text);
  assert.equal(after, before);
});

Deno.test("resident batches (images kept on the device) equal the host loader's, bit for bit", async () => {
  for (const channels of [1, 3]) {
    for (const train of [true, false]) {
      using set = smallSet(23, channels, S);
      using subset = set.subset(Int32Array.from([3, 1, 4, 15, 9, 2, 6, 5, 22, 8, 7, 20, 11]));
      const norm = { mean: Array(channels).fill(0.3), std: Array(channels).fill(0.7) };
      const opts = { batchSize: 5, train, device: "cpu" as const, seed: 7, pad: 2 };
      using host = new BatchLoader(subset, norm, { ...opts, resident: false });
      using resident = new BatchLoader(subset, norm, { ...opts, resident: true });
      assert.equal(host.resident, false);
      assert.equal(resident.resident, true);
      for (const epoch of [0, 3]) {
        const a = await collect(host, epoch);
        const b = await collect(resident, epoch);
        assert.equal(b.length, a.length);
        assert.deepEqual(b, a, `channels ${channels}, train ${train}, epoch ${epoch}`);
      }
    }
  }
});

Deno.test("auto residence keeps the images on the host when the device is a CPU", () => {
  using set = smallSet(6, 3, S);
  const norm = { mean: [0, 0, 0], std: [1, 1, 1] };
  using auto = new BatchLoader(set, norm, { batchSize: 2, train: true, device: "cpu", seed: 0 });
  assert.equal(auto.resident, false);
});

Deno.test("sharded batches: the ranks' shares, concatenated in rank order, are the batch, bit for bit", async () => {
  using set = smallSet(23, 3, S);
  const norm = { mean: [0.3, 0.4, 0.5], std: [0.7, 0.6, 0.5] };
  for (const resident of [false, true]) {
    const opts = { batchSize: 6, train: true, device: "cpu" as const, seed: 5, pad: 2, resident };
    using whole = new BatchLoader(set, norm, opts);
    const expected = await collect(whole, 2);
    for (const worldSize of [2, 3]) {
      const shares: Awaited<ReturnType<typeof collect>>[] = [];
      for (let rank = 0; rank < worldSize; rank++) {
        using loader = new BatchLoader(set, norm, {
          ...opts,
          shard: (n) => shareRange(n, rank, worldSize),
        });
        // batchesPerEpoch counts global batches.
        assert.equal(loader.batchesPerEpoch, whole.batchesPerEpoch);
        shares.push(await collect(loader, 2));
      }
      const joined = expected.map((_, b) => ({
        images: shares.flatMap((s) => s[b].images),
        labels: shares.flatMap((s) => s[b].labels),
      }));
      assert.deepEqual(joined, expected, `resident ${resident}, ${worldSize} ranks`);
    }
  }
});
