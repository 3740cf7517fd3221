// The Local-mode push ingress (docs/architecture.md#push-ingress) and its certificate: the
// copy-custom-certificate hook through the harness, and what the renderer makes of each https mode.
import { describe, expect, it } from "vitest";
import copyCustomCertificate from "../../hooks/copy-custom-certificate";
import { createHookTest } from "../../lib/harness/index";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { validateKubernetesObject } from "../support/kubernetes-schemas";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const tlsSecret: KubeObject = {
  apiVersion: "v1",
  kind: "Secret",
  type: "kubernetes.io/tls",
  metadata: { name: "my-cert", namespace: "d8-system" },
  data: { "tls.crt": b64("CERT"), "tls.key": b64("KEY") },
};

function render(settings: Record<string, unknown>, global: Record<string, unknown> = {}) {
  const objects = renderManifests({
    global: {
      enabledModules: ["cert-manager", "ingress-nginx"],
      modules: { publicDomainTemplate: "%s.example.com", ...global },
    },
    registry: {
      ...settings,
      internal: {
        ...(settings.internal as object),
        orchestrator: {
          hash: "h",
          state: { mode: "Local", target_mode: "Local", ingress_enabled: true },
        },
      },
    },
  });
  objects.forEach(validateKubernetesObject);
  return objects;
}

const find = (objects: KubeObject[], kind: string) => objects.filter(o => o.kind === kind);

describe("push ingress", () => {
  it("CertManager (the default): Ingress on registry.<domain> with a Certificate from the issuer", () => {
    const objects = render({ whitelistSourceRanges: ["10.0.0.0/8", "192.168.0.0/16"] });
    const [ingress] = find(objects, "Ingress");
    expect(ingress?.spec).toMatchObject({
      rules: [{ host: "registry.example.com" }],
      tls: [{ hosts: ["registry.example.com"], secretName: "registry-ingress-tls" }],
    });
    expect(
      ingress?.metadata.annotations?.["nginx.ingress.kubernetes.io/whitelist-source-range"],
    ).toBe("10.0.0.0/8,192.168.0.0/16");
    expect(find(objects, "Certificate")[0]?.spec).toMatchObject({
      secretName: "registry-ingress-tls",
      issuerRef: { name: "letsencrypt", kind: "ClusterIssuer" },
    });
  });

  it("CustomCertificate: the copied certificate becomes the ingress's TLS Secret", () => {
    const objects = render({
      https: { mode: "CustomCertificate" },
      internal: { customCertificateData: { "tls.crt": "CERT", "tls.key": "KEY" } },
    });
    const secret = objects.find(o => o.metadata.name === "ingress-tls-customcertificate");
    expect(secret).toMatchObject({
      type: "kubernetes.io/tls",
      data: { "tls.crt": b64("CERT"), "tls.key": b64("KEY") },
    });
    expect(find(objects, "Certificate")).toEqual([]);
  });

  it("no public domain template: no ingress at all", () => {
    const objects = renderManifests({
      global: {},
      registry: {
        internal: { orchestrator: { hash: "h", state: { mode: "Local", ingress_enabled: true } } },
      },
    });
    expect(find(objects, "Ingress")).toEqual([]);
  });
});

describe("copy-custom-certificate hook", () => {
  async function run(configValues: Record<string, unknown>, secrets: KubeObject[]) {
    const f = await createHookTest({
      hook: copyCustomCertificate,
      openapiDir: "openapi",
      configValues,
    });
    f.kubeStateSet(secrets);
    const result = await f.runHook(f.generateBeforeHelmContext());
    return { result, data: f.valuesGet("registry.internal.customCertificateData") };
  }

  it("copies the named Secret when https.mode is CustomCertificate", async () => {
    const { result, data } = await run(
      { https: { mode: "CustomCertificate", customCertificate: { secretName: "my-cert" } } },
      [tlsSecret],
    );
    expect(result.error).toBeUndefined();
    expect(data).toEqual({ "tls.crt": "CERT", "tls.key": "KEY" });
    expect(JSON.stringify(result.logs)).not.toContain("KEY");
  });

  it("fails naming the Secret when it does not exist", async () => {
    const { result } = await run(
      { https: { mode: "CustomCertificate", customCertificate: { secretName: "absent" } } },
      [tlsSecret],
    );
    expect(result.ok).toBe(false);
    expect(result.error).toContain("secret d8-system/absent doesn't exist");
  });

  it("keeps nothing in other modes", async () => {
    const { result, data } = await run({ https: { mode: "CertManager" } }, [tlsSecret]);
    expect(result.ok).toBe(true);
    expect(data).toBeUndefined();
  });
});
