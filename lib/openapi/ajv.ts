// The one place that builds Ajv instances for Deckhouse OpenAPI schemas.

import Ajv from "ajv";
import type { ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import type { JsonSchema } from "./deckhouse-schema";

/**
 * Ajv 8 configured for Deckhouse module schemas: not strict (OpenAPI keywords and `x-*`
 * extensions are ignored), every error reported, the failing value kept for messages, and the
 * formats of ajv-formats (date-time, int32, int64, ...).
 */
export function createAjv(): Ajv {
  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    verbose: true,
    // schemas are OpenAPI documents, not JSON Schema documents with $schema/$id
    validateSchema: false,
    addUsedSchema: false,
    logger: false,
    // patterns are written for Go's RE2 (e.g. `\:` or `\_` escapes), which the `u` flag rejects
    unicodeRegExp: false,
  });
  addFormats(ajv);
  // formats used by Go structs in Deckhouse schemas that ajv-formats does not know
  ajv.addFormat("int", { type: "number", validate: (n: number) => Number.isInteger(n) });
  return ajv;
}

/** Compiles a schema with a fresh copy, so the caller's object is never annotated by Ajv. */
export function compileSchema(ajv: Ajv, schema: JsonSchema): ValidateFunction {
  return ajv.compile(structuredClone(schema));
}
