// RegistryClient on its "node" engine (lib/oci/http.ts: node:http/node:https Agents, what the
// mirror CLI runs on) against real CNCF distribution and the lab's token server: the same
// answers and the same error kinds as the undici engine (test/oci/client.test.ts), connections
// kept after HEAD, and a streamed upload whose bytes are wrong never committed.
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient, type ImageManifest } from "../../lib/oci";
import { NODE_HTTP_CONNECTED } from "../../lib/oci/http";
import {
  closedPort,
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  pushImage,
  startBlackhole,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type Lab,
  type Registry,
} from "../e2e-lab";
import { expectWrongDigestRefused, rejection } from "./support/uploads";

const alice = { username: "alice", password: "correct-horse-battery" };
let lab: Lab;
let plain: Registry;
let secure: Registry;
let tokenReg: Registry;
let secureCa: string;
const clients: RegistryClient[] = [];

function nodeClient(
  reg: { hostPort: string; scheme: "http" | "https" },
  extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {},
): RegistryClient {
  const c = new RegistryClient({
    registry: reg.hostPort,
    scheme: reg.scheme,
    engine: "node",
    proxy: null,
    ...(reg.scheme === "https" ? { ca: secureCa } : {}),
    ...extra,
  });
  clients.push(c);
  return c;
}

/** Connections the node engine opens while `run` runs. */
async function connectionsDuring(run: () => Promise<void>): Promise<number> {
  let opened = 0;
  const count = () => opened++;
  subscribe(NODE_HTTP_CONNECTED, count);
  try {
    await run();
  } finally {
    unsubscribe(NODE_HTTP_CONNECTED, count);
  }
  return opened;
}

beforeAll(async () => {
  lab = await createLab("oci-node-engine");
  const ca = await createCa(lab.path("pki"));
  secureCa = ca.certPem;
  const tokens = await startTokenServer({
    signer: await createTokenSigner(lab.path("pki")),
    users: { [alice.username]: alice.password },
  });
  [plain, secure, tokenReg] = await Promise.all([
    startRegistry({ dir: lab.path("plain") }),
    startRegistry({
      dir: lab.path("secure"),
      tls: await issueServerCert(ca, "secure"),
      htpasswd: { [alice.username]: alice.password },
    }),
    startRegistry({ dir: lab.path("token"), tokenAuth: tokens.registryAuth("oci-test") }),
  ]);
  const single = await writeOciLayout(lab.path("single"), { seed: "node-engine", tags: ["v1"] });
  await Promise.all([
    pushImage(single, plain, "system/deckhouse", { tag: "oci" }),
    pushImage(single, secure, "system/deckhouse", { tag: "oci", creds: alice }),
    pushImage(single, tokenReg, "system/deckhouse", { tag: "oci", creds: alice }),
  ]);
});

afterAll(async () => {
  await Promise.allSettled(clients.map(c => c.close()));
  await lab?.close();
});

describe("the node engine", () => {
  it("HTTPS with the CA and Basic: manifests, ranged blob reads, a streamed upload in PATCH pieces", async () => {
    const reg = nodeClient(secure, alice);
    const m = await reg.getManifest("system/deckhouse", "oci");
    const layer = (m.document as ImageManifest).layers[0]!.digest;
    expect((await reg.headManifest("system/deckhouse", "oci")).digest).toBe(m.digest);
    const bytes = await reg.getBlobBytes("system/deckhouse", layer);
    const ranged = await reg.getBlob("system/deckhouse", layer, { range: { start: 2, end: 9 } });
    const part: Buffer[] = [];
    for await (const chunk of ranged.body) part.push(chunk as Buffer);
    expect(Buffer.concat(part)).toEqual(bytes.subarray(2, 10));
    const source = {
      size: bytes.length,
      open: (start: number, end: number) => Readable.from([bytes.subarray(start, end)]),
    };
    const sent = await reg.uploadBlobFrom("copy/a", source, {
      digest: layer,
      monolithicMaxBytes: 64,
      chunkSize: 1000,
    });
    expect(sent).toEqual({ digest: layer, size: bytes.length });
    expect(await reg.getBlobBytes("copy/a", layer)).toEqual(bytes);
  });

  it("keeps its connection after HEAD requests (undici closes one per HEAD)", async () => {
    const reg = nodeClient(secure, { ...alice, connections: 1 });
    const absent = `sha256:${"5".repeat(64)}`;
    const opened = await connectionsDuring(async () => {
      const m = await reg.getManifest("system/deckhouse", "oci");
      const layer = (m.document as ImageManifest).layers[0]!.digest;
      for (let i = 0; i < 3; i++) {
        expect(await reg.hasBlob("system/deckhouse", layer)).toBe(true);
        expect(await reg.hasBlob("system/deckhouse", absent)).toBe(false);
        expect((await reg.headManifest("system/deckhouse", "oci")).digest).toBe(m.digest);
      }
    });
    expect(opened).toBe(1);
  });

  it("a streamed upload whose bytes do not match its digest is refused, nothing committed", async () => {
    await expectWrongDigestRefused(nodeClient(plain));
  });

  it("Bearer: fetches tokens from the realm, pushes with one, and a refusal hides the password", async () => {
    const reg = nodeClient(tokenReg, alice);
    const m = await reg.getManifest("system/deckhouse", "oci");
    expect(await reg.putManifest("system/deckhouse", "again", m.bytes, m.mediaType)).toEqual({
      digest: m.digest,
    });
    expect((await reg.listTags("system/deckhouse")).sort()).toEqual(["again", "oci"]);
    const wrong = nodeClient(tokenReg, { ...alice, password: "wrong-password" });
    const err = await rejection(wrong.getManifest("system/deckhouse", "oci"));
    expect(err.kind).toBe("auth");
    expect(err.message).not.toContain("wrong-password");
  });

  it("tells causes apart: silent peer, caller's deadline, closed port, HTTPS to plain HTTP", async () => {
    const hole = await startBlackhole();
    const silent = nodeClient({ hostPort: hole.hostPort, scheme: "http" }, { timeoutMs: 300 });
    const timeout = await rejection(silent.headManifest("system/deckhouse", "v1"));
    expect(timeout.kind).toBe("timeout");
    expect(timeout.message).toMatch(/^HEAD manifest .*: request timeout \(ETIMEDOUT\)/);
    const waiting = nodeClient({ hostPort: hole.hostPort, scheme: "http" });
    const deadline = await rejection(
      waiting.headManifest("system/deckhouse", "v1", { signal: AbortSignal.timeout(200) }),
    );
    expect(deadline.kind).toBe("timeout");
    expect(deadline.message).toMatch(/request timeout \(deadline passed\)/);
    const port = await closedPort();
    const refused = await rejection(
      nodeClient({ hostPort: `127.0.0.1:${port}`, scheme: "http" }).ping(),
    );
    expect(refused.kind).toBe("network");
    expect(refused.message).toMatch(/ECONNREFUSED/);
    const tls = await rejection(nodeClient({ hostPort: plain.hostPort, scheme: "https" }).ping());
    expect(tls.kind).toBe("tls");
    expect(tls.reason).toMatch(/wrong version number/i);
  });
});
