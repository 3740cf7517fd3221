// The module PKI (docs/architecture.md#pki): what is produced is judged by the real openssl (x509
// -text, verify with the hosts a TLS client checks, key ↔ certificate match); what is kept is
// judged by identity with the input and by counting what the factory issued.
import { X509Certificate } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCertificateFactory } from "../../lib/domain/certificate-factory";
import {
  BACKDATE_MS,
  CA_LIFETIME_MS,
  caProblem,
  certificateProblem,
  ensurePki,
  ensureServiceCertificates,
  IN_CLUSTER_PROXY_HOSTS,
  LEAF_MARGIN_MS,
  nodeServicesHosts,
  PkiError,
  type CertKey,
  type Pki,
} from "../../lib/domain/pki";
import { createLab, type Lab } from "../e2e-lab/lab";
import { requireTools } from "../e2e-lab/process";
import {
  countingFactory,
  depsAt,
  keyPool,
  opensslCa,
  opensslKeyMatches,
  opensslVerify,
  opensslView,
  T0,
  writePair,
} from "./pki-helpers";

const HOUR = 3_600_000;
const pool = keyPool(3);
/** Another module PKI whose CA key is new (the shared pool may hand out the same CA key). */
const otherPki = async () =>
  (await ensurePki({}, depsAt(T0, countingFactory(keyPool(1)).factory))).pki;

let lab: Lab;
let fresh: Pki;
let files = 0;

/** Writes a pair to the lab under a unique name; returns the paths. */
async function onDisk(pair: CertKey) {
  await mkdir(lab.path("certs"), { recursive: true });
  return writePair(lab.path("certs"), `c${files++}`, pair);
}

beforeAll(async () => {
  requireTools("openssl");
  lab = await createLab("domain-pki");
  fresh = (await ensurePki({}, depsAt(T0, countingFactory(pool).factory))).pki;
});
afterAll(async () => {
  await lab?.close();
});

describe("ensurePki (docs/architecture.md#pki)", () => {
  it("#29 empty state: a new ECDSA P-256 CA `registry-ca` for 10 years and an RSA 2048 token certificate it signed", async () => {
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki({}, depsAt(T0, factory));
    expect(result.sources).toEqual({ ca: "generated", token: "generated" });
    expect(issued).toEqual(["registry-ca", "registry-auth-token"]);
    expect(result.problems).toEqual([]);

    const ca = await onDisk(result.pki.ca);
    const token = await onDisk(result.pki.token);
    const caView = await opensslView(ca.cert);
    expect(caView.subject).toBe("CN=registry-ca");
    expect(caView.issuer).toBe("CN=registry-ca");
    expect(caView.publicKey).toBe("id-ecPublicKey 256 bit");
    expect(caView.text).toContain("ASN1 OID: prime256v1");
    expect(caView.basicConstraints).toBe("CA:TRUE");
    expect(caView.text).toMatch(/Basic Constraints: critical/);
    expect(caView.text).toMatch(/Key Usage: critical\s*\n\s*Certificate Sign, CRL Sign/);
    expect(caView.notBefore.getTime()).toBe(T0.getTime() - BACKDATE_MS);
    expect(caView.notAfter.getTime()).toBe(T0.getTime() + CA_LIFETIME_MS);
    expect(CA_LIFETIME_MS).toBe(87_600 * HOUR);

    const tokenView = await opensslView(token.cert);
    expect(tokenView.subject).toBe("CN=registry-auth-token");
    expect(tokenView.issuer).toBe("CN=registry-ca");
    expect(tokenView.publicKey).toBe("rsaEncryption 2048 bit");
    expect(tokenView.basicConstraints).toBe("CA:FALSE");
    expect(tokenView.subjectAltNames).toEqual([]);
    expect(tokenView.notAfter.getTime()).toBe(caView.notAfter.getTime() - LEAF_MARGIN_MS);

    expect(await opensslVerify(ca.cert, ca.cert)).toMatch(/: OK$/);
    expect(await opensslVerify(ca.cert, token.cert)).toMatch(/: OK$/);
    expect(await opensslKeyMatches(ca.cert, ca.key)).toBe(true);
    expect(await opensslKeyMatches(token.cert, token.key)).toBe(true);
    expect(result.pki.ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("#28 a valid CA and token in state are returned unchanged and nothing is issued", async () => {
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki({ state: fresh }, depsAt(T0, factory));
    expect(result.pki).toEqual(fresh);
    expect(result.sources).toEqual({ ca: "state", token: "state" });
    expect(issued).toEqual([]);
    expect(result.problems).toEqual([]);
  });

  it("#30 a token not signed by the CA (self-signed) is regenerated; the CA is kept", async () => {
    const selfSigned = (await otherPki()).ca;
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki(
      { state: { ca: fresh.ca, token: selfSigned } },
      depsAt(T0, factory),
    );
    expect(result.pki.ca).toEqual(fresh.ca);
    expect(result.pki.token.cert).not.toBe(selfSigned.cert);
    expect(issued).toEqual(["registry-auth-token"]);
    // (what the original's test uses as a self-signed token is a CA certificate)
    expect(result.problems).toEqual([
      "state.pki.token: a CA certificate where an end-entity one belongs",
    ]);
    const ca = await onDisk(result.pki.ca);
    const token = await onDisk(result.pki.token);
    expect(await opensslVerify(ca.cert, token.cert)).toMatch(/: OK$/);
    expect(await opensslKeyMatches(token.cert, token.key)).toBe(true);
  });

  it("#31 a registry-init CA replaces the CA; the token of the old CA is regenerated under it", async () => {
    const seed = await opensslCa(lab.dir, "seed-ec", {
      key: "ec",
      subject: "/O=Deckhouse/CN=embedded-registry-ca",
      days: 3650,
    });
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki({ state: fresh, initCa: seed }, depsAt(T0, factory));
    expect(result.pki.ca).toEqual(seed);
    expect(result.sources).toEqual({ ca: "init", token: "generated" });
    expect(issued).toEqual(["registry-auth-token"]);
    const ca = await onDisk(seed);
    const token = await onDisk(result.pki.token);
    expect(await opensslVerify(ca.cert, token.cert)).toMatch(/: OK$/);
    expect((await opensslView(token.cert)).issuer).toBe("CN=embedded-registry-ca,O=Deckhouse");
  });

  it("an unusable registry-init CA is an error naming the field, and nothing is issued", async () => {
    const leafAsCa = fresh.token;
    const mismatched = { cert: fresh.ca.cert, key: fresh.token.key };
    const cases: [CertKey, RegExp][] = [
      [leafAsCa, /not a CA certificate/],
      [mismatched, /private key does not match the certificate/],
      [{ cert: "garbage", key: fresh.ca.key }, /certificate does not decode/],
      [{ cert: fresh.ca.cert, key: "garbage" }, /private key does not decode/],
    ];
    for (const [initCa, reason] of cases) {
      const { factory, issued } = countingFactory(pool);
      const attempt = ensurePki({ state: fresh, initCa }, depsAt(T0, factory));
      await expect(attempt).rejects.toThrow(PkiError);
      await expect(attempt).rejects.toThrow(/^Secret registry-init config\.ca: /);
      await expect(attempt).rejects.toThrow(reason);
      expect(issued).toEqual([]);
    }
    // the message carries no key material
    const err = await ensurePki(
      { initCa: mismatched },
      depsAt(T0, countingFactory(pool).factory),
    ).catch((e: unknown) => e as Error);
    expect(String(err)).not.toContain("PRIVATE KEY");
    expect(String(err)).not.toContain(fresh.token.key.slice(40, 80));
  });

  it("an expired registry-init CA is refused", async () => {
    const old = await opensslCa(lab.dir, "seed-old", { key: "ec", subject: "/CN=old", days: 1 });
    const later = new Date(Date.now() + 2 * 24 * HOUR);
    await expect(
      ensurePki({ initCa: old }, depsAt(later, countingFactory(pool).factory)),
    ).rejects.toThrow(/^Secret registry-init config\.ca: expires .*, less than 1h from now$/);
  });

  it("a CA at the end of its life is replaced, and so is everything it signed", async () => {
    const end = new Date(T0.getTime() + CA_LIFETIME_MS - LEAF_MARGIN_MS);
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki({ state: fresh }, depsAt(end, factory));
    expect(issued).toEqual(["registry-ca", "registry-auth-token"]);
    expect(result.problems[0]).toMatch(/^state\.pki\.ca: expires 2036-.*, less than 1h from now$/);
    // the token ends with the CA's usable life (NotAfter = CA − 1h)
    expect(result.problems[1]).toMatch(/^state\.pki\.token: expired 2036-/);
    // one second earlier both are still good
    const before = new Date(end.getTime() - 1000);
    const kept = await ensurePki({ state: fresh }, depsAt(before, countingFactory(pool).factory));
    expect(kept.sources).toEqual({ ca: "state", token: "state" });
  });

  it("an expired token is regenerated while the CA is kept", async () => {
    const { factory } = countingFactory(pool);
    const shortLived = await factory.createCertificate(
      {
        commonName: "registry-auth-token",
        keyAlgorithm: "RSA-2048",
        notBefore: T0,
        notAfter: new Date(T0.getTime() + HOUR),
        hosts: [],
      },
      fresh.ca,
    );
    const at = new Date(T0.getTime() + 2 * HOUR);
    const result = await ensurePki(
      { state: { ca: fresh.ca, token: shortLived } },
      depsAt(at, factory),
    );
    expect(result.sources).toEqual({ ca: "state", token: "generated" });
    expect(result.problems).toEqual([
      `state.pki.token: expired ${new Date(T0.getTime() + HOUR).toISOString()}`,
    ]);
  });

  it("a token whose key does not match its certificate is regenerated", async () => {
    const result = await ensurePki(
      { state: { ca: fresh.ca, token: { cert: fresh.token.cert, key: fresh.ca.key } } },
      depsAt(T0, countingFactory(pool).factory),
    );
    expect(result.sources.token).toBe("generated");
    expect(result.problems).toEqual([
      "state.pki.token: private key does not match the certificate",
    ]);
  });

  it("stateChecked: state keys are not parsed again; certificates still are", async () => {
    const wrongKey = { ca: fresh.ca, token: { cert: fresh.token.cert, key: fresh.ca.key } };
    const { factory, issued } = countingFactory(pool);
    const trusted = await ensurePki({ state: wrongKey, stateChecked: true }, depsAt(T0, factory));
    // only a parsed key could tell; the pair is kept as the run that stored it checked it
    expect(trusted.pki).toEqual(wrongKey);
    expect(issued).toEqual([]);
    // expiry and the chain are still checked
    const end = new Date(T0.getTime() + CA_LIFETIME_MS);
    const expired = await ensurePki({ state: fresh, stateChecked: true }, depsAt(end, factory));
    expect(expired.sources).toEqual({ ca: "generated", token: "generated" });
    const other = await otherPki();
    const foreign = await ensurePki(
      { state: { ca: fresh.ca, token: other.token }, stateChecked: true },
      depsAt(T0, factory),
    );
    expect(foreign.sources.token).toBe("generated");
    expect(foreign.problems).toEqual(["state.pki.token: not signed by the module CA"]);
    const caAsToken = await ensurePki(
      { state: { ca: fresh.ca, token: fresh.ca }, stateChecked: true },
      depsAt(T0, factory),
    );
    expect(caAsToken.problems).toEqual([
      "state.pki.token: a CA certificate where an end-entity one belongs",
    ]);
    // the Secret is never trusted that way
    const fromSecret = await ensurePki(
      { secret: wrongKey, stateChecked: true },
      depsAt(T0, countingFactory(pool).factory),
    );
    expect(fromSecret.sources).toEqual({ ca: "secret", token: "generated" });
  });

  it("falls back to the registry-pki Secret for a part the state lacks or holds broken", async () => {
    const { factory, issued } = countingFactory(pool);
    const result = await ensurePki(
      { state: { ca: { cert: "broken", key: "broken" } }, secret: fresh },
      depsAt(T0, factory),
    );
    expect(result.pki).toEqual(fresh);
    expect(result.sources).toEqual({ ca: "secret", token: "secret" });
    expect(issued).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/^state\.pki\.ca: certificate does not decode: /);
  });

  it("does not modify its inputs", async () => {
    const state = structuredClone({ ca: fresh.ca, token: fresh.ca });
    const snapshot = structuredClone(state);
    await ensurePki({ state }, depsAt(T0, countingFactory(pool).factory));
    expect(state).toEqual(snapshot);
  });
});

describe("ensureServiceCertificates (docs/architecture.md#in-cluster-proxy, #node-services, #pki)", () => {
  let proxy: { auth: CertKey; distribution: CertKey };
  beforeAll(async () => {
    const result = await ensureServiceCertificates(
      { ca: fresh.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      depsAt(T0, countingFactory(pool).factory),
    );
    proxy = result.certificates;
  });

  it("issues RSA 2048 `registry-auth` and `registry-distribution` certificates for exactly the hosts", async () => {
    const ca = await onDisk(fresh.ca);
    const caEnd = new X509Certificate(fresh.ca.cert).validTo;
    for (const [name, pair] of Object.entries(proxy)) {
      const files = await onDisk(pair);
      const view = await opensslView(files.cert);
      expect(view.subject).toBe(`CN=registry-${name}`);
      expect(view.issuer).toBe("CN=registry-ca");
      expect(view.publicKey).toBe("rsaEncryption 2048 bit");
      expect(view.subjectAltNames).toEqual([
        "IP Address:127.0.0.1",
        "DNS:localhost",
        "DNS:registry.d8-system.svc",
      ]);
      expect(view.text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
      expect(view.notAfter.getTime()).toBe(new Date(caEnd).getTime() - LEAF_MARGIN_MS);
      expect(
        await opensslVerify(ca.cert, files.cert, {
          purpose: "sslserver",
          hosts: IN_CLUSTER_PROXY_HOSTS,
        }),
      ).toMatch(/: OK$/);
      expect(await opensslKeyMatches(files.cert, files.key)).toBe(true);
    }
    // a host outside the SANs is refused by openssl too
    const dist = await onDisk(proxy.distribution);
    await expect(opensslVerify(ca.cert, dist.cert, { hosts: ["10.0.0.9"] })).rejects.toThrow(
      /IP address mismatch/,
    );
  });

  it("keeps both while they are valid; issues nothing", async () => {
    const { factory, issued } = countingFactory(pool);
    const result = await ensureServiceCertificates(
      { previous: proxy, ca: fresh.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      depsAt(T0, factory),
    );
    expect(result.certificates).toEqual(proxy);
    expect(result.generated).toEqual([]);
    expect(issued).toEqual([]);
  });

  it("regenerates exactly the broken one", async () => {
    const { factory, issued } = countingFactory(pool);
    const broken = {
      auth: proxy.auth,
      distribution: { ...proxy.distribution, key: proxy.auth.key },
    };
    const result = await ensureServiceCertificates(
      { previous: broken, ca: fresh.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      depsAt(T0, factory),
    );
    expect(result.certificates.auth).toEqual(proxy.auth);
    expect(result.certificates.distribution.cert).not.toBe(proxy.distribution.cert);
    expect(result.generated).toEqual(["distribution"]);
    expect(issued).toEqual(["registry-distribution"]);
    expect(result.problems).toEqual(["distribution: private key does not match the certificate"]);
    const missing = await ensureServiceCertificates(
      {
        previous: { distribution: proxy.distribution },
        ca: fresh.ca,
        hosts: IN_CLUSTER_PROXY_HOSTS,
      },
      depsAt(T0, countingFactory(pool).factory),
    );
    expect(missing.generated).toEqual(["auth"]);
    expect(missing.certificates.distribution).toEqual(proxy.distribution);
  });

  it("checked: previous keys are not parsed again; chain and hosts still are", async () => {
    const wrongKey = {
      auth: proxy.auth,
      distribution: { ...proxy.distribution, key: proxy.auth.key },
    };
    const { factory, issued } = countingFactory(pool);
    const kept = await ensureServiceCertificates(
      { previous: wrongKey, ca: fresh.ca, hosts: IN_CLUSTER_PROXY_HOSTS, checked: true },
      depsAt(T0, factory),
    );
    expect(kept.certificates).toEqual(wrongKey);
    expect(issued).toEqual([]);
    const moved = await ensureServiceCertificates(
      { previous: proxy, ca: fresh.ca, hosts: nodeServicesHosts("10.0.0.7"), checked: true },
      depsAt(T0, factory),
    );
    expect(moved.generated).toEqual(["auth", "distribution"]);
  });

  it("a master's certificates carry its InternalIP and are reissued when it changes", async () => {
    const hosts = nodeServicesHosts("10.0.0.1");
    expect(hosts).toEqual(["127.0.0.1", "localhost", "10.0.0.1", "registry.d8-system.svc"]);
    const first = await ensureServiceCertificates(
      { ca: fresh.ca, hosts },
      depsAt(T0, countingFactory(pool).factory),
    );
    const ca = await onDisk(fresh.ca);
    const dist = await onDisk(first.certificates.distribution);
    expect(await opensslVerify(ca.cert, dist.cert, { purpose: "sslserver", hosts })).toMatch(
      /: OK$/,
    );

    const moved = nodeServicesHosts("10.0.0.2");
    const { factory, issued } = countingFactory(pool);
    const second = await ensureServiceCertificates(
      { previous: first.certificates, ca: fresh.ca, hosts: moved },
      depsAt(T0, factory),
    );
    expect(second.generated).toEqual(["auth", "distribution"]);
    expect(issued.sort()).toEqual(["registry-auth", "registry-distribution"]);
    expect(second.problems).toEqual([
      "auth: subjectAltName does not cover 10.0.0.2",
      "distribution: subjectAltName does not cover 10.0.0.2",
    ]);
    const moved2 = await onDisk(second.certificates.distribution);
    expect(await opensslVerify(ca.cert, moved2.cert, { hosts: moved })).toMatch(/: OK$/);
  });

  it("an IPv6 InternalIP becomes an IP SAN", async () => {
    const hosts = nodeServicesHosts("fd00::1");
    const result = await ensureServiceCertificates(
      { ca: fresh.ca, hosts },
      depsAt(T0, countingFactory(pool).factory),
    );
    const ca = await onDisk(fresh.ca);
    const dist = await onDisk(result.certificates.distribution);
    expect((await opensslView(dist.cert)).subjectAltNames).toContain(
      "IP Address:FD00:0:0:0:0:0:0:1",
    );
    expect(await opensslVerify(ca.cert, dist.cert, { hosts: ["fd00::1"] })).toMatch(/: OK$/);
  });

  it("a new CA reissues both", async () => {
    const other = await otherPki();
    const result = await ensureServiceCertificates(
      { previous: proxy, ca: other.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      depsAt(T0, countingFactory(pool).factory),
    );
    expect(result.generated).toEqual(["auth", "distribution"]);
    expect(result.problems).toEqual([
      "auth: not signed by the module CA",
      "distribution: not signed by the module CA",
    ]);
  });

  it("refuses a non-IP InternalIP, an empty host and an unusable CA, naming what is wrong", async () => {
    expect(() => nodeServicesHosts("master-1")).toThrow(
      'node InternalIP: must be an IP address, got "master-1"',
    );
    await expect(
      ensureServiceCertificates(
        { ca: fresh.ca, hosts: ["localhost", " "] },
        depsAt(T0, countingFactory(pool).factory),
      ),
    ).rejects.toThrow("hosts: must not contain an empty host");
    await expect(
      ensureServiceCertificates(
        { ca: fresh.token, hosts: ["localhost"] },
        depsAt(T0, countingFactory(pool).factory),
      ),
    ).rejects.toThrow(/^pki\.ca: not a CA certificate/);
  });
});

describe("certificates under a CA made elsewhere (registry-init from dhctl, openssl)", () => {
  it("an RSA CA signs with sha256WithRSAEncryption; openssl verifies the chain", async () => {
    const rsaCa = await opensslCa(lab.dir, "seed-rsa", { key: "rsa", subject: "/CN=rsa-ca" });
    const pki = await ensurePki(
      { initCa: rsaCa },
      depsAt(new Date(), countingFactory(pool).factory),
    );
    const leaves = await ensureServiceCertificates(
      { ca: pki.pki.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      depsAt(new Date(), countingFactory(pool).factory),
    );
    const ca = await onDisk(rsaCa);
    for (const pair of [
      pki.pki.token,
      leaves.certificates.auth,
      leaves.certificates.distribution,
    ]) {
      const files = await onDisk(pair);
      expect((await opensslView(files.cert)).text).toContain(
        "Signature Algorithm: sha256WithRSAEncryption",
      );
      expect(await opensslVerify(ca.cert, files.cert)).toMatch(/: OK$/);
    }
  });

  it("the authority key identifier repeats the CA's own subject key identifier", async () => {
    const odd = await opensslCa(lab.dir, "seed-ski", {
      key: "ec",
      subject: "/C=RU/O=Flant/CN=registry-ca",
      // a self-signed CA must name its own (odd) key id as authority, or OpenSSL rejects it
      extra: [
        "-addext",
        "subjectKeyIdentifier=01:02:03:04:05",
        "-addext",
        "authorityKeyIdentifier=keyid:always",
      ],
    });
    const now = new Date();
    const pki = await ensurePki({ initCa: odd }, depsAt(now, countingFactory(pool).factory));
    const files = await onDisk(pki.pki.token);
    const ca = await onDisk(odd);
    const view = await opensslView(files.cert);
    expect(view.text).toMatch(/Authority Key Identifier:\s*\n\s*(keyid:)?01:02:03:04:05/);
    expect(view.issuer).toBe("CN=registry-ca,O=Flant,C=RU");
    expect(await opensslVerify(ca.cert, files.cert)).toMatch(/: OK$/);
  });
});

describe("caProblem / certificateProblem", () => {
  it("say why, without key material", () => {
    expect(caProblem(fresh.ca, T0)).toBeUndefined();
    expect(caProblem(fresh.token, T0)).toMatch(/^not a CA certificate/);
    expect(certificateProblem(fresh.token, fresh.ca, T0)).toBeUndefined();
    expect(certificateProblem(fresh.token, fresh.ca, T0, ["localhost"])).toBe(
      "subjectAltName does not cover localhost",
    );
    expect(certificateProblem(fresh.token, fresh.token, T0)).toMatch(/^CA: not a CA certificate/);
  });
});

describe("the default factory", () => {
  it("generates real, distinct keys: P-256 for the CA, RSA 2048 for every other certificate", async () => {
    const factory = createCertificateFactory();
    const now = new Date();
    const { pki } = await ensurePki({}, { now: () => now, certificates: factory });
    const leaves = await ensureServiceCertificates(
      { ca: pki.ca, hosts: IN_CLUSTER_PROXY_HOSTS },
      {
        now: () => now,
        certificates: factory,
      },
    );
    const ca = await onDisk(pki.ca);
    expect((await opensslView(ca.cert)).text).toContain("ASN1 OID: prime256v1");
    const moduli = new Set<string>();
    for (const pair of [pki.token, leaves.certificates.auth, leaves.certificates.distribution]) {
      const files = await onDisk(pair);
      const view = await opensslView(files.cert);
      expect(view.publicKey).toBe("rsaEncryption 2048 bit");
      expect(await opensslVerify(ca.cert, files.cert)).toMatch(/: OK$/);
      expect(await opensslKeyMatches(files.cert, files.key)).toBe(true);
      moduli.add(/Modulus:([\s\S]+?)Exponent/.exec(view.text)?.[1] ?? "");
    }
    expect(moduli.size).toBe(3);
  });
});
