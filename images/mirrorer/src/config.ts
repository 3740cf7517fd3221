// The mirrorer's config file (docs/dataplane.md). Rendered by nodeservices-manager on every master
// of a Local-mode cluster with more than one master.
import { readFile } from "node:fs/promises";
import { readConfigFile } from "../../../lib/validation/config-file";
import {
  ConfigError,
  formatHostPort,
  type HostPort,
  parseHostPort,
  Problems,
  type Section,
} from "../../../lib/validation/reader";

export interface Credentials {
  name: string;
  password: string;
}

export interface MirrorerConfig {
  /** PEM file of the CA that signs every master's registry certificate */
  ca: string;
  /** this master's registry (its gateway), written with `pusher` */
  local: HostPort;
  /** the other masters' registries, read with `puller` */
  remotes: HostPort[];
  puller: Credentials;
  pusher: Credentials;
  /** pause between two sync passes */
  intervalMs: number;
  /** blobs copied at the same time */
  concurrency: number;
  /** /metrics, /healthz, /readyz */
  monitoring: { address: HostPort };
}

export function parseMirrorerConfig(raw: unknown, source = "mirrorer config"): MirrorerConfig {
  const p = new Problems(source);
  const root = p.root(raw);
  const ca = root.path_("ca", { required: true });
  const local = root.address("local", { required: true });
  const remotes = root.strings("remotes", {
    required: true,
    minItems: 1,
    check: s => (parseHostPort(s) ? undefined : "must be host:port (port 1-65535)"),
  });
  const localText = local ? formatHostPort(local) : undefined;
  remotes?.forEach((r, i) => {
    if (r === localText) p.add(`remotes[${i}]`, "must differ from local");
  });
  if (remotes && new Set(remotes).size !== remotes.length)
    root.reject("remotes", "must not repeat an address");
  const puller = readCredentials(root, "puller");
  const pusher = readCredentials(root, "pusher");
  const intervalMs = root.duration("interval", { minMs: 1000 }) ?? 60_000;
  const concurrency = root.integer("concurrency", { min: 1, max: 64 }) ?? 4;
  const monitoring = root.section("monitoring", { required: true });
  const monitoringAddress = monitoring?.address("address", { required: true, listener: true });
  monitoring?.noOtherKeys();
  root.noOtherKeys();
  p.finish();
  return {
    ca: ca as string,
    local: local as HostPort,
    remotes: (remotes ?? []).map(r => parseHostPort(r) as HostPort),
    puller: puller as Credentials,
    pusher: pusher as Credentials,
    intervalMs,
    concurrency,
    monitoring: { address: monitoringAddress as HostPort },
  };
}

/** The config as its file spells it: `parseMirrorerConfig(formatMirrorerConfig(c))` equals `c`. */
export function formatMirrorerConfig(c: MirrorerConfig): Record<string, unknown> {
  return {
    ca: c.ca,
    local: formatHostPort(c.local),
    remotes: c.remotes.map(formatHostPort),
    puller: c.puller,
    pusher: c.pusher,
    interval: `${Math.round(c.intervalMs / 1000)}s`,
    concurrency: c.concurrency,
    monitoring: { address: formatHostPort(c.monitoring.address) },
  };
}

function readCredentials(root: Section, key: string): Credentials | undefined {
  const s = root.section(key, { required: true });
  const name = s?.string("name", {
    required: true,
    pattern: /^[^:\s]+$/,
    rule: "no ':' or spaces",
  });
  const password = s?.string("password", { required: true });
  s?.noOtherKeys();
  return name && password ? { name, password } : undefined;
}

export async function loadMirrorerConfig(
  file: string,
): Promise<{ config: MirrorerConfig; caPem: string }> {
  const source = `mirrorer config ${file}`;
  const raw = await readConfigFile(file, source);
  const config = parseMirrorerConfig(raw, source);
  try {
    return { config, caPem: await readFile(config.ca, "utf8") };
  } catch (e) {
    throw new ConfigError(source, [
      {
        field: "ca",
        rule: `cannot read ${config.ca}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`,
      },
    ]);
  }
}
