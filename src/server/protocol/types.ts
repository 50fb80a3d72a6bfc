/**
 * Wire-level types of the Open Inference Protocol v2 (KServe "V2") as Tessera parses them.
 *
 * A `WireTensor` is protocol data, not a Tessera `Tensor`: it can hold datatypes Tessera tensors lack
 * (UINT16/32/64, BF16, BYTES). `convert.ts` turns it into a model input once the model is known.
 */

/** The datatype strings of the protocol (case-sensitive). */
export type Datatype =
  | "BOOL"
  | "UINT8"
  | "UINT16"
  | "UINT32"
  | "UINT64"
  | "INT8"
  | "INT16"
  | "INT32"
  | "INT64"
  | "FP16"
  | "BF16"
  | "FP32"
  | "FP64"
  | "BYTES";

/** Element storage per datatype. FP16/BF16 hold raw 16-bit patterns; BOOL holds 0/1; BYTES one Uint8Array per element. */
export type WireArray =
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | Uint8Array[];

/** `$parameters`: a flat object of string | number | boolean values. */
export type Parameters = Record<string, string | number | boolean>;

export interface WireTensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  /** Row-major elements; length = product of shape. */
  readonly data: WireArray;
  readonly parameters: Parameters;
}

export interface RequestedOutput {
  readonly name: string;
  /** True/false when the client asked (`parameters.binary_data`); undefined = use the request default. */
  readonly binary?: boolean;
  /** Triton `classification` extension: return the top-k classes as BYTES instead of the raw tensor. */
  readonly classification?: number;
  readonly parameters: Parameters;
}

export interface InferRequest {
  readonly id?: string;
  readonly parameters: Parameters;
  readonly inputs: readonly WireTensor[];
  /** Undefined (also for `"outputs": []` in the request): every output with default settings. */
  readonly outputs?: readonly RequestedOutput[];
  /** `parameters.binary_data_output`: send every output binary unless the output says otherwise. */
  readonly binaryOutputDefault: boolean;
}

export interface ResponseOutput {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: readonly number[];
  readonly data: WireArray;
  /** Send as a binary chunk after the JSON header instead of a JSON `data` array. */
  readonly binary: boolean;
  readonly parameters?: Parameters;
}

export interface InferResponse {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly outputs: readonly ResponseOutput[];
}

/** One problem with outside input: where (`inputs[0].shape`) and what. */
export interface Issue {
  readonly path: string;
  readonly message: string;
}

/** Outside input parses into a value or the full list of problems. */
export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly issues: readonly Issue[] };
