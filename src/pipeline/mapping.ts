/**
 * Column mapping: record-batch columns → model input tensors, and model outputs → columns.
 *
 * Feature tensors are built column-wise straight from the column buffers into one `[rows, width]` float32
 * array (one strided write loop per column, no per-row JS objects). Outputs of shape `[rows]` / `[rows, 1]`
 * become scalar columns, `[rows, k]` (or higher rank, flattened) become vector columns (fixed-size lists);
 * with labels, the argmax of the matching output becomes `label_index` + `label`.
 */
import type { ModelDescription, TensorMap } from "../runtime/index.ts";
import { cast, type Tensor } from "../tensor/index.ts";
import type { Column, ColumnKind, FieldSpec, RecordBatch } from "./batch.ts";
import { PipelineError } from "./errors.ts";

/** One model input fed from one or more columns. */
export interface InputPlan {
  readonly input: string;
  readonly columns: readonly { readonly name: string; readonly width: number }[];
  /** Sum of the column widths: the feature dimension. */
  readonly width: number;
  /** Element type of the model input the features are built in (absent: float32). */
  readonly dtype?: "float32" | "float64";
}

const NUMERIC: ReadonlySet<ColumnKind> = new Set(["float32", "float64", "int32", "int64", "bool", "vector"]);

/**
 * Plans how columns feed model inputs. `mapping` is input name → column names; when absent, `columns` (or every
 * numeric/vector column of the input not in `exclude`) feeds the model's single input.
 */
export function planInputs(
  description: Pick<ModelDescription, "inputs">,
  fields: readonly FieldSpec[],
  options: {
    mapping?: Readonly<Record<string, readonly string[]>>;
    columns?: readonly string[];
    exclude?: readonly string[];
  },
): InputPlan[] {
  let mapping = options.mapping;
  if (!mapping) {
    const first = description.inputs[0];
    if (!first || description.inputs.length !== 1) {
      throw new PipelineError(
        "E_PIPELINE_FEATURES",
        `the model has ${description.inputs.length} inputs (${description.inputs.map((i) => i.name).join(", ")}); map columns to each one`,
        { inputs: description.inputs.map((i) => i.name) },
      );
    }
    const cols =
      options.columns ??
      fields
        .filter((f) => NUMERIC.has(f.kind) && !(options.exclude ?? []).includes(f.name))
        .map((f) => f.name);
    mapping = { [first.name]: cols };
  }
  const byName = new Map(fields.map((f) => [f.name, f]));
  const unmapped = description.inputs.filter((i) => !Object.hasOwn(mapping, i.name)).map((i) => i.name);
  if (unmapped.length > 0) {
    throw new PipelineError(
      "E_PIPELINE_FEATURES",
      `model input(s) ${unmapped.map((n) => `"${n}"`).join(", ")} have no columns; the mapping covers ${Object.keys(mapping).join(", ")}`,
      { unmapped, inputs: description.inputs.map((i) => i.name) },
    );
  }
  return Object.entries(mapping).map(([input, names]) => {
    const spec = description.inputs.find((i) => i.name === input);
    if (!spec) {
      throw new PipelineError(
        "E_PIPELINE_FEATURES",
        `the model has no input "${input}" (has ${description.inputs.map((i) => i.name).join(", ")})`,
        {
          input,
        },
      );
    }
    if (names.length === 0)
      throw new PipelineError("E_PIPELINE_FEATURES", `no columns map to model input "${input}"`, { input });
    const columns = names.map((name) => {
      const f = byName.get(name);
      if (!f) {
        throw new PipelineError(
          "E_PIPELINE_MISSING_COLUMN",
          `column "${name}" (for input "${input}") is not in the input`,
          {
            column: name,
            available: [...byName.keys()],
          },
        );
      }
      if (!NUMERIC.has(f.kind)) {
        throw new PipelineError(
          "E_PIPELINE_FEATURES",
          `column "${name}" is ${f.kind}; model input "${input}" needs numbers or vectors`,
          {
            column: name,
            kind: f.kind,
          },
        );
      }
      return { name, width: f.kind === "vector" ? (f.size ?? 0) : 1 };
    });
    const width = columns.reduce((s, c) => s + c.width, 0);
    const last = spec.shape[spec.shape.length - 1];
    if (spec.shape.length !== 2 || (typeof last === "number" && last !== width)) {
      throw new PipelineError(
        "E_PIPELINE_FEATURES",
        `model input "${input}" has shape [${spec.shape.join(",")}]; the mapped columns (${columns.map((c) => (c.width === 1 ? c.name : `${c.name}[${c.width}]`)).join(", ")}) give [rows, ${width}]${typeof last === "number" && spec.shape.length === 2 ? `; choose the feature columns with --columns (${last} values per row in all)` : ""}`,
        { input, expected: spec.shape, got: width, columns: columns.map((c) => c.name) },
      );
    }
    if (spec.dtype !== "float32" && spec.dtype !== "float64") {
      throw new PipelineError(
        "E_PIPELINE_FEATURES",
        `model input "${input}" is ${spec.dtype}; the pipeline feeds float32 or float64 features`,
        {
          input,
          dtype: spec.dtype,
        },
      );
    }
    return spec.dtype === "float64" ? { input, columns, width, dtype: "float64" } : { input, columns, width };
  });
}

/**
 * Writes the kept rows (`keep[row] === 1`, or all rows when `keep` is null) of the planned columns into a new
 * `[kept, width]` float32 (or, for a float64 model input, float64) array straight from the column buffers (strided writes; scalar columns are
 * interleaved in blocks of rows so the output block stays in cache). No per-row JS objects.
 */
export function buildFeatures(
  batch: RecordBatch,
  plan: InputPlan,
  keep: Uint8Array | null,
  kept: number,
): Float32Array | Float64Array {
  // float64 inputs (e.g. skl2onnx models exported with doubles) get the columns' float64 values unrounded
  const out =
    plan.dtype === "float64" ? new Float64Array(kept * plan.width) : new Float32Array(kept * plan.width);
  const w = plan.width;
  const scalars: { v: Float32Array | Float64Array | Int32Array | Uint8Array; offset: number }[] = [];
  let offset = 0;
  for (const { name, width } of plan.columns) {
    const col = batch.columns.get(name)!;
    const n = col.length;
    if (col.kind === "vector") {
      const s = col.size;
      for (let i = 0, j = 0; i < n; i++) {
        if (keep !== null && keep[i] === 0) continue;
        out.set(col.values.subarray(i * s, i * s + s), j * w + offset);
        j++;
      }
    } else if (col.kind === "int64") {
      const v = col.values;
      for (let i = 0, j = offset; i < n; i++) {
        if (keep !== null && keep[i] === 0) continue;
        out[j] = Number(v[i]!);
        j += w;
      }
    } else if (col.kind !== "utf8") {
      const v = col.values;
      if (keep === null) {
        // written below in row blocks, all scalar columns per block (keeps the output block in cache)
        scalars.push({ v, offset });
      } else {
        for (let i = 0, j = offset; i < n; i++) {
          if (keep[i] === 0) continue;
          out[j] = v[i]!;
          j += w;
        }
      }
    }
    offset += width;
  }
  const n = batch.numRows;
  for (let r0 = 0; r0 < n; r0 += FEATURE_BLOCK_ROWS) {
    const r1 = Math.min(n, r0 + FEATURE_BLOCK_ROWS);
    for (const { v, offset: off } of scalars) {
      for (let i = r0, j = r0 * w + off; i < r1; i++, j += w) out[j] = v[i]!;
    }
  }
  return out;
}

/** Rows per block when interleaving scalar columns: 256 rows × 64 features × 4 B = 64 KiB of output per block. */
const FEATURE_BLOCK_ROWS = 256;

/** Output columns: a name, which output it comes from, and how. */
export interface OutputPlan {
  readonly fields: readonly FieldSpec[];
  readonly labelsFrom: string | null;
}

function widthOf(t: Tensor): number {
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}

/** Decides output columns from the first result's tensors (`names` in order). */
export function planOutputs(
  outputs: TensorMap,
  names: readonly string[],
  labels: readonly string[] | undefined,
): OutputPlan {
  const fields: FieldSpec[] = [];
  let labelsFrom: string | null = null;
  for (const name of names) {
    const t = outputs[name];
    if (!t)
      throw new PipelineError("E_PIPELINE_OUTPUT", `the model returned no output "${name}"`, {
        output: name,
      });
    if (t.ndim === 0)
      throw new PipelineError("E_PIPELINE_OUTPUT", `output "${name}" is a scalar; expected [rows, ...]`, {
        output: name,
      });
    const w = widthOf(t);
    if (w === 1)
      fields.push({
        name,
        kind:
          t.dtype === "int64"
            ? "int64"
            : t.dtype === "int32"
              ? "int32"
              : t.dtype === "float64"
                ? "float64"
                : "float32",
      });
    else fields.push({ name, kind: "vector", size: w });
    if (labels && labels.length > 1 && w === labels.length && (labelsFrom === null || /prob/i.test(name)))
      labelsFrom = name;
  }
  if (labelsFrom !== null)
    fields.push({ name: "label_index", kind: "int32" }, { name: "label", kind: "utf8" });
  return { fields, labelsFrom };
}

/**
 * The output's values as float32: the buffer itself when the output is float32 (outputs are fresh per run, so no
 * copy is needed), else a converted copy (float16 decoded, int64 and bool converted by value, not by bit pattern).
 */
function asF32(t: Tensor): Float32Array {
  if (t.dtype === "float32") return t.contiguous().data as Float32Array;
  return cast(t, "float32").data as Float32Array;
}

/** Turns one result's output tensors (rows = `rows`) into columns following `plan`. Float32 outputs are used in place; other dtypes are copied. */
export function outputColumns(
  outputs: TensorMap,
  plan: OutputPlan,
  rows: number,
  labels: readonly string[] | undefined,
): Map<string, Column> {
  const cols = new Map<string, Column>();
  for (const f of plan.fields) {
    if (f.name === "label_index" || f.name === "label") continue;
    const t = outputs[f.name]!;
    if (t.shape[0] !== rows || (f.kind === "vector" ? widthOf(t) !== f.size : widthOf(t) !== 1)) {
      throw new PipelineError(
        "E_PIPELINE_OUTPUT",
        `output "${f.name}" has shape [${t.shape.join(",")}], expected [${rows}, ${f.size ?? 1}]`,
        {
          output: f.name,
          shape: [...t.shape],
        },
      );
    }
    const data = t.contiguous().data;
    switch (f.kind) {
      case "vector":
        cols.set(f.name, { kind: "vector", size: f.size!, length: rows, valid: null, values: asF32(t) });
        break;
      case "int64":
        cols.set(f.name, {
          kind: "int64",
          length: rows,
          valid: null,
          values: BigInt64Array.from(data as BigInt64Array),
        });
        break;
      case "int32":
        cols.set(f.name, {
          kind: "int32",
          length: rows,
          valid: null,
          values: Int32Array.from(data as Int32Array),
        });
        break;
      case "float64":
        cols.set(f.name, {
          kind: "float64",
          length: rows,
          valid: null,
          values: Float64Array.from(data as Float64Array),
        });
        break;
      default:
        cols.set(f.name, { kind: "float32", length: rows, valid: null, values: asF32(t) });
    }
  }
  if (plan.labelsFrom !== null && labels) {
    // from the output itself: its column may not be written (`--outputs label`)
    const source = outputs[plan.labelsFrom]!;
    const src = { values: asF32(source), size: widthOf(source) };
    const k = src.size;
    const idx = new Int32Array(rows);
    const names: string[] = new Array<string>(rows);
    // a row with a NaN score has no argmax: its label is null (not the first class)
    let valid: Uint8Array | null = null;
    for (let r = 0; r < rows; r++) {
      let best = 0;
      let bv = src.values[r * k]!;
      let nan = Number.isNaN(bv);
      for (let j = 1; j < k; j++) {
        const v = src.values[r * k + j]!;
        if (v > bv) {
          bv = v;
          best = j;
        } else if (Number.isNaN(v)) nan = true;
      }
      if (nan) {
        valid ??= new Uint8Array(rows).fill(1);
        valid[r] = 0;
        names[r] = "";
        continue;
      }
      idx[r] = best;
      names[r] = labels[best]!;
    }
    cols.set("label_index", { kind: "int32", length: rows, valid, values: idx });
    cols.set("label", { kind: "utf8", length: rows, valid, values: names });
  }
  return cols;
}
