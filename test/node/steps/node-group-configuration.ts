// Delivery of the node steps as Kubernetes objects (docs/adr/0020-*). Two ways, chosen by
// NodeStepsDelivery:
//
//   Platform                the platform's bashible renders its own registry steps from Secret
//                           registry-bashible-config (what Deckhouse does, docs/architecture.md#node-side): the module
//                           adds no object; the Secret the orchestrator renders is the contract.
//   NodeGroupConfiguration  the module's steps as deckhouse.io/v1alpha1 NodeGroupConfiguration
//                           objects, one per step, for every node group and bundle. They are not
//                           Secrets, so they carry no credential: bashible-apiserver, which renders
//                           NodeGroupConfiguration content as a Go template over its context,
//                           fills each mirror's credentials from `.registry` (built from the same
//                           Secret) at bundle time.
//
// Pure: config in, objects out; every object is checked against the CRD's schema before it is
// returned.
import type { ValidateFunction } from "ajv";
import type { BashibleConfig } from "../../../lib/domain/bashible-config";
import { compileSchema, createAjv } from "../../../lib/openapi/ajv";
import type { JsonSchema } from "../../../lib/openapi/deckhouse-schema";
import type { ContainerdFlavor } from "./hosts-toml";
import { renderNodeSteps, type NodeStep } from "./steps";

export type NodeStepsDelivery = "Platform" | "NodeGroupConfiguration";

export interface NodeGroupConfiguration {
  apiVersion: "deckhouse.io/v1alpha1";
  kind: "NodeGroupConfiguration";
  metadata: { name: string; labels: Record<string, string> };
  spec: { content: string; weight: number; nodeGroups: string[]; bundles: string[] };
}

export interface NodeDeliveryOptions {
  delivery: NodeStepsDelivery;
  /** Which containerd the nodes run (docs/adr/0021-*). */
  containerd: ContainerdFlavor;
}

/**
 * spec of CRD nodegroupconfigurations.deckhouse.io v1alpha1 (node-manager module), plus the
 * object's identity and the metadata name rule (DNS subdomain) the API server applies.
 */
export const NODE_GROUP_CONFIGURATION_SCHEMA: JsonSchema = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  additionalProperties: false,
  properties: {
    apiVersion: { type: "string", enum: ["deckhouse.io/v1alpha1"] },
    kind: { type: "string", enum: ["NodeGroupConfiguration"] },
    metadata: {
      type: "object",
      required: ["name"],
      properties: {
        name: {
          type: "string",
          maxLength: 253,
          pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        },
        labels: { type: "object", additionalProperties: { type: "string" } },
      },
    },
    spec: {
      type: "object",
      required: ["content", "nodeGroups", "bundles"],
      additionalProperties: false,
      properties: {
        content: { type: "string" },
        weight: { type: "integer" },
        nodeGroups: { type: "array", minItems: 1, items: { type: "string" } },
        bundles: { type: "array", minItems: 1, items: { type: "string" } },
      },
    },
  },
};

let validate: ValidateFunction | undefined;

export class NodeDeliveryError extends Error {
  override name = "NodeDeliveryError";
}

function checkObject(object: NodeGroupConfiguration): void {
  validate ??= compileSchema(createAjv(), NODE_GROUP_CONFIGURATION_SCHEMA);
  const { name } = object.metadata;
  if (!validate(object)) {
    const problems = (validate.errors ?? []).map(e => `${e.instancePath || "/"} ${e.message}`);
    throw new NodeDeliveryError(`NodeGroupConfiguration ${name}: ${problems.join("; ")}`);
  }
}

function toObject(step: NodeStep): NodeGroupConfiguration {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "NodeGroupConfiguration",
    metadata: {
      name: `${step.name}.sh`,
      labels: { heritage: "deckhouse", module: "registry" },
    },
    spec: { content: step.content, weight: step.weight, nodeGroups: ["*"], bundles: ["*"] },
  };
}

/**
 * The objects that carry the node steps, for the module's render path: none with Platform
 * delivery, one NodeGroupConfiguration per step otherwise (only the label step when there is no
 * config). Throws what renderNodeSteps throws; nothing is returned then.
 */
export function renderNodeDeliveryObjects(
  config: BashibleConfig | undefined,
  options: NodeDeliveryOptions,
): NodeGroupConfiguration[] {
  switch (options.delivery) {
    case "Platform":
      return [];
    case "NodeGroupConfiguration": {
      // bashible-apiserver runs the content through Go templates: data that itself contains
      // `{{` (a rewrite regex, say) would be executed as template code
      for (const step of renderNodeSteps(config, { containerd: options.containerd })) {
        const at = step.content.indexOf("{{");
        if (at >= 0) {
          throw new NodeDeliveryError(
            `step ${step.name}: the config contains "{{" (near ${JSON.stringify(step.content.slice(at, at + 40))}), ` +
              "which bashible-apiserver would execute as a Go template",
          );
        }
      }
      const steps = renderNodeSteps(config, {
        containerd: options.containerd,
        credentials: "bashibleContext",
      });
      const objects = steps.map(toObject);
      objects.forEach(checkObject);
      return objects;
    }
  }
}
