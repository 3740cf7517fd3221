// Render hook: turns the module's values into the Kubernetes objects it owns and hands them to
// Helm through the pass-through chart (docs/adr/0004). Runs last in beforeHelm, after every hook
// that computes state, so what Helm applies always matches the values of this ModuleRun.
import { defineHook } from "../lib/runtime/define-hook";

export const MANIFESTS_PATH = "registry.internal.manifests";

export default defineHook({
  name: "render",
  beforeHelm: 100,
  async handler({ values }) {
    // Loaded here, not at start-up: the YAML emitter and the templates serve only this hook.
    const { renderManifests } = await import("../lib/render/manifests");
    const global = values.get<Record<string, unknown>>("global") ?? {};
    const registry = values.get<Record<string, unknown>>("registry") ?? {};
    values.set(MANIFESTS_PATH, renderManifests({ global, registry }));
  },
});
