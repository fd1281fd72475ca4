/**
 * The online evaluation: a model's test logits, computed once, served to
 * every method on the same stream. Each round t, every method predicts the
 * round's n samples with what it says now (a prior through the model's
 * prediction rule, or an adapted layer), then sees their unlabelled
 * probabilities. Per method and round it records:
 * - accuracy (%) on the round's samples;
 * - prior_l1: |prior used - q_t|_1 (null for adapters, which use no prior);
 * - the expected error (%) under q_t: sum_y q_t(y) (1 - acc_y), acc_y the
 *   classifier's accuracy on all test images of class y, i.e. the error on
 *   the distribution the round was drawn from rather than on its ten samples;
 * - regret: that expected error minus the oracle's (percentage points). Its
 *   mean over rounds is the dynamic regret against the oracle, divided by T.
 *
 * Prediction rules, through lib/eval/rules.ts: LADE-like models predict
 * argmax f + log q, softmax models argmax f - log p_s + log q (PC softmax),
 * multi-expert models (SADE) use their experts' aggregated logits with the
 * rule their calibration calls for (`priorRule`). The methods' per-round
 * work is small typed-array math over C classes; the predictions of all
 * rounds are made in a few batched libtorch ops per method.
 *
 * ```ts
 * import { OnlineEvaluator, sampleStream, scheduleMarginals, tensor } from "../../mod.ts";
 * // Six test samples of two classes, from a softmax model trained on a 3:1 prior.
 * const labels = Int32Array.from([0, 0, 0, 1, 1, 1]);
 * using logits = tensor([2, 0, 1, 0.5, 0.2, 0, 0, 1, 0.4, 0.6, -1, 2], [6, 2]);
 * using online = new OnlineEvaluator({ logits, labels, trainCounts: [30, 10], method: "softmax" });
 * const q = scheduleMarginals("monotone", [0.5, 0.5], [0.1, 0.9], { rounds: 5 });
 * const result = online.run(sampleStream(labels, q, 4, 0), ["none", "oracle", "fth"]);
 * console.assert(result.methods.oracle.regret === 0);
 * ```
 *
 * @module
 */

import { InputError } from "../errors.ts";
import { labelTensor } from "../data/labels.ts";
import { aggregateLogits } from "../eval/aggregation.ts";
import type { SourceData } from "../eval/evaluation.ts";
import {
  adjustLogitsByLogPrior,
  modelLogitPrior,
  priorRule,
  type Rule,
  sourcePosteriorLogits,
} from "../eval/rules.ts";
import { fitSourceCalibration } from "../eval/shifted.ts";
import { predictionExperts, type PredictionRule } from "../losses/methods.ts";
import { applyCalibration, type CalibrationKind } from "../priors/calibration.ts";
import { countsToPrior } from "../priors/source_prior.ts";
import { ones, tensor } from "../torch/create.ts";
import { scope } from "../torch/memory.ts";
import { cat, type Tensor } from "../torch/tensor.ts";
import { AffineRisk, held } from "./affine_risk.ts";
import { softConfusion } from "./confusion.ts";
import { invert, smallestSingularValue } from "./linear.ts";
import { checkMethodNames, createOnlineMethod, type MethodOptions } from "./methods.ts";
import { type ProbRows, sliceRows } from "./probs.ts";
import { bbseRoundEstimator, mllsRoundEstimator, type RoundEstimator } from "./round_estimate.ts";
import type { Stream } from "./stream.ts";

/** A model's predictions on a labelled test split. */
export interface OnlineModel {
  /** Raw logits [N, C] ([N, E * C] for a method of E experts), any float dtype, on the CPU. */
  logits: Tensor;
  /** Their labels. */
  labels: Int32Array;
  /** Training class counts (the source prior). */
  trainCounts: number[];
  /** The training method (decides the prediction rule). */
  method: string;
  /**
   * The prior the model's classifier was trained under, as its run records
   * it (uniform for a class-balanced second stage); default: the method's
   * usual one (lib/eval/rules.ts `logitPriorOf`).
   */
  logitPrior?: number[];
}

/** The per-round estimators. */
export type RoundEstimatorKind = "em" | "bbse";

/** Options of {@link OnlineEvaluator}. */
export interface OnlineEvaluatorOptions {
  /** Labelled source data (held out): BBSE's confusion, EM's calibration, UOGD and ATLAS's risk. */
  source?: SourceData;
  /** The per-round estimator of fth, flh-ftl, uogd and atlas (default em). */
  estimator?: RoundEstimatorKind;
  /** EM's calibration on the source data (default bcts with source data, else none). */
  calibration?: CalibrationKind | "none";
  /** UOGD and ATLAS's risk uses at most this many labelled samples per class (default 200). */
  maxSourcePerClass?: number;
}

/** One method's results on one stream. */
export interface OnlineMethodResult {
  /** Mean accuracy (%) over the rounds. */
  accuracy: number;
  /** Mean L1 error of the prior it predicted with; null for adapters (uogd, atlas). */
  priorL1: number | null;
  /** Mean over rounds of its expected error minus the oracle's (percentage points). */
  regret: number;
  /** Per round: accuracy (%), prior L1 error, regret. */
  series: { accuracy: number[]; priorL1: (number | null)[]; regret: number[] };
  /** The prior it predicted each round with (adapters: none). */
  priors?: number[][];
}

/** The results of the methods on one stream. */
export interface OnlineResult {
  /** The schedule's name (or the marginals file). */
  schedule: string;
  /** Rounds T. */
  rounds: number;
  /** Samples per round n. */
  perRound: number;
  /** q_t of every round. */
  marginals: number[][];
  /** Results by method, in the order run. */
  methods: Record<string, OnlineMethodResult>;
  /** The per-round estimator the methods that use one used. */
  estimator: RoundEstimatorKind;
  /** Stream draws that reused an image (a class ran out). */
  reused: number;
  /** Classes that ran out of images. */
  exhausted: Stream["exhausted"];
}

/** The first `max` samples of each class (all when max is Infinity). */
function firstPerClass(labels: Int32Array, max: number): Int32Array {
  const taken = new Map<number, number>();
  const out: number[] = [];
  labels.forEach((y, i) => {
    const k = taken.get(y) ?? 0;
    if (k < max) {
      taken.set(y, k + 1);
      out.push(i);
    }
  });
  return Int32Array.from(out);
}

/** The experts' equal-weight aggregation for a multi-expert method, else the logits (a copy). */
function modelLogits(logits: Tensor, method: string): Tensor {
  // (A product of experts, BalPoE, predicts with its experts' mean already.)
  const experts = predictionExperts(method);
  return scope(() =>
    experts > 1
      ? aggregateLogits(logits, new Array<number>(experts).fill(1 / experts))
      : logits.to("float32").contiguous()
  );
}

/**
 * A model's test predictions prepared once for online evaluation on any
 * number of streams (`run`): the rule's logits, the calibrated
 * probabilities the methods see, and, with labelled source data, the
 * confusion matrix and the unbiased risk. Holds tensors: dispose it.
 */
export class OnlineEvaluator {
  /** Classes. */
  readonly classes: number;
  /** The prediction rule. */
  readonly rule: PredictionRule;
  /** The training prior. */
  readonly sourcePrior: number[];
  /** The prior the model's logits assume (what `none` predicts with). */
  readonly basePrior: number[];
  /** The prior the methods' probabilities are calibrated to. */
  readonly reference: number[];
  /** The per-round estimator. */
  readonly estimator: RoundEstimatorKind;
  /** EM's calibration, when one was fitted. */
  readonly calibration?: { kind: CalibrationKind; temperature: number };
  /** The soft confusion matrix (with source data). */
  readonly confusion?: Float64Array;
  /** Its smallest singular value. */
  readonly confusionSigma?: number;
  readonly #labels: Int32Array;
  readonly #logits: Tensor;
  readonly #probs: Tensor;
  readonly #risk?: AffineRisk;
  readonly #roundEstimator: RoundEstimator;

  /** Prepares `model`'s test predictions (and the source data's, if given). */
  constructor(model: OnlineModel, options: OnlineEvaluatorOptions = {}) {
    const classes = model.trainCounts.length;
    const experts = predictionExperts(model.method);
    if (model.logits.ndim !== 2 || model.logits.shape[1] !== experts * classes) {
      throw new InputError(
        "logits",
        `expected [N, ${
          experts * classes
        }] logits for ${classes} classes, got [${model.logits.shape}]`,
      );
    }
    if (model.logits.shape[0] !== model.labels.length) {
      throw new InputError(
        "labels",
        `${model.labels.length} labels for ${model.logits.shape[0]} rows of logits`,
      );
    }
    this.classes = classes;
    this.rule = priorRule(model.method);
    this.sourcePrior = countsToPrior(model.trainCounts);
    this.basePrior = modelLogitPrior(model);
    this.estimator = options.estimator ?? "em";
    if (this.estimator !== "em" && this.estimator !== "bbse") {
      throw new InputError(
        "estimator",
        `unknown per-round estimator '${this.estimator}' (use em or bbse)`,
      );
    }
    const source = options.source;
    const calibrationKind = options.calibration ?? (source ? "bcts" : "none");
    if (this.estimator === "bbse" && source === undefined) {
      throw new InputError(
        "source",
        "the bbse per-round estimator needs labelled source data (a held-out split)",
      );
    }
    if (calibrationKind !== "none" && source === undefined) {
      throw new InputError("calibration", "calibration needs labelled source data");
    }
    this.#labels = model.labels;
    const prepared = scope(() => {
      const z = modelLogits(model.logits, model.method);
      let probs: Tensor;
      let sourceProbs: Tensor | undefined;
      let zSource: Tensor | undefined;
      let reference = this.basePrior;
      let calibration: OnlineEvaluator["calibration"];
      if (source !== undefined) zSource = modelLogits(source.logits, model.method);
      if (calibrationKind !== "none") {
        const fitted = fitSourceCalibration(
          model,
          { logits: zSource!, labels: source!.labels },
          calibrationKind,
        );
        const calibrate = (x: Tensor) =>
          applyCalibration(
            sourcePosteriorLogits(x, this.basePrior, this.sourcePrior).to("float64"),
            fitted.calibration,
          ).softmax(1);
        probs = calibrate(z);
        sourceProbs = calibrate(zSource!);
        reference = fitted.referencePrior;
        calibration = {
          kind: fitted.calibration.kind,
          temperature: fitted.calibration.temperature,
        };
      } else {
        probs = z.to("float64").softmax(1);
        if (zSource !== undefined) sourceProbs = zSource.to("float64").softmax(1);
      }
      let risk: AffineRisk | undefined;
      let confusion: Float64Array | undefined;
      if (source !== undefined) {
        confusion = softConfusion(sourceProbs!, source.labels);
        const keepRows = firstPerClass(source.labels, options.maxSourcePerClass ?? 200);
        risk = new AffineRisk(
          zSource!.indexSelect(0, tensor(keepRows, [keepRows.length], "int64")),
          keepRows.map((i) => source.labels[i]),
        );
      }
      return { z, probs, reference, calibration, confusion, risk };
    });
    this.#logits = held(prepared.z);
    this.#probs = held(prepared.probs);
    this.reference = prepared.reference;
    this.calibration = prepared.calibration;
    this.confusion = prepared.confusion;
    this.#risk = prepared.risk;
    if (this.confusion !== undefined) {
      const inverse = invert(this.confusion, classes);
      this.confusionSigma = inverse === null ? 0 : smallestSingularValue(inverse, classes);
    }
    this.#roundEstimator = this.estimator === "bbse"
      ? bbseRoundEstimator(this.confusion!, classes)
      : mllsRoundEstimator(this.reference);
  }

  /** Whether labelled source data was given (uogd and atlas need it). */
  get hasSource(): boolean {
    return this.#risk !== undefined;
  }

  /**
   * Runs `methods` (none and oracle are always added: the others are
   * measured against them) on `stream`, named `schedule`.
   */
  run(
    stream: Stream,
    methods: readonly string[],
    options: MethodOptions & { schedule?: string } = {},
  ): OnlineResult {
    const C = this.classes;
    const T = stream.rounds;
    const n = stream.perRound;
    const names = checkMethodNames(["none", "oracle", ...methods]);
    if (stream.marginals.length !== T || stream.indices.length !== T * n) {
      throw new InputError("stream", "its rounds, marginals and indices disagree");
    }
    if (stream.marginals[0].length !== C) {
      throw new InputError(
        "stream",
        `its marginals have ${stream.marginals[0].length} classes but the model ${C}`,
      );
    }
    const N = this.#labels.length;
    for (const i of stream.indices) {
      if (i < 0 || i >= N) throw new InputError("stream", `index ${i} outside the test split`);
    }
    const ctx = {
      basePrior: this.basePrior,
      reference: this.reference,
      marginals: stream.marginals,
      roundEstimator: this.#roundEstimator,
      risk: this.#risk,
      confusionSigma: this.confusionSigma,
      options,
    };
    const expected: Record<string, number[]> = {};
    const results: Record<string, OnlineMethodResult> = {};
    scope(() => {
      const rows = tensor(stream.indices, [T * n], "int64");
      const all = this.#probs.indexSelect(0, rows).toArray() as Float64Array;
      const rounds: ProbRows[] = [];
      const whole: ProbRows = { rows: T * n, classes: C, data: all };
      for (let t = 0; t < T; t++) rounds.push(sliceRows(whole, t * n, n));
      const batch = new Batch(
        this.#logits,
        this.#labels,
        rows,
        stream,
        this.rule,
        this.basePrior,
      );
      for (const name of names) {
        const method = createOnlineMethod(name, ctx);
        try {
          const priors: number[][] = [];
          const accuracy: number[] = [];
          const expectedAcc: number[] = [];
          let pending: (number[] | Float64Array)[] = [];
          const flush = (end: number) => {
            if (pending.length === 0) return;
            const start = end - pending.length;
            const r = method.layer === undefined
              ? batch.withPriors(start, pending as number[][])
              : batch.withLayers(start, pending as Float64Array[]);
            accuracy.push(...r.accuracy);
            expectedAcc.push(...r.expected);
            pending = [];
          };
          for (let t = 0; t < T; t++) {
            if (method.layer === undefined) {
              const p = method.prior()!;
              priors.push(p);
              pending.push(p);
            } else {
              pending.push(method.layer());
            }
            method.update(rounds[t]);
            if (pending.length >= batch.chunk) flush(t + 1);
          }
          flush(T);
          expected[name] = expectedAcc;
          const priorL1 = method.layer === undefined
            ? priors.map((p, t) =>
              p.reduce((s, v, c) => s + Math.abs(v - stream.marginals[t][c]), 0)
            )
            : new Array<number | null>(T).fill(null);
          results[name] = {
            accuracy: mean(accuracy),
            priorL1: method.layer === undefined ? mean(priorL1 as number[]) : null,
            regret: 0,
            series: { accuracy, priorL1, regret: [] },
            ...(method.layer === undefined ? { priors } : {}),
          };
        } finally {
          method.dispose?.();
        }
      }
    });
    // Regret against the oracle, on expected errors (100 - expected accuracy).
    for (const name of names) {
      const regret = expected[name].map((a, t) => expected.oracle[t] - a);
      results[name].series.regret = regret;
      results[name].regret = mean(regret);
    }
    return {
      schedule: options.schedule ?? "stream",
      rounds: T,
      perRound: n,
      marginals: stream.marginals,
      methods: results,
      estimator: this.estimator,
      reused: stream.reused,
      exhausted: stream.exhausted,
    };
  }

  /** Frees the prepared tensors. */
  dispose(): void {
    this.#logits.dispose();
    this.#probs.dispose();
    this.#risk?.dispose();
  }

  /** Frees the prepared tensors at the end of a `using` block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * The batched predictions of one stream: the rounds' logits [T, n, C] and
 * labels, the whole test split's logits for the expected accuracies, and
 * the matrix that turns correct predictions into per-class accuracies.
 * Tensors live in the caller's scope.
 */
class Batch {
  /** Rounds evaluated per batch (bounds the [rounds, N, C] intermediates). */
  readonly chunk: number;
  readonly #rule: Rule;
  /** The prior the logits assume (the rules move it to each round's). */
  readonly #logitPrior: number[];
  readonly #roundLogits: Tensor;
  readonly #roundLabels: Tensor;
  readonly #testLogits: Tensor;
  readonly #testLabels: Tensor;
  readonly #classMean: Tensor;
  readonly #marginals: Tensor;
  readonly #classes: number;

  constructor(
    logits: Tensor,
    labels: Int32Array,
    rows: Tensor,
    stream: Stream,
    rule: Rule,
    logitPrior: number[],
  ) {
    const [N, C] = logits.shape;
    const T = stream.rounds;
    const n = stream.perRound;
    this.#classes = C;
    this.#rule = rule;
    this.#logitPrior = logitPrior;
    this.chunk = Math.max(1, Math.min(T, Math.floor(2e7 / (N * (C + 1)))));
    this.#roundLogits = logits.indexSelect(0, rows).reshape(T, n, C);
    this.#roundLabels = labelTensor(stream.labels).reshape(T, n);
    this.#testLogits = logits;
    this.#testLabels = labelTensor(labels).unsqueeze(0);
    const counts = new Array<number>(C).fill(0);
    for (const y of labels) counts[y]++;
    const perClass = tensor(counts.map((k) => (k > 0 ? 1 / k : 0)), [C], "float32");
    this.#classMean = labelTensor(labels).oneHot(C).to("float32").mul(perClass);
    this.#marginals = tensor(stream.marginals.flat(), [T, C], "float32");
  }

  /** Accuracy (%) per round and expected accuracy (%) under q_t, from adjusted logits. */
  #score(start: number, rounds: Tensor, test: Tensor): { accuracy: number[]; expected: number[] } {
    const count = rounds.shape[0];
    const accuracy = rounds.argmax(2).eq(this.#roundLabels.narrow(0, start, count))
      .to("float64").mean(1).mul(100).toList();
    const correct = test.argmax(2).eq(this.#testLabels).to("float32"); // [count, N]
    const expected = correct.matmul(this.#classMean).mul(this.#marginals.narrow(0, start, count))
      .sum(1).to("float64").mul(100).toList();
    return { accuracy, expected };
  }

  /** Rounds start.. predicted with `priors` (one per round) through the rule. */
  withPriors(start: number, priors: number[][]): { accuracy: number[]; expected: number[] } {
    return scope(() => {
      const logPrior = tensor(priors.flat(), [priors.length, this.#classes], "float32")
        .clamp(1e-12).log().unsqueeze(1);
      const rounds = this.#roundLogits.narrow(0, start, priors.length);
      return this.#score(
        start,
        adjustLogitsByLogPrior(rounds, this.#rule, this.#logitPrior, logPrior),
        adjustLogitsByLogPrior(
          this.#testLogits.unsqueeze(0),
          this.#rule,
          this.#logitPrior,
          logPrior,
        ),
      );
    });
  }

  /** Rounds start.. predicted with affine layers W [C, C + 1] (one per round) on the logits. */
  withLayers(start: number, layers: Float64Array[]): { accuracy: number[]; expected: number[] } {
    const C = this.#classes;
    return scope(() => {
      const flat = new Float64Array(layers.length * C * (C + 1));
      layers.forEach((w, k) => flat.set(w, k * C * (C + 1)));
      const wt = tensor(flat, [layers.length, C, C + 1], "float32").transpose(1, 2);
      const rounds = this.#roundLogits.narrow(0, start, layers.length);
      const roundX = cat([rounds, ones([layers.length, rounds.shape[1], 1])], 2);
      const testX = cat([this.#testLogits, ones([this.#testLogits.shape[0], 1])], 1);
      return this.#score(start, roundX.matmul(wt), testX.matmul(wt));
    });
  }
}
