// containerd hosts directory for one host key: hosts.toml plus one CA file per mirror with a CA
// (docs/architecture.md#node-side). Two renderings, chosen by ContainerdFlavor (docs/adr/0021-*):
//
//   platform  the platform's containerd, patched to understand `[host."…".auth]` (auth = base64)
//             and `[[host."…".rewrite]]` (regex → replace on the repository path)
//   stock     stock containerd ≥ 1.6: credentials as a static `Authorization: Basic …` header;
//             no rewrite (stock containerd silently ignores it), so a Direct upstream is
//             reachable only when its path ends in `system/deckhouse`: the prefix becomes the
//             host URL's path with `override_path = true`. Anything else is refused, loudly.
//
// Both: `server` = `https://<host key>` restricted to push (docs/adr/0022-*), CA paths relative
// to the host directory (containerd resolves them against it), `skip_verify` for http mirrors.
import type { MirrorAuth, RegistryHost, RegistryMirror } from "../../../lib/domain/bashible-config";
import { renderStepTemplate } from "./render-template";

export type ContainerdFlavor = "platform" | "stock";
export const CONTAINERD_FLAVORS: readonly ContainerdFlavor[] = ["platform", "stock"];

/** The repository path every managed image reference uses. */
const MANAGED_PATH = "system/deckhouse";

export class NodeRenderError extends Error {
  readonly field: string;
  readonly rule: string;
  constructor(field: string, rule: string) {
    super(`${field}: ${rule}`);
    this.name = "NodeRenderError";
    this.field = field;
    this.rule = rule;
  }
}

/**
 * Where a rendered step takes mirror credentials from:
 *   inline           the base64 value itself (steps run by the platform's bashible from the
 *                    Secret, or by a sandbox; the step is secret material)
 *   bashibleContext  a Go template expression that bashible-apiserver resolves from its
 *                    `.registry` context, which it builds from the same registry-bashible-config
 *                    Secret: the object carrying the step (NodeGroupConfiguration) holds no
 *                    credential (docs/adr/0020-*)
 */
export type CredentialsSource = "inline" | "bashibleContext";

/**
 * Go template for a mirror's Basic auth value, resolved by bashible-apiserver (sprig b64enc).
 * Go raw strings (backquotes) only: the expression sits inside a TOML string, where a `"` would
 * be escaped and break the template.
 */
export function bashibleContextAuth(key: string, index: number): string {
  const mirror = `(index (index .registry.hosts \`${key}\`).mirrors ${index})`;
  return (
    `{{ with ${mirror}.auth }}{{ if .username }}` +
    "{{ printf `%s:%s` .username (.password | default ``) | b64enc }}" +
    `{{ else }}{{ .auth }}{{ end }}{{ end }}`
  );
}

export interface HostFile {
  /** file name inside registry.d/<host key>/ */
  name: string;
  mode: "0600" | "0644";
  content: string;
}

/** `<scheme>-<mirror host>-ca.crt`, beside hosts.toml (docs/architecture.md#node-side). */
export function caFileName(mirror: Pick<RegistryMirror, "scheme" | "host">): string {
  return `${mirror.scheme}-${mirror.host}-ca.crt`;
}

/** The value containerd sends: base64 of `user:password`, or the ready `auth`. */
export function basicAuth(auth: MirrorAuth | undefined): string | undefined {
  if (!auth) return undefined;
  if (auth.username) {
    return Buffer.from(`${auth.username}:${auth.password ?? ""}`).toString("base64");
  }
  return auth.auth;
}

interface MirrorView {
  url: string;
  overridePath: boolean;
  skipVerify: boolean;
  caFile: string;
  auth: string;
  authorization: string;
  rewrites: { regex: string; replace: string }[];
}

function stockUrl(mirror: RegistryMirror, field: string): { url: string; overridePath: boolean } {
  const base = `${mirror.scheme}://${mirror.host}`;
  const rewrites = mirror.rewrites ?? [];
  if (rewrites.length === 0) return { url: base, overridePath: false };
  const [only] = rewrites;
  if (rewrites.length === 1 && only && only.from === `^${MANAGED_PATH}`) {
    const to = only.to.replace(/^\/+|\/+$/g, "");
    if (to === MANAGED_PATH) return { url: base, overridePath: false };
    if (to.endsWith(`/${MANAGED_PATH}`)) {
      const prefix = to.slice(0, -`/${MANAGED_PATH}`.length);
      return { url: `${base}/v2/${prefix}`, overridePath: true };
    }
  }
  throw new NodeRenderError(
    `${field}.rewrites`,
    `stock containerd cannot rewrite repository paths (it ignores \`rewrite\`): only an upstream ` +
      `path ending in ${MANAGED_PATH} is reachable (as an override_path prefix), got ` +
      JSON.stringify(rewrites) +
      "; use the platform containerd rendering",
  );
}

function mirrorView(
  mirror: RegistryMirror,
  flavor: ContainerdFlavor,
  credentials: CredentialsSource,
  at: { key: string; index: number },
): MirrorView {
  const field = `hosts[${JSON.stringify(at.key)}].mirrors[${at.index}]`;
  const { url, overridePath } =
    flavor === "stock"
      ? stockUrl(mirror, field)
      : { url: `${mirror.scheme}://${mirror.host}`, overridePath: false };
  const value = basicAuth(mirror.auth) ?? "";
  const basic =
    value && credentials === "bashibleContext" ? bashibleContextAuth(at.key, at.index) : value;
  return {
    url,
    overridePath,
    skipVerify: mirror.scheme === "http",
    caFile: mirror.ca && mirror.scheme === "https" ? caFileName(mirror) : "",
    auth: flavor === "platform" ? basic : "",
    authorization: flavor === "stock" && basic ? `Basic ${basic}` : "",
    rewrites:
      flavor === "platform"
        ? (mirror.rewrites ?? []).map(r => ({ regex: r.from, replace: r.to }))
        : [],
  };
}

/** hosts.toml for one host key. */
export function renderHostsToml(
  key: string,
  host: RegistryHost,
  flavor: ContainerdFlavor,
  credentials: CredentialsSource = "inline",
): string {
  return renderStepTemplate("hosts.toml", {
    flavor,
    server: `https://${key}`,
    mirrors: host.mirrors.map((m, index) => mirrorView(m, flavor, credentials, { key, index })),
  });
}

/**
 * Every file of registry.d/<key>/, in the order a step writes them: the CA files first, then
 * hosts.toml (0600: it holds credentials), so containerd never reads a hosts.toml that names a
 * CA file not written yet.
 */
export function hostDirectoryFiles(
  key: string,
  host: RegistryHost,
  flavor: ContainerdFlavor,
  credentials: CredentialsSource = "inline",
): HostFile[] {
  const files: HostFile[] = [];
  for (const mirror of host.mirrors) {
    if (mirror.ca && mirror.scheme === "https") {
      const content = mirror.ca.endsWith("\n") ? mirror.ca : `${mirror.ca}\n`;
      files.push({ name: caFileName(mirror), mode: "0644", content });
    }
  }
  files.push({
    name: "hosts.toml",
    mode: "0600",
    content: renderHostsToml(key, host, flavor, credentials),
  });
  return files;
}
