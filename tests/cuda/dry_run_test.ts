/**
 * Where no GPU is, the CUDA tests are ignored; this runs their logic once
 * with the CPU standing in for the GPU (LADE_CUDA_TESTS_ON_CPU=1), so that a
 * mistake in the tests themselves shows here rather than on a lent GPU.
 */
import assert from "node:assert/strict";
import { cudaAvailable } from "../../lib/torch/device.ts";

Deno.test({
  name: "the CUDA tests' own logic passes with the CPU standing in for the GPU",
  ignore: cudaAvailable(),
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--quiet", new URL("./cuda_test.ts", import.meta.url).pathname],
      env: { LADE_CUDA_TESTS_ON_CPU: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text.split("\n").slice(-30).join("\n"));
    assert.match(text, /ok \| [1-9]\d* passed \| 0 failed/);
  },
});
