/**
 * The evaluation of a multi-expert (SADE) model on one shifted test set.
 * Its variants use no target prior (SADE is test-agnostic):
 * - `sade_expert1` .. `sade_expert3`: each expert alone (forward, uniform
 *   and backward expert), argmax of its logits;
 * - `sade_avg`: the plain average of the experts' logits (the official
 *   network's output);
 * - `sade_tta`: the test-time self-supervised aggregation
 *   (lib/eval/aggregation.ts), with the weights it learned on the set's
 *   unlabelled images; transductive, as EM is. Only when the predictions
 *   carry the views' logits.
 *
 * @module
 */

import { labelTensor } from "../data/labels.ts";
import type { ShotGroups } from "../data/shots.ts";
import { expertLogits, expertMean } from "../losses/sade.ts";
import { countsToPrior } from "../priors/source_prior.ts";
import { tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import type { Tensor } from "../torch/tensor.ts";
import { aggregateLogits, type AggregationOptions, learnAggregation } from "./aggregation.ts";
import { computeMetrics, type Metrics } from "./metrics.ts";
import type { ShiftEvaluation } from "./evaluation.ts";

/** The variant of expert `e` (0-based). */
export function expertVariant(e: number): string {
  return `sade_expert${e + 1}`;
}

/** The plain average's variant. */
export const AVERAGE_VARIANT = "sade_avg";

/** The test-time aggregation's variant. */
export const AGGREGATION_VARIANT = "sade_tta";

/**
 * Evaluates the samples `indices` of multi-expert logits [N, E * C]: each
 * expert, their average, and, with `views` ([epochs, 2, N, E * C], the
 * experts' logits of augmented views of the same samples), the test-time
 * aggregation learned on the selected rows.
 */
export function evaluateExperts(
  input: {
    logits: Tensor;
    labels: Int32Array;
    views?: Tensor;
    classes: number;
    experts: number;
  },
  indices: Int32Array,
  shift: string,
  options: { groups: ShotGroups; aggregation?: AggregationOptions; confusion?: boolean },
): ShiftEvaluation {
  const { classes, experts } = input;
  const labels = indices.map((i) => input.labels[i]);
  const counts = new Array<number>(classes).fill(0);
  for (const y of labels) counts[y]++;
  return scope(() => {
    const rows = tensor(indices, [indices.length], "int64");
    const logits = input.logits.indexSelect(0, rows);
    const results: Record<string, Metrics> = {};
    const metrics = (z: Tensor) =>
      scope(() => computeMetrics(z, labels, options.groups, { confusion: options.confusion }));
    for (let e = 0; e < experts; e++) {
      results[expertVariant(e)] = metrics(expertLogits(logits, e, experts));
    }
    const mean = expertMean(logits, experts);
    results[AVERAGE_VARIANT] = metrics(mean);
    let aggregation: ShiftEvaluation["aggregation"];
    if (input.views !== undefined) {
      const learned = scope(() =>
        learnAggregation(input.views!.indexSelect(2, rows.to(input.views!.device)), {
          experts,
          ...options.aggregation,
        })
      );
      results[AGGREGATION_VARIANT] = metrics(aggregateLogits(logits, learned.weights));
      aggregation = { ...learned, transductive: true };
    }
    const rawTop1 = mean.argmax(1).eq(labelTensor(labels)).to("float64").mean().item() * 100;
    return {
      shift,
      counts,
      targetPrior: countsToPrior(counts),
      results,
      estimates: {},
      rawTop1,
      ...(aggregation && { aggregation }),
    };
  });
}
