// TEMPORARY placeholder, written on the `sbx-ui` branch only so that cli.ts compiles: the engine
// (network namespaces, containerd, pull loop) comes from the `sbx-engine` branch, which replaces
// this file when the two are merged.
import type { RunSandbox } from "./types";

export const runSandbox: RunSandbox = () => Promise.reject(new Error("engine not merged yet"));
