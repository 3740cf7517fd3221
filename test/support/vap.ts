// The admission evaluator lives in lib/simulate/admission.ts (simulate uses it before applying a
// step); tests evaluate single policies with it under the name they always used.
export { evaluatePolicy as admit } from "../../lib/simulate/admission";
export type { PolicyRequest as AdmissionRequest, Verdict } from "../../lib/simulate/admission";
