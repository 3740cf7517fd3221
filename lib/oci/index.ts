// The one OCI distribution client of the module (checker, gateway upstream side, mirrorer,
// mirror CLI). Start at client.ts (RegistryClient), whose work is done in transport.ts, auth.ts,
// failures.ts, blobs.ts and uploads.ts; references in reference.ts, manifests in manifest.ts,
// errors in errors.ts; HTTP in http.ts (Node's own) and undici-http.ts. Decisions:
// docs/adr/0010-one-oci-client-on-undici.md, docs/adr/0140-mirror-under-64-mib.md.
export * from "./challenge";
export * from "./client";
export * from "./errors";
export * from "./manifest";
export * from "./media-types";
export * from "./reference";
export * from "./proxy";
