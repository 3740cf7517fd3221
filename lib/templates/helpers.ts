// Helpers available to every template, registered on whichever Handlebars instance renders them
// (the full compiler in development, the runtime-only build inside the hooks executable).
import type { HelperDelegate } from "handlebars";

export const helpers: Record<string, HelperDelegate> = {
  /** JSON of a value: safe for YAML flow scalars and for embedding structured data. */
  json: (value: unknown) => JSON.stringify(value ?? null),
  /** Base64 of a string, for Secret `data`. */
  base64: (value: unknown) => Buffer.from(String(value ?? "")).toString("base64"),
};
