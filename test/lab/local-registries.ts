// The masters' Local registries, as the node services static pods would serve them: on each
// master's InternalIP, port 5001, a TLS certificate for that IP issued from the module CA (Secret
// d8-system/registry-pki), the ro user's password required (Secret registry-user-ro), the lab image
// under `system/deckhouse`. The module's own checker hook asks them in Local mode
// (lib/orchestrator/checker-gate.ts `localCheckerParams`).
//
// What serves: plain CNCF distribution 2.8 with htpasswd, NOT the project's gateway in front of
// it. Running the gateway in local mode from the node config the module rendered
// (`registry-node-config-<node>`, unpacked as nodeservices-manager does) was left out for the
// time this change had; the peer here is what the checker reaches: the address, the module CA
// and the ro credentials the module published, and the image by digest. The gateway's local mode
// has its own e2e tests (test/dataplane/local.e2e.test.ts).
//
//   const local = new LocalRegistries(cp, dir, layout, { "master-0": "127.0.0.21", … });
//   await local.round();     // starts them once both secrets exist; restarts on a new CA or password
//   await local.stop();
import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  issueServerCert,
  pushImage,
  startRegistry,
  type CertificateAuthority,
  type OciLayout,
  type Registry,
} from "../e2e-lab/index";
import type { ControlPlane } from "./control-plane";

const NS = "d8-system";
export const LOCAL_REGISTRY_PORT = 5001;
export const LOCAL_REPOSITORY = "system/deckhouse";

interface Published {
  caCrt: string;
  caKey: string;
  user: string;
  password: string;
}

export class LocalRegistries {
  readonly registries = new Map<string, Registry>();
  #key: string | undefined;

  constructor(
    private readonly cp: Pick<ControlPlane, "kubectl">,
    private readonly dir: string,
    private readonly image: OciLayout,
    /** master node name → its InternalIP (loopback) */
    private readonly masters: Readonly<Record<string, string>>,
  ) {}

  async #secret(name: string): Promise<Record<string, string> | undefined> {
    const r = await this.cp
      .kubectl(["get", "-n", NS, "secret", name, "-o", "json"])
      .catch(() => undefined);
    if (!r) return undefined;
    const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
    return Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
    );
  }

  async #published(): Promise<Published | undefined> {
    const pki = await this.#secret("registry-pki");
    const ro = await this.#secret("registry-user-ro");
    if (!pki?.["ca.crt"] || !pki["ca.key"] || !ro?.name || !ro.password) return undefined;
    return { caCrt: pki["ca.crt"], caKey: pki["ca.key"], user: ro.name, password: ro.password };
  }

  /** Starts (or restarts, after the module re-keyed) every master's registry. Returns if it did. */
  async round(): Promise<boolean> {
    const p = await this.#published();
    if (!p) return false;
    const key = createHash("sha256").update(JSON.stringify(p)).digest("hex");
    if (key === this.#key) return false;
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
    const caDir = join(this.dir, "module-ca");
    await mkdir(caDir, { recursive: true });
    const ca: CertificateAuthority = {
      dir: caDir,
      cert: join(caDir, "ca.crt"),
      key: join(caDir, "ca.key"),
      certPem: p.caCrt,
    };
    await writeFile(ca.cert, p.caCrt);
    await writeFile(ca.key, p.caKey, { mode: 0o600 });
    for (const [node, ip] of Object.entries(this.masters)) {
      const registry = await startRegistry({
        dir: join(this.dir, node),
        name: `local-${node}`,
        host: ip,
        port: LOCAL_REGISTRY_PORT,
        tls: await issueServerCert(ca, `local-${node}`, { ips: [ip] }),
        htpasswd: { [p.user]: p.password },
      });
      this.registries.set(node, registry);
      await pushImage(this.image, registry, LOCAL_REPOSITORY, {
        creds: { username: p.user, password: p.password },
      });
    }
    this.#key = key;
    return true;
  }

  async stop(): Promise<void> {
    for (const r of this.registries.values()) await r.stop();
    this.registries.clear();
    this.#key = undefined;
  }
}
