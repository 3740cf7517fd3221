// Orchestrator states of each managed mode, as far as the renderer reads them, for renderer
// tests (lib/render/manifests.ts): Direct (in-cluster proxy), Proxy (node services), Local (node
// services + push ingress). PEM fields are placeholders: the renderer only places them.
import { parse } from "yaml";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ModuleValues } from "../../lib/render/manifests";

export type ManagedMode = "Direct" | "Proxy" | "Local";
export const MANAGED_MODES: readonly ManagedMode[] = ["Direct", "Proxy", "Local"];

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const pki = {
  ca: PEM,
  auth_cert: PEM,
  auth_key: PEM,
  token_cert: PEM,
  token_key: PEM,
  distribution_cert: PEM,
  distribution_key: PEM,
  http_secret: "s",
};
const user = (name: string) => ({
  name,
  password: `${name}-password`,
  password_hash: "$2a$10$0123456789012345678901uJ0d2n0sTQ1S3x1Q3aE8dM2lWlQb6lW",
});

export function modeState(mode: ManagedMode): Record<string, unknown> {
  const base = { mode, target_mode: mode };
  if (mode === "Direct")
    return {
      ...base,
      in_cluster_proxy: {
        config: {
          version: "v-direct",
          config: {
            ...pki,
            upstream: {
              scheme: "https",
              host: "registry.example.com",
              path: "/deckhouse/ee",
              user: user("puller"),
            },
          },
        },
      },
    };
  return {
    ...base,
    ...(mode === "Local" ? { ingress_enabled: true } : {}),
    node_services: {
      run: true,
      nodes: { "master-0": { version: `v-${mode}`, config: { ...pki, mode } } },
    },
  };
}

/** examples/values.yaml's global values, with `patch` applied on top. */
export function globalValues(patch: Record<string, unknown> = {}): Record<string, unknown> {
  const file = join(import.meta.dirname, "..", "..", "examples", "values.yaml");
  const { global } = parse(readFileSync(file, "utf8")) as { global: Record<string, unknown> };
  return { ...global, ...patch };
}

export function moduleValues(
  mode: ManagedMode,
  global: Record<string, unknown>,
  registry: Record<string, unknown> = {},
): ModuleValues {
  return {
    global,
    registry: {
      ...registry,
      internal: { orchestrator: { hash: "h", state: modeState(mode) } },
    },
  };
}
