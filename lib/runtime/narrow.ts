// Small guards for snapshot narrowing: each names what it expected, so a snapshot that cannot be
// trusted fails the run with a message that says which field was wrong. They are the single-value
// form the hooks' bindings call today (their messages are what the hooks' tests assert); a
// document with fields is read with lib/validation's reader, the one way input is validated
// (docs/adr/0130), which also owns `isRecord`.
import { isRecord } from "../validation/reader";
import type { ObjectAndFilterResult } from "./types";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export class NarrowError extends Error {
  override name = "NarrowError";
}

export function record(value: unknown, what: string, field?: string): Record<string, unknown> {
  if (!isRecord(value))
    throw new NarrowError(`${label(what, field)}: expected an object, got ${kind(value)}`);
  return value;
}

// `what` names the object, `field` (if any) the field in it: the two are joined only when the
// message is needed, because a snapshot of thousands of Nodes is narrowed on every run.

export function optionalString(value: unknown, what: string, field?: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string")
    throw new NarrowError(`${label(what, field)}: expected a string, got ${kind(value)}`);
  return value;
}

export function string(value: unknown, what: string, field?: string): string {
  const s = optionalString(value, what, field);
  if (s === undefined) throw new NarrowError(`${label(what, field)}: required`);
  return s;
}

export function optionalBoolean(value: unknown, what: string, field?: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean")
    throw new NarrowError(`${label(what, field)}: expected a boolean, got ${kind(value)}`);
  return value;
}

export function optionalNumber(value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number")
    throw new NarrowError(`${what}: expected a number, got ${kind(value)}`);
  return value;
}

/** The filter result of a binding that always declares a jqFilter producing an object. */
export function filterObject(item: ObjectAndFilterResult, what: string): Record<string, unknown> {
  return record(item.filterResult, what, "filterResult");
}

/**
 * The filterResult of a jqFilter that projects an object as an array of `fields` values (one per
 * position, named for messages).
 */
export function filterTuple(
  item: ObjectAndFilterResult,
  what: string,
  fields: readonly string[],
): unknown[] {
  const value = item.filterResult;
  if (!Array.isArray(value)) {
    throw new NarrowError(`${what} filterResult: expected an array, got ${kind(value)}`);
  }
  if (value.length !== fields.length) {
    throw new NarrowError(
      `${what} filterResult: expected ${fields.length} values (${fields.join(", ")}), got ${value.length}`,
    );
  }
  return value;
}

/** Decodes a base64 Secret data value; undefined when the key is absent or empty. */
export function secretValue(data: unknown, key: string, what: string): string | undefined {
  const encoded = optionalString(isRecord(data) ? data[key] : undefined, `${what}.data.${key}`);
  if (!encoded) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) {
    throw new NarrowError(`${what}.data.${key}: not base64`);
  }
  return Buffer.from(encoded, "base64").toString("utf8");
}

function label(what: string, field: string | undefined): string {
  return field === undefined ? what : `${what} ${field}`;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  return Array.isArray(value) ? "array" : typeof value;
}
