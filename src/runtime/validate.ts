/**
 * Checks run() inputs against a model description before anything reaches ONNX Runtime, so a bad
 * request gets a message with expected vs got instead of an ORT error (or a crash).
 */
import { Tensor, TesseraError } from "../tensor/index.ts";
import type { Dim, ModelDescription, TensorMap, TensorSpec } from "./session.ts";

export interface InputIssue {
  readonly path: string;
  readonly message: string;
}

export type InputCheck = { readonly ok: true } | { readonly ok: false; readonly issues: InputIssue[] };

function fmtDims(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (d === null ? "?" : String(d))).join(",")}]`;
}

/** `"float32[batch,4]"`: how specs appear in messages. */
export function formatSpec(spec: TensorSpec): string {
  return `${spec.dtype}${fmtDims(spec.shape)}`;
}

/**
 * Validates `inputs` against `description.inputs`: every input present, no unknown names, dtypes,
 * ranks, fixed dims, element counts, and symbolic dims bound consistently across inputs (the same
 * `"batch"` everywhere). Reports every problem. An input whose spec shape is `[]` is treated as
 * having an unknown shape (ORT metadata cannot tell a scalar from an unknown shape), so only its
 * dtype is checked.
 */
export function validateInputs(description: ModelDescription, inputs: TensorMap): InputCheck {
  const issues: InputIssue[] = [];
  const expectedNames = description.inputs.map((s) => s.name);
  const symbols = new Map<string, { value: number; input: string; axis: number }>();
  for (const name of Object.keys(inputs)) {
    if (!expectedNames.includes(name)) {
      issues.push({
        path: `inputs.${name}`,
        message: `unknown input ${JSON.stringify(name)}; expected one of ${expectedNames.join(", ")}`,
      });
    }
  }
  for (const spec of description.inputs) {
    const path = `inputs.${spec.name}`;
    const t = inputs[spec.name];
    if (t === undefined) {
      issues.push({ path, message: `missing input; expected ${formatSpec(spec)}` });
      continue;
    }
    if (!(t instanceof Tensor)) {
      issues.push({ path, message: `expected a Tensor ${formatSpec(spec)}, got ${typeof t}` });
      continue;
    }
    const got = (): string => `${t.dtype}[${t.shape.join(",")}]`; // built only for a message
    if (t.dtype !== spec.dtype)
      issues.push({ path, message: `dtype: expected ${spec.dtype}, got ${t.dtype}` });
    if (spec.shape.length === 0) continue;
    if (t.ndim !== spec.shape.length) {
      issues.push({
        path,
        message: `rank: expected ${spec.shape.length} (${formatSpec(spec)}), got ${t.ndim} (${got()})`,
      });
      continue;
    }
    let fixedCount = 1;
    let allFixed = true;
    for (let k = 0; k < spec.shape.length; k++) {
      const d = spec.shape[k];
      const n = t.shape[k]!;
      if (typeof d === "number" && d >= 0) {
        fixedCount *= d;
        if (n !== d)
          issues.push({
            path: `${path}.shape[${k}]`,
            message: `dim ${k}: expected ${d} (${formatSpec(spec)}), got ${n} (${got()})`,
          });
      } else {
        allFixed = false;
        if (typeof d === "string" && d !== "") {
          const seen = symbols.get(d);
          if (seen === undefined) symbols.set(d, { value: n, input: spec.name, axis: k });
          else if (seen.value !== n) {
            issues.push({
              path: `${path}.shape[${k}]`,
              message: `dim ${k} ("${d}"): expected ${seen.value} to match ${seen.input}[${seen.axis}], got ${n}`,
            });
          }
        }
      }
    }
    if (allFixed && t.size !== fixedCount) {
      issues.push({ path, message: `element count: expected ${fixedCount}, got ${t.size}` });
    }
  }
  return issues.length === 0 ? { ok: true } : { ok: false, issues };
}

/** Like `validateInputs` but throws `E_INPUT_INVALID` listing every issue. */
export function assertValidInputs(description: ModelDescription, inputs: TensorMap, label: string): void {
  const check = validateInputs(description, inputs);
  if (!check.ok) {
    const lines = check.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
    throw new TesseraError("E_INPUT_INVALID", `${label}: invalid inputs: ${lines}`, {
      model: label,
      issues: check.issues,
    });
  }
}
