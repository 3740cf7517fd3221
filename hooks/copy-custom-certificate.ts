// Copies the custom TLS certificate of the push ingress into values (Deckhouse's standard
// copy_custom_certificate hook, registered for this module): with `https.mode: CustomCertificate`
// (module setting, else the global one) the Secret named by `customCertificate.secretName` in
// d8-system becomes `registry.internal.customCertificateData`, rendered as the ingress's TLS
// Secret. Any other mode removes the copy.
import { MODULE_NAMESPACE } from "../lib/domain/names";
import { defineHook } from "../lib/runtime/define-hook";
import { filterObject, secretValue, string } from "../lib/runtime/narrow";

const DATA_PATH = "registry.internal.customCertificateData";

export interface CertificateSecret {
  name: string;
  data: { "tls.crt"?: string; "tls.key"?: string; "ca.crt"?: string };
}

export default defineHook({
  name: "copy-custom-certificate",
  queue: "/modules/registry/copy-custom-certificate",
  group: "main",
  beforeHelm: 10,
  kubernetes: {
    "custom-certificates": {
      apiVersion: "v1",
      kind: "Secret",
      namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } },
      labelSelector: {
        matchExpressions: [{ key: "owner", operator: "NotIn", values: ["helm"] }],
      },
      fieldSelector: {
        matchExpressions: [{ field: "type", operator: "Equals", value: "kubernetes.io/tls" }],
      },
      jqFilter: '{name: .metadata.name, data: (.data // {} | {"tls.crt", "tls.key", "ca.crt"})}',
      keepFullObjectsInMemory: false,
      narrow: (item): CertificateSecret => {
        const f = filterObject(item, "TLS Secret");
        const name = string(f.name, "TLS Secret metadata.name");
        const what = `Secret d8-system/${name}`;
        const data: CertificateSecret["data"] = {};
        for (const key of ["tls.crt", "tls.key", "ca.crt"] as const) {
          const value = secretValue(f.data, key, what);
          if (value) data[key] = value;
        }
        return { name, data };
      },
    },
  },
  handler({ snapshots, values, log }) {
    const mode =
      values.get<string>("registry.https.mode") ?? values.get<string>("global.modules.https.mode");
    if (mode !== "CustomCertificate") {
      values.remove(DATA_PATH);
      return;
    }
    const secretName =
      values.get<string>("registry.https.customCertificate.secretName") ??
      values.get<string>("global.modules.https.customCertificate.secretName");
    if (!secretName) {
      throw new Error(
        "https.customCertificate.secretName: required when https.mode is CustomCertificate",
      );
    }
    const secret = snapshots["custom-certificates"].find(s => s.name === secretName);
    if (!secret) {
      throw new Error(
        `custom certificate secret name is configured, but secret d8-system/${secretName} doesn't exist`,
      );
    }
    for (const key of ["tls.crt", "tls.key"] as const) {
      if (!secret.data[key]) throw new Error(`Secret d8-system/${secretName}: ${key} is empty`);
    }
    log.addSecret(secret.data["tls.key"]);
    values.set(DATA_PATH, secret.data);
  },
});
