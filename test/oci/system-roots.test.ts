// The registry client's roots without a `ca` option: Node's bundled roots plus the system bundle
// (SSL_CERT_FILE first), the bundle's repeats of Node's roots left out (lib/oci/transport.ts,
// docs/adr/0141). Real distribution on loopback with TLS from a lab CA; each client runs in its own
// Node process, since the roots are read once per process.
import { readFile, writeFile } from "node:fs/promises";
import { rootCertificates } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCa,
  createLab,
  issueServerCert,
  run,
  startRegistry,
  type Lab,
  type Registry,
} from "../e2e-lab";
import { REPO_ROOT } from "../mirror/cli";

let lab: Lab;
let registry: Registry;
let caPem: string;
let script: string;

beforeAll(async () => {
  lab = await createLab("oci-system-roots");
  const ca = await createCa(lab.path("pki"));
  caPem = ca.certPem;
  registry = await startRegistry({ dir: lab.path("reg"), tls: await issueServerCert(ca, "reg") });
  script = lab.path("ping.mts");
  await writeFile(
    script,
    `import { RegistryClient } from ${JSON.stringify(`${REPO_ROOT}/lib/oci/client`)};
const client = new RegistryClient({ registry: process.argv[2], engine: "node", proxy: null });
try { await client.ping(); console.log("trusted"); }
catch (err) { console.log(\`failed: \${err.kind}: \${err.message}\`); }
finally { await client.close(); }
`,
  );
});

afterAll(async () => {
  await lab?.close();
});

/** Pings the registry from a new process whose system bundle is `bundle`. */
async function pingWith(bundle: string): Promise<string> {
  const file = lab.path(`bundle-${Math.random().toString(36).slice(2)}.pem`);
  await writeFile(file, bundle);
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, registry.hostPort], {
    cwd: REPO_ROOT,
    env: { SSL_CERT_FILE: file, HTTPS_PROXY: "", https_proxy: "" },
  });
  return stdout.trim();
}

const UNTRUSTED = /^failed: tls: .*TLS: .*(certificate|verify)/i;

describe("system roots", () => {
  it("a CA among repeats of Node's roots in the system bundle is trusted", async () => {
    const repeats = rootCertificates.slice(0, 40).join("\n");
    const rest = rootCertificates.slice(40, 80).join("\n");
    expect(await pingWith(`${repeats}\n# the lab's CA\n${caPem}\n${rest}\n`)).toBe("trusted");
  });

  it("the same CA written with other line breaks, as the bundle's last entry, is trusted", async () => {
    const crlf = caPem.replace(/\n/g, "\r\n");
    expect(await pingWith(`${rootCertificates.join("\n")}\n${crlf}`)).toBe("trusted");
  });

  it("a bundle of Node's roots alone does not trust the lab's CA", async () => {
    expect(await pingWith(rootCertificates.join("\n"))).toMatch(UNTRUSTED);
  });

  it("the bundle Debian ships is read too (its lab-CA-free form does not trust the registry)", async () => {
    const debian = await readFile("/etc/ssl/certs/ca-certificates.crt", "utf8").catch(() => {
      throw new Error(
        "/etc/ssl/certs/ca-certificates.crt missing: apt-get install ca-certificates",
      );
    });
    expect(await pingWith(debian)).toMatch(UNTRUSTED);
    expect(await pingWith(`${debian}\n${caPem}`)).toBe("trusted");
  });
});
