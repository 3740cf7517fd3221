// The shared e2e lab: real peers (CNCF distribution, skopeo, openssl, htpasswd) on loopback for
// tests. Import from "test/e2e-lab" (relative path); each file's header documents its API:
//
//   lab.ts          createLab(name) → { dir, path(), close() }         one temp dir per test file
//   process.ts      spawnProcess, run, requireTools, stopAll, liveProcesses, trackCloser
//   pki.ts          createCa, issueServerCert(ca, name, {ips, dns}), createTokenSigner
//   registry.ts     startRegistry({dir, host?, tls?, htpasswd?, tokenAuth?, proxy?, storageDir?}),
//                   writeHtpasswd, waitForV2
//   token-server.ts startTokenServer({signer, users, …}) → realm, requests, registryAuth(service)
//   network.ts      startBlackhole (accepts, never answers), freePort, closedPort
//   images.ts       writeOciLayout(dir, spec) deterministic OCI layouts; pushImage via skopeo
//   lying-registry.ts startLyingRegistry(layout, repo): a double serving wrong bytes under a digest
//   skopeo.ts       skopeoCopyToDir, skopeoRawManifest, manifestDigest: read images back with skopeo
//   wait.ts         until(what, probe, {timeoutMs, retryErrors, context}): poll for an event;
//                   pathExists, pathGone probes
//
// Typical file:
//   let lab: Lab;
//   beforeAll(async () => {
//     lab = await createLab("my-suite");
//     const ca = await createCa(lab.path("pki"));
//     const reg = await startRegistry({ dir: lab.path("reg"), tls: await issueServerCert(ca, "reg"),
//                                       htpasswd: { alice: "pw" } });
//     const img = await writeOciLayout(lab.path("img"), { seed: "x", tags: ["v1"] });
//     await pushImage(img, reg, "system/deckhouse", { creds: { username: "alice", password: "pw" } });
//   });
//   afterAll(async () => lab?.close());
export * from "./forward-proxy";
export * from "./images";
export * from "./lab";
export * from "./lying-registry";
export * from "./network";
export * from "./pki";
export * from "./process";
export * from "./registry";
export * from "./skopeo";
export * from "./token-server";
export * from "./wait";
