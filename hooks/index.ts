// Every hook of the module, in the order `hook list` numbers them. Keep the order stable: the
// batch protocol addresses hooks by index.
import type { HookDefinition } from "../lib/runtime/define-hook";
import orchestrator from "./orchestrator";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- hooks differ in binding types
export const hooks: readonly HookDefinition<any>[] = [orchestrator];
