/**
 * Streaming decoder for Parquet list columns of numbers (LIST<FLOAT|DOUBLE|INT32|INT64>, the way Arrow, Polars and
 * Spark store embeddings and other vectors): pages are read one at a time (`FlatColumnStream`'s page reader) and
 * rows are assembled from the repetition/definition levels straight into a `[rows, size]` Float32Array, so a window
 * of rows costs its vector bytes, whatever the row group size. (hyparquet's reader builds a JS array per row for
 * the whole rest of the row group: ~800 MB for 400k rows of 32 floats.)
 *
 * Levels of the standard 3-level list `<optional|required> group (LIST) { repeated group list { <optional|required>
 * element } }`: below `dOuter` the row is null, at `dOuter` the list is empty, at `dRep` or above a level is an
 * element, present when it reaches `maxDef` (else a null element). A repetition level of 0 starts a new row.
 * Rows whose list has another length than the column's vector size, or a null element, become nulls plus a
 * `RowProblem` naming the column (like `slowColumn`).
 */
import type { FileHandle } from "node:fs/promises";
import type { ColumnChunk, SchemaTree } from "hyparquet";
import type { Column, ColumnKind, RowProblem, VectorColumn } from "../batch.ts";
import { PipelineError } from "../errors.ts";
import { FlatColumnStream } from "./parquet-flat.ts";

const NUMERIC_LEAF = new Set(["FLOAT", "DOUBLE", "INT32", "INT64"]);

/** The leaf path of a top-level LIST column of plain numbers (3-level form), or null when it is anything else. */
export function numericListPath(kind: ColumnKind | null, node: SchemaTree): SchemaTree[] | null {
  if (kind !== "vector" || node.children.length !== 1) return null;
  const repeated = node.children[0]!;
  if (repeated.element.repetition_type !== "REPEATED" || repeated.children.length !== 1) return null;
  const leaf = repeated.children[0]!;
  const e = leaf.element;
  if (leaf.children.length > 0 || !NUMERIC_LEAF.has(e.type ?? "") || e.repetition_type === "REPEATED")
    return null;
  if (e.converted_type || (e.logical_type && e.logical_type.type !== "INTEGER")) return null;
  if (e.logical_type?.type === "INTEGER" && !e.logical_type.isSigned) return null;
  return [node, repeated, leaf];
}

/** Reads one list column chunk of a row group as vector windows. */
export class ListColumnStream extends FlatColumnStream {
  private readonly name: string;
  private readonly dOuter: number;
  private readonly dRep: number;
  /** Problems of the last `take`, indexed from its first row. */
  problems: RowProblem[] = [];

  /** `size`: the vector length decided earlier for this column (another row group), else the first list's. */
  constructor(
    fh: FileHandle,
    root: SchemaTree,
    path: readonly SchemaTree[],
    chunk: ColumnChunk,
    private size: number | undefined,
  ) {
    super(fh, root, path[0]!, chunk, "float32", path);
    this.name = path[0]!.element.name;
    this.dOuter = path[0]!.element.repetition_type === "REQUIRED" ? 0 : 1;
    this.dRep = this.dOuter + 1;
  }

  /** The vector length in use (after the first non-empty list), or undefined. */
  get vectorSize(): number | undefined {
    return this.size;
  }

  /** The next `rows` rows as a vector column; `this.problems` gets the rows whose list does not fit. */
  override async take(rows: number): Promise<Column> {
    const problems: RowProblem[] = [];
    this.problems = problems;
    const valid = new Uint8Array(rows);
    let out: Float32Array | null = this.size === undefined ? null : new Float32Array(rows * this.size);
    const emptyBefore: number[] = []; // empty lists seen before the size was known
    const firstValues: number[] = []; // values of the row that decides the size
    let r = -1;
    let len = 0;
    let isNull = false;
    let nullAt = -1;
    const finish = () => {
      if (isNull) return;
      if (this.size === undefined) {
        if (len === 0) {
          emptyBefore.push(r);
          return;
        }
        this.size = len;
        out = new Float32Array(rows * len);
        out.set(firstValues, r * len);
        firstValues.length = 0;
        for (const e of emptyBefore)
          problems.push({
            index: e,
            column: this.name,
            reason: `expected a list of ${len} numbers, got a list of 0`,
          });
      }
      const reason =
        len !== this.size
          ? `expected a list of ${this.size} numbers, got a list of ${len}`
          : nullAt >= 0
            ? `list element ${nullAt} is null`
            : null;
      if (reason === null) valid[r] = 1;
      else {
        problems.push({ index: r, column: this.name, reason });
        out!.fill(0, r * this.size, (r + 1) * this.size);
      }
    };
    for (;;) {
      if (this.page === null || this.page.row >= this.page.n) {
        if (!(await this.nextPage())) break;
        continue;
      }
      const p = this.page;
      const reps = p.reps;
      const defs = p.defs;
      const values = p.values;
      let i = p.row;
      for (; i < p.n; i++) {
        if (reps === null || reps[i] === 0) {
          if (r >= 0) finish();
          if (r + 1 === rows) break; // this level starts the next window's first row
          r++;
          len = 0;
          isNull = false;
          nullAt = -1;
        }
        const def = defs === null ? this.maxDef : defs[i]!;
        if (def < this.dOuter) isNull = true;
        else if (def >= this.dRep) {
          const j = len++;
          if (def < this.maxDef) {
            if (nullAt < 0) nullAt = j;
            if (out === null) firstValues.push(0);
            continue;
          }
          const v = Number(values[p.vi++] as number | bigint);
          if (out !== null) {
            if (j < this.size!) out[r * this.size! + j] = v;
          } else firstValues.push(v);
        }
      }
      p.row = i;
      if (i < p.n) break;
    }
    if (r >= 0 && r < rows && !(this.page !== null && this.page.row < this.page.n)) finish();
    if (r + 1 !== rows) {
      throw new PipelineError(
        "E_PIPELINE_FORMAT",
        `column "${this.name}": ${Math.max(r + 1, 0)} of ${rows} rows in the chunk`,
        { column: this.name },
      );
    }
    const size = this.size ?? 0;
    const nulls = valid.some((v) => v === 0);
    return {
      kind: "vector",
      size,
      length: rows,
      valid: nulls ? valid : null,
      values: out ?? new Float32Array(0),
    } satisfies VectorColumn;
  }
}
