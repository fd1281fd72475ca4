import assert from "node:assert/strict";
import {
  ARCHITECTURE_HELP,
  architectureExperts,
  ARCHITECTURES,
  defaultArchitecture,
  isArchitecture,
} from "../../lib/models/mod.ts";
import { nativeArchitectures } from "../../lib/torch/mod.ts";

Deno.test("the TypeScript architecture list is the native factory's, in the same order", () => {
  assert.deepEqual([...ARCHITECTURES], nativeArchitectures());
});

Deno.test("every architecture has help; the defaults are architectures", () => {
  for (const name of ARCHITECTURES) {
    assert.ok(isArchitecture(name));
    assert.ok(ARCHITECTURE_HELP[name].length > 0, name);
  }
  assert.deepEqual(Object.keys(ARCHITECTURE_HELP).sort(), [...ARCHITECTURES].sort());
  assert.ok(!isArchitecture("resnet99"));
  for (const size of [28, 32, 224]) assert.ok(isArchitecture(defaultArchitecture(size)));
});

Deno.test("SADE's networks have three experts and are the defaults for three experts", () => {
  assert.deepEqual(ARCHITECTURES.filter((a) => architectureExperts(a) === 3), [
    "cnn28-sade",
    "resnet32-sade",
    "resnet10-sade",
    "resnet50-sade",
    "resnext50-sade",
    "resnet152-sade",
  ]);
  assert.equal(architectureExperts("resnet32"), 1);
  assert.deepEqual([28, 32, 224].map((s) => defaultArchitecture(s, 3)), [
    "cnn28-sade",
    "resnet32-sade",
    "resnet50-sade",
  ]);
});
