// Kept for images/gateway/src/server.ts, which the split of startGateway rewrites: the reader is
// lib/validation/reader.ts (the one way input is validated, docs/adr/0130).
export { formatHostPort, type HostPort } from "../../../lib/validation/reader";
