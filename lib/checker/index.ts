// The checker (docs/architecture.md#checker): proves the target registry holds the images the
// cluster needs. params.ts (validation), state.ts (state and its values/secret forms),
// required-images.ts (what is needed), queues.ts (pure queue logic and the message), tick.ts (one
// tick with injected I/O and clock), oci-session.ts (the registry side through lib/oci).
export * from "./oci-session";
export * from "./params";
export * from "./queues";
export * from "./required-images";
export * from "./state";
export * from "./tick";
