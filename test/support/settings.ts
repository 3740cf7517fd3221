// `spec.settings.registry` of ModuleConfig/deckhouse for each mode, as a user writes it: the one
// place tests take mode settings from (not a test file itself). Values are fixed strings so a
// test can look for them, or make sure they never show up where secrets must not.
//
//   import * as settings from "../support/settings";
//   settings.direct(settings.licensed())          // Direct, licence key
//   settings.proxy(settings.withPassword("p4ss")) // Proxy, user "puller"
//   settings.LEGACY                               // no mode: legacy Unmanaged

/** The upstream a managed mode pulls from, unless a test needs another. */
export const UPSTREAM_REPO = "registry.example.com/deckhouse/ee";
/** The stock Deckhouse repository, for settings judged only by the schema. */
export const DECKHOUSE_EE_REPO = "registry.deckhouse.io/deckhouse/ee";
export const LICENCE = "L1cence-S3cret";
export const PULLER = "puller";

/** One of the `direct`/`proxy`/`unmanaged` sections. */
export type UpstreamSettings = Record<string, unknown>;
export type RegistrySettings = Record<string, unknown>;

/** An upstream reached with a licence key (the user is implied). */
export const licensed = (license = LICENCE, imagesRepo = UPSTREAM_REPO): UpstreamSettings => ({
  imagesRepo,
  license,
});

/** An upstream reached with a user and password. */
export const withPassword = (
  password: string,
  { username = PULLER, imagesRepo = UPSTREAM_REPO } = {},
): UpstreamSettings => ({ imagesRepo, username, password });

export const direct = (upstream: UpstreamSettings = licensed()): RegistrySettings => ({
  mode: "Direct",
  direct: upstream,
});
export const proxy = (upstream: UpstreamSettings = licensed()): RegistrySettings => ({
  mode: "Proxy",
  proxy: upstream,
});
/** Configurable Unmanaged: the module writes the node config for a registry it does not run. */
export const unmanaged = (upstream: UpstreamSettings = licensed()): RegistrySettings => ({
  mode: "Unmanaged",
  unmanaged: upstream,
});
export const LOCAL: RegistrySettings = { mode: "Local" };
/** Unmanaged without a section: the platform keeps its own registry settings. */
export const LEGACY: RegistrySettings = { mode: "Unmanaged" };

/** Settings both the module's schema and the real API server accept, one per shape. */
export const VALID_SETTINGS: readonly [string, RegistrySettings][] = [
  ["empty (legacy Unmanaged)", {}],
  ["Unmanaged", LEGACY],
  ["configurable Unmanaged", unmanaged(licensed("KEY", DECKHOUSE_EE_REPO))],
  ["Direct with a licence", direct(licensed("KEY", DECKHOUSE_EE_REPO))],
  ["Proxy with a ttl", proxy({ ...licensed("KEY", DECKHOUSE_EE_REPO), ttl: "24h" })],
  ["Local", LOCAL],
];

/**
 * A switch through every mode from legacy Unmanaged, new credentials at every step (so a test
 * can tell which step a secret came from): step name → settings. Ends in configurable
 * Unmanaged; each user adds its own way back to legacy.
 */
export const SWITCH_CHAIN: readonly [string, RegistrySettings][] = [
  ["Direct", direct(withPassword("first-p4ss"))],
  ["Proxy", proxy(licensed("lic3nse"))],
  ["Direct from Proxy", direct(withPassword("third-p4ss"))],
  ["Local", LOCAL],
  ["Direct from Local", direct(withPassword("fourth-p4ss"))],
  ["configurable Unmanaged", unmanaged(withPassword("fifth-p4ss"))],
];

/** What the admission policies read of `global` besides the settings: the cluster's kind. */
export const CLUSTER_FACTS = {
  staticCluster: { clusterIsBootstrapped: true, clusterConfiguration: { clusterType: "Static" } },
  cloudCluster: { clusterIsBootstrapped: true, clusterConfiguration: { clusterType: "Cloud" } },
  bootstrapping: { clusterIsBootstrapped: false, clusterConfiguration: { clusterType: "Static" } },
} as const;
