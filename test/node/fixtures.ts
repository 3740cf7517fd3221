// Bashible configs as the orchestrator produces them for every mode and stage
// (docs/architecture.md#bashible-config), shared by the node tests (not a test file itself).
// Versions are fixed strings: the node side only carries them back, it never recomputes them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { BashibleConfig } from "../../lib/domain/bashible-config";
import { TEST_CA, TEST_CA_2 } from "../settings/fixtures";

export { TEST_CA, TEST_CA_2 };

export const SVC = "registry.d8-system.svc:5001";
export const MANAGED_BASE = `${SVC}/system/deckhouse`;

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const auth = (username: string, password: string) => ({
  username,
  password,
  auth: b64(`${username}:${password}`),
});

/** A password with every character a careless heredoc or quote would mangle. */
export const NASTY_PASSWORD = `p$a'ss"w\`o\\rd$(id)!*`;

/** Unmanaged → Direct, transition stage (docs/architecture.md#bashible-config #21). */
export const directTransition: BashibleConfig = {
  mode: "Direct",
  version: "v-direct-transition",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: [],
  hosts: {
    "old.example.com": {
      mirrors: [{ host: "old.example.com", scheme: "https", auth: auth("old-user", "old-pass") }],
    },
    [SVC]: {
      mirrors: [
        {
          host: "new.example.com",
          scheme: "https",
          ca: TEST_CA,
          auth: auth("new-user", NASTY_PASSWORD),
          rewrites: [{ from: "^system/deckhouse", to: "deckhouse/ee" }],
        },
      ],
    },
  },
};

/**
 * Unmanaged → Direct, final stage: only the new source (docs/architecture.md#bashible-config #21).
 */
export const directFinal: BashibleConfig = {
  mode: "Direct",
  version: "v-direct-final",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: [],
  hosts: { [SVC]: directTransition.hosts[SVC]! },
};

/** Direct → Proxy, transition: old upstream and the local balancer under one key. */
export const proxyTransition: BashibleConfig = {
  mode: "Proxy",
  version: "v-proxy-transition",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: ["10.0.0.1:5001", "10.0.0.2:5001", "10.0.0.3:5001"],
  hosts: {
    [SVC]: {
      mirrors: [
        directFinal.hosts[SVC]!.mirrors[0]!,
        { host: "127.0.0.1:5001", scheme: "https", ca: TEST_CA_2, auth: auth("ro", "ro-pass") },
      ],
    },
  },
};

/** Proxy, final stage. */
export const proxyFinal: BashibleConfig = {
  mode: "Proxy",
  version: "v-proxy-final",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: ["10.0.0.1:5001", "10.0.0.2:5001", "10.0.0.3:5001"],
  hosts: { [SVC]: { mirrors: [proxyTransition.hosts[SVC]!.mirrors[1]!] } },
};

/** Local, final stage, as dhctl writes it at bootstrap (node IP not known yet). */
export const localBootstrap: BashibleConfig = {
  mode: "Local",
  version: "v-local-bootstrap",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: ["${discovered_node_ip}:5001"],
  hosts: {
    [SVC]: {
      mirrors: [
        {
          host: "${discovered_node_ip}:5001",
          scheme: "https",
          ca: TEST_CA_2,
          auth: auth("ro", "ro-pass"),
        },
      ],
    },
  },
};

/** Local, final stage. */
export const localFinal: BashibleConfig = {
  mode: "Local",
  version: "v-local-final",
  imagesBase: MANAGED_BASE,
  proxyEndpoints: ["10.0.0.1:5001", "10.0.0.2:5001"],
  hosts: { [SVC]: { mirrors: [proxyFinal.hosts[SVC]!.mirrors[0]!] } },
};

/** Configurable Unmanaged, final stage: the real registry under its own name, plain HTTP. */
export const unmanagedFinal: BashibleConfig = {
  mode: "Unmanaged",
  version: "v-unmanaged-final",
  imagesBase: "registry.example.com:5000/deckhouse/ee",
  proxyEndpoints: [],
  hosts: {
    "registry.example.com:5000": {
      mirrors: [{ host: "registry.example.com:5000", scheme: "http", auth: { auth: b64("u:p") } }],
    },
  },
};

export const ALL_CONFIGS = {
  directTransition,
  directFinal,
  proxyTransition,
  proxyFinal,
  localBootstrap,
  localFinal,
  unmanagedFinal,
} as const;

/** Files the node steps leave, as written down in test/fixtures/node-files/<name>.yaml. */
export interface WrittenNodeFiles {
  /** /etc/containerd/registry.d: path → mode and content */
  registryD: Record<string, { mode: string; content: string }>;
  /** /etc/kubernetes/registry-proxy/nginx_new.conf for a sandbox rooted at `root` */
  nginxConf(root: string): string;
}

export function writtenNodeFiles(name: string): WrittenNodeFiles {
  const file = join(import.meta.dirname, "..", "fixtures", "node-files", `${name}.yaml`);
  const written = parse(readFileSync(file, "utf8")) as {
    "registry.d": WrittenNodeFiles["registryD"];
    "registry-proxy/nginx_new.conf": string;
  };
  return {
    registryD: written["registry.d"],
    nginxConf: root => written["registry-proxy/nginx_new.conf"].replaceAll("<sandbox>", root),
  };
}
