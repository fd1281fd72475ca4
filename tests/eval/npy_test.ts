import assert from "node:assert/strict";
import { encodeNpy, parseNpy, readNpy, writeNpy } from "../../lib/eval/npy.ts";
import { InputError } from "../../lib/errors.ts";

Deno.test(".npy v1.0: header, alignment and values round-trip", async () => {
  const dir = await Deno.makeTempDir();
  const data = Float32Array.from([1.5, -2.25, 3, 0, 1e-7, 42]);
  await writeNpy(`${dir}/a.npy`, { dtype: "float32", shape: [2, 3], data });
  const bytes = await Deno.readFile(`${dir}/a.npy`);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 78, 85, 77, 80, 89, 1, 0]);
  const headerLen = bytes[8] | (bytes[9] << 8);
  assert.equal((10 + headerLen) % 64, 0);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLen));
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  assert.equal(bytes.length, 10 + headerLen + 24);
  const back = await readNpy(`${dir}/a.npy`);
  assert.equal(back.dtype, "float32");
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual([...back.data], [...data]);
  const labels = parseNpy(
    encodeNpy({ dtype: "int64", shape: [3], data: BigInt64Array.from([0n, 7n, 2n]) }),
  );
  assert.deepEqual(labels.shape, [3]);
  assert.deepEqual([...labels.data], [0n, 7n, 2n]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bad .npy input is a InputError naming the problem", async () => {
  assert.throws(() => parseNpy(new Uint8Array([1, 2, 3]), "x.npy"), InputError);
  const good = encodeNpy({ dtype: "float64", shape: [4], data: new Float64Array(4) });
  assert.throws(
    () => parseNpy(good.subarray(0, good.length - 3), "t.npy"),
    /expected 32 data bytes/,
  );
  const fortran = good.slice();
  const at = new TextDecoder().decode(good.subarray(0, 80)).indexOf("False");
  fortran.set(new TextEncoder().encode("True "), at);
  assert.throws(() => parseNpy(fortran), /Fortran/);
  await assert.rejects(() => readNpy("/nonexistent/x.npy"), InputError);
});

Deno.test("NumPy reads what lade writes and lade reads what NumPy writes", async (t) => {
  const probe = new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import numpy"],
    stderr: "null",
  });
  let hasNumpy = false;
  try {
    hasNumpy = (await probe.output()).success;
  } catch { /* no python */ }
  if (!hasNumpy) {
    console.log("numpy not available: skipped");
    return;
  }
  const dir = await Deno.makeTempDir();
  await writeNpy(`${dir}/ours.npy`, {
    dtype: "float64",
    shape: [2, 2],
    data: Float64Array.from([1, 2, 3, 4.5]),
  });
  const script = `
import numpy as np
a = np.load("${dir}/ours.npy")
assert a.dtype == np.float64 and a.shape == (2, 2), (a.dtype, a.shape)
print(float(a.sum()), float(a[1, 1]))
np.save("${dir}/theirs.npy", np.arange(6, dtype=np.int32).reshape(3, 2) * 3)
`;
  const out = await new Deno.Command("/usr/bin/python3", { args: ["-c", script] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "10.5 4.5");
  const theirs = await readNpy(`${dir}/theirs.npy`);
  await t.step("values", () => {
    assert.equal(theirs.dtype, "int32");
    assert.deepEqual(theirs.shape, [3, 2]);
    assert.deepEqual([...theirs.data], [0, 3, 6, 9, 12, 15]);
  });
  await Deno.remove(dir, { recursive: true });
});
