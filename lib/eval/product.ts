/**
 * The variants of a product of experts (BalPoE, lib/losses/balpoe.ts). Its
 * predictions are the experts' mean logits f (lib/losses/methods.ts
 * `combineExperts`), which model the uniform-prior posterior when the
 * experts' lambdas average 1, and a target prior p_t applies as
 * argmax f + log p_t (the official test-time bias correction, `adjusted_model_wrapper`
 * of emasa/BalPoE-CalibratedLT). Named by how they use the target prior:
 * - `balpoe`: argmax f, no prior (the balanced product);
 * - `balpoe_oracle`: with the true target prior;
 * - `balpoe_em`, `balpoe_bbse`: with the prior EM (or BBSE) estimated from
 *   the unlabelled test predictions.
 * (For a method called M, `M`, `M_oracle`, `M_em`, `M_bbse`.)
 *
 * @module
 */

import { METHOD_REGISTRY, methodByName } from "../losses/methods.ts";

/** Whether `method`'s predictions are a product of experts (BalPoE). */
export function isProductMethod(method: string): boolean {
  return methodByName(method).combine === "product";
}

/**
 * The variant name of a product-of-experts model `method` for the rule's
 * variant `ruleVariant` (`lade`, `lade+em`, `lade+bbse`) or, for
 * `"uniform"`, the prior-free prediction.
 */
export function productVariant(method: string, ruleVariant: string): string {
  if (ruleVariant === "uniform") return method;
  const plus = ruleVariant.lastIndexOf("+");
  return plus > 0 ? `${method}_${ruleVariant.slice(plus + 1)}` : `${method}_oracle`;
}

/**
 * The name under which the evaluation of a `method` model reports the
 * rule's variant `ruleVariant` (`lade`, `pc_softmax+em`): itself, or a
 * product of experts' own name for it.
 */
export function variantName(method: string, ruleVariant: string): string {
  return isProductMethod(method) ? productVariant(method, ruleVariant) : ruleVariant;
}

/**
 * How a product-of-experts variant uses the target prior (`none`, `known`,
 * or the estimator), and its series' name (the method); undefined for
 * other variant names.
 */
export function productVariantUse(variant: string): { use: string; base: string } | undefined {
  for (const m of METHOD_REGISTRY) {
    if (m.combine !== "product") continue;
    if (variant === m.name) return { use: "none", base: m.name };
    if (!variant.startsWith(`${m.name}_`)) continue;
    const rest = variant.slice(m.name.length + 1);
    if (rest === "oracle") return { use: "known", base: m.name };
    if (/^[a-z]+$/.test(rest)) return { use: rest, base: m.name };
  }
  return undefined;
}
