// What the module's PKI and users feed to real programs, fed to them: CNCF distribution serves TLS
// with the `registry-distribution` certificate and verifies bearer tokens against `token.crt` as
// its `rootcertbundle` (docs/architecture.md#in-cluster-proxy), and checks Basic credentials
// against the bcrypt hashes of the module users; openssl s_client checks the TLS chain and hosts.
import { createPrivateKey, sign, X509Certificate } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensurePki,
  ensureServiceCertificates,
  IN_CLUSTER_PROXY_HOSTS,
  type CertKey,
  type Pki,
  type ServiceCertificates,
} from "../../lib/domain/pki";
import { ensureUsers, usersForMode, type UsersState } from "../../lib/domain/users";
import { createLab, type Lab } from "../e2e-lab/lab";
import { liveProcesses, requireTools, run } from "../e2e-lab/process";
import { startRegistry, type Registry } from "../e2e-lab/registry";
import { countingFactory, depsAt, keyPool, seededRandom, writePair } from "./pki-helpers";

const SERVICE = "Deckhouse registry";
const ISSUER = "Registry server";

let lab: Lab;
let pki: Pki;
let leaves: ServiceCertificates;
let users: UsersState;
let tokenRegistry: Registry;
let htpasswdRegistry: Registry;
let caFile: string;

beforeAll(async () => {
  requireTools("docker-registry", "openssl");
  lab = await createLab("domain-consumers");
  const deps = depsAt(new Date(), countingFactory(keyPool(3)).factory);
  pki = (await ensurePki({}, deps)).pki;
  leaves = (await ensureServiceCertificates({ ca: pki.ca, hosts: IN_CLUSTER_PROXY_HOSTS }, deps))
    .certificates;
  users = (await ensureUsers(usersForMode("Local"), {}, seededRandom("consumers"))).users;

  const pkiDir = lab.path("pki");
  await mkdir(pkiDir, { recursive: true });
  const ca = await writePair(pkiDir, "ca", pki.ca);
  const token = await writePair(pkiDir, "token", pki.token);
  const distribution = await writePair(pkiDir, "distribution", leaves.distribution);
  caFile = ca.cert;
  const tls = {
    ...distribution,
    certPem: leaves.distribution.cert,
    ca: { dir: pkiDir, ...ca, certPem: pki.ca.cert },
  };

  tokenRegistry = await startRegistry({
    dir: lab.path("token-registry"),
    tls,
    tokenAuth: {
      realm: "https://127.0.0.1:5051/auth",
      service: SERVICE,
      issuer: ISSUER,
      rootcertbundle: token.cert,
    },
  });

  const htpasswd = lab.path("htpasswd");
  const lines = Object.values(users).map(u => `${u.name}:${u.password_hash}`);
  await writeFile(htpasswd, lines.join("\n") + "\n", { mode: 0o600 });
  htpasswdRegistry = await startRegistry({
    dir: lab.path("htpasswd-registry"),
    tls,
    extraConfig: { auth: { htpasswd: { realm: "registry", path: htpasswd } } },
  });
});

afterAll(async () => {
  await lab?.close();
  expect(liveProcesses()).toEqual([]);
});

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; auth: string }> {
  return new Promise((resolve, reject) => {
    const doRequest = url.startsWith("https:") ? request : httpRequest;
    const req = doRequest(url, { ca: pki.ca.cert, headers, agent: false }, res => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, auth: String(res.headers["www-authenticate"] ?? "") });
    });
    req.on("error", reject);
    req.end();
  });
}

/** A registry bearer token (RS256, the signing certificate in `x5c`) as docker_auth issues it. */
function bearerToken(signer: CertKey, claims: { iss?: string } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const x5c = new X509Certificate(signer.cert).raw.toString("base64");
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input =
    b64({ typ: "JWT", alg: "RS256", x5c: [x5c] }) +
    "." +
    b64({
      iss: claims.iss ?? ISSUER,
      sub: "ro",
      aud: SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: `jti-${now}`,
      access: [],
    });
  const signature = sign("sha256", Buffer.from(input), createPrivateKey(signer.key));
  return `${input}.${signature.toString("base64url")}`;
}

describe("distribution with the module PKI", () => {
  /** `openssl s_client -brief` against the registry checking `host`; its verdict (stderr). */
  async function sClient(host: string): Promise<string> {
    const check = /^[\d.]+$/.test(host) ? "-verify_ip" : "-verify_hostname";
    const { stderr } = await run(
      "openssl",
      [
        "s_client", "-connect", tokenRegistry.hostPort, "-CAfile", caFile,
        "-verify_return_error", check, host, "-brief",
      ],
      { input: "" },
    ); // prettier-ignore
    return stderr;
  }

  it("serves TLS with the distribution certificate; openssl s_client verifies chain and hosts", async () => {
    for (const host of IN_CLUSTER_PROXY_HOSTS) {
      const verdict = await sClient(host);
      expect(verdict).toContain("Verification: OK");
      expect(verdict).toContain("Peer certificate: CN = registry-distribution");
    }
    // a host outside the SANs fails the same check
    await expect(sClient("registry.example.com")).rejects.toThrow(/hostname mismatch/);
  });

  it("accepts a bearer token signed with token.key against token.crt as rootcertbundle", async () => {
    const anonymous = await get(`${tokenRegistry.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.auth).toContain('Bearer realm="https://127.0.0.1:5051/auth"');
    const ok = await get(`${tokenRegistry.url}/v2/`, {
      authorization: `Bearer ${bearerToken(pki.token)}`,
    });
    expect(ok.status).toBe(200);
  });

  it("refuses a token signed by a certificate outside the bundle", async () => {
    // the distribution certificate is issued by the same CA, but it is not the token certificate
    const foreign = await get(`${tokenRegistry.url}/v2/`, {
      authorization: `Bearer ${bearerToken(leaves.distribution)}`,
    });
    expect(foreign.status).toBe(401);
    const wrongIssuer = await get(`${tokenRegistry.url}/v2/`, {
      authorization: `Bearer ${bearerToken(pki.token, { iss: "someone else" })}`,
    });
    expect(wrongIssuer.status).toBe(401);
  });
});

describe("distribution with the module users' bcrypt hashes", () => {
  it("lets every user in with its password and no one with a wrong one", async () => {
    expect(Object.keys(users)).toHaveLength(4);
    for (const user of Object.values(users)) {
      const basic = (password: string) =>
        `Basic ${Buffer.from(`${user.name}:${password}`).toString("base64")}`;
      expect(
        (await get(`${htpasswdRegistry.url}/v2/`, { authorization: basic(user.password) })).status,
      ).toBe(200);
      expect(
        (await get(`${htpasswdRegistry.url}/v2/`, { authorization: basic(`${user.password}x`) }))
          .status,
      ).toBe(401);
    }
  });
});
