/**
 * The evaluations of a training run: the uniform test set's accuracy (after
 * every `eval_every` epochs and the last), the validation split's top-1
 * (what model selection looks at), and with `keepTestLogits` the whole test
 * split's logits after the last epoch.
 *
 * @module
 */

import { type DataSplits, type ImageSet, shotGroups } from "../data/mod.ts";
import { StoppedError } from "../errors.ts";
import { accuracy } from "../eval/metrics.ts";
import { expertMean } from "../losses/mod.ts";
import type { Model } from "../models/mod.ts";
import { tensor } from "../torch/create.ts";
import type { Tensor } from "../torch/tensor.ts";
import type { StepRunner } from "./step_runner.ts";

/**
 * Top-1 accuracy (percent) on the uniform test set: overall, and the mean
 * per-class accuracy of each shot group (null when the group has no class).
 */
export interface TestAccuracy {
  /** Over all test samples. */
  top1: number;
  /** Mean per-class accuracy of the many-shot classes. */
  many: number | null;
  /** Mean per-class accuracy of the medium-shot classes. */
  medium: number | null;
  /** Mean per-class accuracy of the few-shot classes. */
  few: number | null;
}

/**
 * Accuracy of test-set logits, as the training logs and result.json record
 * it; a multi-expert model's by the plain average of its experts.
 */
export function testAccuracy(
  logits: Tensor,
  labels: Int32Array,
  trainCounts: number[],
  experts: number,
): TestAccuracy {
  using mean = expertMean(logits, experts);
  const { top1, many, medium, few } = accuracy(mean, labels, shotGroups(trainCounts));
  return { top1, many, medium, few };
}

/** What an Evaluator evaluates, and how. */
export interface EvaluatorOptions {
  data: DataSplits;
  /** The uniform test set, and its positions in the test split. */
  testSet: ImageSet;
  uniform: Int32Array;
  model: Model;
  /** Predicts (sharded over the ranks in a distributed run). */
  runner: StepRunner;
  /** Samples a prediction batch. */
  batchSize: number;
}

/** When an epoch is evaluated. */
export interface EpochEvalPlan {
  /** The last epoch (always tested). */
  last: boolean;
  /** Test after every this many epochs (0: only the last). */
  every: number;
  /** Model selection is on: the validation split is evaluated every epoch. */
  selecting: boolean;
  /** Keep the whole test split's logits after the last epoch. */
  keepLogits: boolean;
}

/** An epoch's evaluation: what it measured. */
export interface EpochEval {
  test?: TestAccuracy;
  valTop1?: number;
}

/** The run's evaluations; dispose() frees kept logits that were not taken. */
export class Evaluator {
  readonly #o: EvaluatorOptions;
  #kept: Tensor | undefined;

  /** Evaluates `o.model` on `o.data`. */
  constructor(o: EvaluatorOptions) {
    this.#o = o;
  }

  /**
   * The evaluation at the end of 0-based `epoch`; undefined when a stop
   * ended it early (one process only: ranks finish theirs).
   */
  async epoch(epoch: number, plan: EpochEvalPlan): Promise<EpochEval | undefined> {
    const out: EpochEval = {};
    try {
      if (plan.last || (plan.every > 0 && (epoch + 1) % plan.every === 0)) {
        out.test = await this.test(plan.last && plan.keepLogits);
        out.valTop1 = await this.val();
      } else if (plan.selecting) {
        out.valTop1 = await this.val();
      }
    } catch (e) {
      if (!(e instanceof StoppedError)) throw e;
      return undefined;
    }
    return out;
  }

  /**
   * The uniform accuracy, and with `keep` the whole split's logits kept
   * (whose uniform rows give the same accuracy).
   */
  async test(keep: boolean): Promise<TestAccuracy> {
    const { data, testSet, uniform, model } = this.#o;
    if (!keep) {
      using logits = await this.#predict(testSet);
      return testAccuracy(logits, testSet.labels, data.trainCounts, model.experts);
    }
    this.#kept?.dispose();
    this.#kept = await this.#predict(data.test);
    using rows = tensor(uniform, [uniform.length], "int64");
    using logits = this.#kept.indexSelect(0, rows);
    return testAccuracy(logits, testSet.labels, data.trainCounts, model.experts);
  }

  /** The held-out validation split's top-1 (undefined without one). */
  async val(): Promise<number | undefined> {
    const { data, model } = this.#o;
    if (!data.val) return undefined;
    using v = await this.#predict(data.val);
    return testAccuracy(v, data.val.labels, data.trainCounts, model.experts).top1;
  }

  /** The kept test logits, now the caller's (undefined when none were kept). */
  takeKept(): Tensor | undefined {
    const kept = this.#kept;
    this.#kept = undefined;
    return kept;
  }

  #predict(set: ImageSet): Promise<Tensor> {
    const { model, data, runner, batchSize } = this.#o;
    return runner.predictLogits(model, set, data, batchSize);
  }

  /** Frees logits kept and not taken. */
  dispose(): void {
    this.#kept?.dispose();
    this.#kept = undefined;
  }

  /** Frees them at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
