import assert from "node:assert/strict";
import { noGrad, scope, type Tensor, tensor } from "../../lib/torch/mod.ts";

/** Central finite differences of a scalar function of a float64 vector. */
function numericGrad(f: (x: Tensor) => Tensor, x0: number[], h = 1e-6): number[] {
  return x0.map((_, i) =>
    scope(() => {
      const plus = [...x0];
      const minus = [...x0];
      plus[i] += h;
      minus[i] -= h;
      const fp = f(tensor(plus, [x0.length], "float64")).item();
      const fm = f(tensor(minus, [x0.length], "float64")).item();
      return (fp - fm) / (2 * h);
    })
  );
}

function analyticGrad(f: (x: Tensor) => Tensor, x0: number[]): number[] {
  return scope(() => {
    const x = tensor(x0, [x0.length], "float64");
    x.requiresGrad = true;
    f(x).backward();
    return x.grad!.toList();
  });
}

const functions: [string, (x: Tensor) => Tensor][] = [
  ["sum of squares", (x) => x.mul(x).sum()],
  ["logsumexp", (x) => x.logsumexp()],
  ["log-softmax picked", (x) => x.reshape(2, 3).logSoftmax(1).select(1, 2).sum()],
  ["matmul and tanh", (x) => x.reshape(2, 3).matmul(x.reshape(3, 2)).tanh().sum()],
  ["exp, div and pow", (x) => x.exp().div(x.pow(2).add(1)).mean()],
  [
    "gather and max",
    (x) =>
      x.reshape(3, 2).max(1).sum().add(
        x.reshape(3, 2).gather(1, tensor(new BigInt64Array([1n, 0n, 1n]), [3, 1])).sum(),
      ),
  ],
];

for (const [name, f] of functions) {
  Deno.test(`autograd gradient of ${name} matches finite differences`, () => {
    const x0 = [0.3, -1.2, 0.7, 2.0, -0.4, 1.1];
    const numeric = numericGrad(f, x0);
    const analytic = analyticGrad(f, x0);
    for (let i = 0; i < x0.length; i++) {
      assert.ok(
        Math.abs(numeric[i] - analytic[i]) < 1e-6,
        `${name}, component ${i}: analytic ${analytic[i]} vs numeric ${numeric[i]}`,
      );
    }
  });
}

Deno.test("requiresGrad, grad accumulation, clearing, detach and noGrad", () => {
  scope(() => {
    const x = tensor([1, 2, 3], [3], "float64");
    assert.equal(x.requiresGrad, false);
    assert.equal(x.grad, null);
    x.requiresGrad = true;
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toList(), [2, 2, 2]);
    x.mul(x).sum().backward(); // accumulates 2x
    assert.deepEqual(x.grad!.toList(), [4, 6, 8]);
    x.grad = null;
    assert.equal(x.grad, null);
    assert.equal(x.detach().requiresGrad, false);
    assert.equal(x.mul(3).requiresGrad, true);
    const y = noGrad(() => x.mul(3));
    assert.equal(y.requiresGrad, false);
    assert.equal(x.mul(3).requiresGrad, true, "grad mode restored after noGrad");
    // A non-scalar output needs an explicit gradient.
    const v = x.mul(2);
    assert.throws(() => v.backward(), /TorchError/);
    v.backward(tensor([1, 0, 1], [3], "float64"));
    assert.deepEqual(x.grad!.toList(), [2, 0, 2]);
  });
});
