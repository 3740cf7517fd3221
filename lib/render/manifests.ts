import { createHash } from "node:crypto";
// Every Kubernetes object the module owns, rendered from its values (docs/architecture.md#objects):
// this module decides which templates apply and builds their contexts; the Handlebars templates
// under templates/ place the values. The result goes to Helm through the pass-through chart
// (docs/adr/0004), so Helm prunes what a later render no longer contains and uninstalls it all on
// module disable, except objects annotated `helm.sh/resource-policy: keep`.
import { parseAllDocuments, stringify } from "yaml";
import { renderTemplate } from "../templates/index";
import type { KubeObject } from "../runtime/types";
import type { State } from "../orchestrator/state";
import { publicState } from "../orchestrator/state";
import type { UserValuesKey } from "../domain/users";
import { USER_NAME_BY_VALUES_KEY, userSecretName } from "../domain/users";
import { acceptedClients, type InClusterProxyState } from "../orchestrator/incluster-proxy";
import { egressProxyFromValues } from "../domain/egress-proxy";
import type { EgressProxy } from "../oci/proxy";
import { NODE_SERVICES_POD_SELECTOR } from "../domain/node-services";
import {
  DEFAULT_LOCAL_PATH,
  DEFAULT_REALM,
  formatGatewayConfig,
  type GatewayConfig,
} from "../dataplane/gateway-config";

export interface ModuleValues {
  global: Record<string, unknown>;
  registry: Record<string, unknown>;
}

export const MODULE_LABELS = { heritage: "deckhouse", module: "registry" } as const;

export class RenderError extends Error {
  override name = "RenderError";
}

function get(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

function objectsOf(name: string, text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new RenderError(`template ${name} produced invalid YAML: ${doc.errors[0]?.message}`);
    }
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    out.push(value as KubeObject);
  }
  return out;
}

function render(name: string, context: Record<string, unknown>): KubeObject[] {
  return objectsOf(name, renderTemplate(name, context));
}

interface Facts {
  hash: string;
  labels: Record<string, string>;
}

function stateObjects(state: State, facts: Facts): KubeObject[] {
  const out: KubeObject[] = [];
  out.push(
    ...render("state/registry-state.yaml", {
      ...facts,
      labels: { ...facts.labels, app: "registry" },
      // what operators read for progress: no key, password or licence (docs/adr/0081)
      stateYaml: stringify(publicState(state)),
      conditionsYaml: stringify(state.conditions ?? []),
      mode: state.mode ?? "",
      targetMode: state.target_mode ?? "",
    }),
  );
  if (state.pki?.ca && state.pki.token) {
    out.push(...render("state/registry-pki.yaml", { ...facts, pki: state.pki }));
  }
  for (const [key, user] of Object.entries(state.users ?? {}) as [UserValuesKey, unknown][]) {
    if (!user) continue;
    out.push(
      ...render("state/registry-user.yaml", {
        ...facts,
        secretName: userSecretName(USER_NAME_BY_VALUES_KEY[key]),
        user,
      }),
    );
  }
  if (state.bashible?.config) {
    out.push(
      ...render("state/registry-bashible-config.yaml", {
        ...facts,
        labels: { ...facts.labels, app: "registry", name: "registry-bashible-config" },
        configYaml: stringify(state.bashible.config),
      }),
    );
  }
  if (state.registry_service) {
    out.push(
      ...render("service/registry.yaml", { ...facts, registryService: state.registry_service }),
    );
  }
  return out;
}

/**
 * The Deckhouse modules whose objects this module renders into (docs/adr/0092): Helm fails on an
 * object whose CRD is not installed, so each kind is rendered only while its module is enabled
 * (`global.enabledModules`, which Deckhouse always sets; absent means none).
 */
export const OPTIONAL_MODULES = {
  /** the push Ingress (and its Service) */
  ingress: ["ingress-nginx"],
  /** the Certificate of the push Ingress */
  certManager: ["cert-manager"],
  /** PodMonitor, PrometheusRule (the CRDs moved from operator-prometheus-crd in DKP 1.65) */
  monitoring: ["operator-prometheus", "operator-prometheus-crd"],
} as const;

/** The static pods' labels the scrape selects (the manager renders them from the same constant). */
export const STATIC_POD_SCRAPE_SELECTOR = {
  app: NODE_SERVICES_POD_SELECTOR.app,
  component: NODE_SERVICES_POD_SELECTOR.component,
  type: NODE_SERVICES_POD_SELECTOR.type,
};

/** A switch whose Ready condition stays False longer than this raises D8RegistrySwitchIsStuck. */
export const SWITCH_STUCK_AFTER_MINUTES = 30;

export function moduleEnabled(values: ModuleValues, which: keyof typeof OPTIONAL_MODULES): boolean {
  const enabled = get(values.global, "enabledModules");
  return Array.isArray(enabled) && OPTIONAL_MODULES[which].some(name => enabled.includes(name));
}

function ingressObjects(state: State, values: ModuleValues, facts: Facts): KubeObject[] {
  const template = get(values.global, "modules.publicDomainTemplate");
  if (!state.ingress_enabled || typeof template !== "string" || !template.includes("%s")) return [];
  if (!moduleEnabled(values, "ingress")) return [];
  const settings = values.registry;
  const httpsMode = moduleSetting(values, "https.mode") ?? "CertManager";
  // CertManager without cert-manager: no Certificate (its CRD is absent) and no TLS secret
  // nobody would issue; the controller serves its default certificate until cert-manager is on
  const certManager = httpsMode === "CertManager" && moduleEnabled(values, "certManager");
  const issuer = moduleSetting(values, "https.certManager.clusterIssuerName") ?? "letsencrypt";
  const ranges = get(settings, "whitelistSourceRanges");
  return [
    ...customCertificateObjects(httpsMode, values, facts),
    ...render("ingress/registry-push.yaml", {
      ...facts,
      host: template.replace("%s", "registry"),
      ingressClass: moduleSetting(values, "ingressClass") ?? null,
      whitelistSourceRanges: Array.isArray(ranges) && ranges.length > 0 ? ranges.join(",") : null,
      tlsSecretName: ingressTlsSecretName(httpsMode, certManager),
      certManagerIssuer: certManager ? issuer : null,
    }),
  ];
}

/** A setting of this module, else the same one of every module (`global.modules.<key>`). */
function moduleSetting(values: ModuleValues, key: string): string | undefined {
  return (
    (get(values.registry, key) as string | undefined) ??
    (get(values.global, `modules.${key}`) as string | undefined)
  );
}

function ingressTlsSecretName(httpsMode: string, certManager: boolean): string | null {
  if (certManager) return "registry-ingress-tls";
  return httpsMode === "CustomCertificate" ? "ingress-tls-customcertificate" : null;
}

function customCertificateObjects(
  httpsMode: string,
  values: ModuleValues,
  facts: Facts,
): KubeObject[] {
  const custom = get(values.registry, "internal.customCertificateData") as
    Record<string, string> | undefined;
  if (httpsMode !== "CustomCertificate" || !custom) return [];
  return render("ingress/custom-certificate.yaml", {
    ...facts,
    data: custom,
    hasCa: Boolean(custom["ca.crt"]),
  });
}

function admissionObjects(values: ModuleValues, state: State | undefined, facts: Facts) {
  const bootstrapped = get(values.global, "clusterIsBootstrapped") === true;
  const clusterType = get(values.global, "clusterConfiguration.clusterType");
  return render("admission/moduleconfig-registry-policy.yaml", {
    ...facts,
    clusterIsBootstrappedExpression: String(bootstrapped),
    clusterIsStaticExpression: String(clusterType === "Static"),
    // a CEL string literal of the mode the cluster is in (one of four fixed words)
    actualModeExpression: `'${state?.mode ?? "Unmanaged"}'`,
  });
}

/**
 * Our images, as Deckhouse lays out module image digests in global values; the names the image
 * build produces (images/oci-image.ts).
 */
export const IMAGES = {
  gateway: "registryGateway",
  nodeServicesManager: "registryNodeservicesManager",
  mirrorer: "registryMirrorer",
  distribution: "registryDistribution",
} as const;

type Images = Record<keyof typeof IMAGES, string>;

function images(values: ModuleValues): Images {
  const base = get(values.global, "modulesImages.registry.base");
  const out: Partial<Images> = {};
  for (const [key, name] of Object.entries(IMAGES) as [keyof Images, string][]) {
    const digest = get(values.global, `modulesImages.digests.registry.${name}`);
    if (typeof base !== "string" || typeof digest !== "string") {
      throw new RenderError(
        `global.modulesImages.digests.registry.${name} (and modulesImages.registry.base): required to render the ${key} image`,
      );
    }
    out[key] = `${base}@${digest}`;
  }
  // ModuleConfig/registry `imagesOverride` (development and testing only,
  // docs/architecture.md#values)
  const manager = get(values.registry, "imagesOverride.registryManager");
  const mirrorer = get(values.registry, "imagesOverride.mirrorer");
  if (typeof manager === "string" && manager !== "") out.nodeServicesManager = manager;
  if (typeof mirrorer === "string" && mirrorer !== "") out.mirrorer = mirrorer;
  return out as Images;
}

function mastersCount(values: ModuleValues): number {
  const n = get(values.global, "discovery.clusterMasterCount");
  return typeof n === "number" && n > 0 ? n : 1;
}

/** The gateway's config for the in-cluster proxy, written by the gateway's own formatter. */
export function inClusterProxyGatewayConfig(
  proxy: InClusterProxyState,
  egressProxy?: EgressProxy,
): Record<string, unknown> {
  const { config } = proxy;
  const user = config.upstream.user;
  // a name may come twice, with two passwords, while a switch rotates it (docs/adr/0122)
  const clients = acceptedClients(config).filter(
    (c, i, all) =>
      all.findIndex(o => o.name === c.name && o.password_hash === c.password_hash) === i,
  );
  const gateway: GatewayConfig = {
    mode: "direct",
    listen: {
      address: { host: "0.0.0.0", port: 5001 },
      tls: { certificate: "/config/distribution.crt", key: "/config/distribution.key" },
    },
    monitoring: { address: { host: "0.0.0.0", port: 5002 } },
    realm: DEFAULT_REALM,
    localPath: DEFAULT_LOCAL_PATH,
    // Clients authenticate with the credentials deckhouse-registry carries: the upstream's, or
    // the module's ro user when the upstream is anonymous; during a switch also the other side's
    // (docs/adr/0122).
    users: clients.map(c => ({ name: c.name, passwordHash: c.password_hash, role: "ro" })),

    upstream: {
      scheme: config.upstream.scheme === "http" ? "http" : "https",
      host: config.upstream.host,
      path: config.upstream.path.replace(/^\//, ""),
      ...(user.name ? { username: user.name, password: user.password } : {}),
      ...(config.upstream.ca ? { ca: "/config/upstream-registry-ca.crt" } : {}),
      // in the Secret with the rest of the config, never in the pod's env (docs/adr/0102)
      ...(egressProxy ? { proxy: egressProxy } : {}),
    },
  };
  return formatGatewayConfig(gateway);
}

function inClusterProxyObjects(proxy: InClusterProxyState, values: ModuleValues, facts: Facts) {
  const replicas = mastersCount(values);
  const gatewayYaml = stringify(
    inClusterProxyGatewayConfig(proxy, egressProxyFromValues(values.global)),
  );
  // the gateway reads its config once: a changed Secret (the egress proxy too) rolls the pods
  const gatewayChecksum = createHash("sha256").update(gatewayYaml).digest("hex");
  return render("incluster-proxy/registry-incluster-proxy.yaml", {
    ...facts,
    // The Deployment's `hash` follows what it runs, not every input of the module: the API server
    // bumps a Deployment's generation on any annotation change, and each bump holds
    // InClusterProxyReady False until the controller has observed it (docs/adr/0137).
    hash: createHash("sha256").update(`${proxy.version}\n${gatewayChecksum}`).digest("hex"),
    version: proxy.version,
    config: proxy.config,
    configYaml: stringify(proxy.config),
    gatewayYaml,
    gatewayChecksum,
    images: images(values),
    replicas,
    maxUnavailable: replicas > 1 ? 1 : 0,
  });
}

function nodeServicesObjects(state: State, values: ModuleValues, facts: Facts): KubeObject[] {
  const nodeServices = state.node_services;
  const out: KubeObject[] = [];
  // beside the node's config in its Secret (read by the manager, not by the hooks' restore):
  // a proxy URL may carry credentials, so it never goes into the manager's env (docs/adr/0102)
  const egressProxy = egressProxyFromValues(values.global);
  const egressProxyYaml = egressProxy ? stringify(egressProxy) : undefined;
  for (const [node, { config, version }] of Object.entries(nodeServices?.nodes ?? {})) {
    out.push(
      ...render("node-services/registry-node-config.yaml", {
        ...facts,
        name: `registry-node-config-${node}`,
        labels: { ...facts.labels, app: "registry", type: "registry-node-services-config" },
        configYaml: stringify(config),
        version,
        // only the Proxy mode gateway reaches outside the cluster
        egressProxyYaml: config.proxy_mode ? egressProxyYaml : undefined,
      }),
    );
  }
  if (nodeServices?.run) {
    const imgs = images(values);
    out.push(
      ...render("node-services/registry-nodeservices-manager.yaml", {
        ...facts,
        images: imgs,
        imageHolders: [
          { name: "image-holder-gateway", image: imgs.gateway },
          { name: "image-holder-distribution", image: imgs.distribution },
          { name: "image-holder-mirrorer", image: imgs.mirrorer },
        ],
      }),
    );
  }
  return out;
}

export function renderManifests(values: ModuleValues): KubeObject[] {
  const orchestrator = get(values.registry, "internal.orchestrator") as
    { hash?: string; state?: State } | undefined;
  const facts: Facts = { hash: orchestrator?.hash ?? "", labels: { ...MODULE_LABELS } };
  const state = orchestrator?.state;
  const out: KubeObject[] = [...admissionObjects(values, state, facts)];
  if (state) {
    out.push(...stateObjects(state, facts));
    out.push(...ingressObjects(state, values, facts));
    if (state.in_cluster_proxy?.config) {
      out.push(...inClusterProxyObjects(state.in_cluster_proxy.config, values, facts));
    }
    out.push(...nodeServicesObjects(state, values, facts));
    // a settled legacy Unmanaged cluster has no switch to watch
    const managedOrSwitching =
      (state.mode ?? "Unmanaged") !== "Unmanaged" ||
      (state.target_mode ?? "Unmanaged") !== "Unmanaged";
    if (managedOrSwitching && moduleEnabled(values, "monitoring")) {
      out.push(
        ...render("monitoring/switch-rules.yaml", {
          monitoringLabels: { ...MODULE_LABELS, prometheus: "main", component: "rules" },
          stuckAfterSeconds: SWITCH_STUCK_AFTER_MINUTES * 60,
          stuckAfterMinutes: SWITCH_STUCK_AFTER_MINUTES,
        }),
      );
    }
    if (state.node_services?.run && moduleEnabled(values, "monitoring")) {
      out.push(
        ...render("monitoring/pod-monitors.yaml", {
          monitoringLabels: { ...MODULE_LABELS, prometheus: "main" },
          staticPodSelector: STATIC_POD_SCRAPE_SELECTOR,
        }),
        ...render("monitoring/prometheus-rules.yaml", {
          monitoringLabels: { ...MODULE_LABELS, prometheus: "main", component: "rules" },
        }),
      );
    }
  }
  return out;
}
