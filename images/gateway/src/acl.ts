// The module users' ACL (docs/architecture.md#node-services, the docker_auth ACL it replaces): `ro`
// pulls; `rw` and `mirror-pusher` may do everything; `mirror-puller` lists the catalog and pulls.
// Anything not granted is denied.
import type { GatewayMode, Role } from "../../../lib/dataplane/gateway-config";
import type { Action } from "./routes";

const GRANTS: Record<Role, readonly Action[]> = {
  ro: ["pull"],
  rw: ["pull", "push", "catalog"],
  "mirror-pusher": ["pull", "push", "catalog"],
  "mirror-puller": ["pull", "catalog"],
};

export function allows(role: Role, action: Action): boolean {
  return GRANTS[role].includes(action);
}

/**
 * Whether the mode can carry out the action at all: `direct` has no storage and `proxy` is a
 * read-only cache, so both refuse pushes (as distribution's proxy does, with 405 UNSUPPORTED);
 * `direct` has no catalog of its own.
 */
export function modeSupports(mode: GatewayMode, action: Action): boolean {
  switch (mode) {
    case "local":
      return true;
    case "proxy":
      return action !== "push";
    case "direct":
      return action === "pull";
  }
}
