// The control plane's own PKI, made by the real `openssl` (ECDSA P-256, short validity):
//
//   ca.crt/ca.key            cluster CA (kube-apiserver --client-ca-file; kubeconfig trust)
//   apiserver.crt/.key       serving certificate: 127.0.0.1, localhost, kubernetes.default.svc…
//   admin.crt/.key           client certificate, O=system:masters (the lab's kubectl and tests)
//   sa.key/sa.pub            service-account token signing pair
//
// A front proxy (aggregation layer) is not part of the lab: nothing we run is an aggregated API.
import { readFile } from "node:fs/promises";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../e2e-lab/process";

export interface ControlPlanePki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
  caCertPem: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function createControlPlanePki(dir: string): Promise<ControlPlanePki> {
  await mkdir(dir, { recursive: true });
  const p = (name: string) => join(dir, name);
  await run("openssl", [
    "req", "-x509", ...EC, "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "30",
    "-subj", "/CN=registry-lab-ca",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]); // prettier-ignore
  const sans = [
    "IP:127.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ].join(",");
  // openssl 3 issues from the CA in one `req -x509 -CA` call
  const issue = (name: string, subj: string, eku: string, extra: string[] = []) =>
    run("openssl", [
      "req", "-x509", ...EC, "-keyout", p(`${name}.key`), "-out", p(`${name}.crt`),
      "-days", "30", "-subj", subj, "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "keyUsage=critical,digitalSignature",
      "-addext", `extendedKeyUsage=${eku}`,
      ...extra,
    ]); // prettier-ignore
  await Promise.all([
    issue("apiserver", "/CN=kube-apiserver", "serverAuth", ["-addext", `subjectAltName=${sans}`]),
    issue("admin", "/O=system:masters/CN=registry-lab-admin", "clientAuth"),
    run("openssl", [
      "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p("sa.key"),
    ]).then(() => run("openssl", ["pkey", "-in", p("sa.key"), "-pubout", "-out", p("sa.pub")])), // prettier-ignore
  ]);
  return {
    dir,
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    servingCert: p("apiserver.crt"),
    servingKey: p("apiserver.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    serviceAccountKey: p("sa.key"),
    serviceAccountPub: p("sa.pub"),
    caCertPem: await readFile(p("ca.crt"), "utf8"),
  };
}
