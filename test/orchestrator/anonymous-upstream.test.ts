// Direct with an anonymous upstream (the CE registry takes anonymous pulls): the in-cluster proxy
// still authenticates its clients, as the module's ro user, which deckhouse-registry carries.
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";

const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");
const globalValues = exampleGlobalValues();

describe("Direct with an anonymous upstream", () => {
  it("converges with clients logging in to the in-cluster proxy as the ro user", async () => {
    const sim = await Simulation.start({
      objects: cluster({ nodes: 3, masters: 1 }),
      globalValues,
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    sim.apply([
      moduleConfig(
        { mode: "Direct", direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ce" } },
        2,
      ),
    ]);
    const result = await sim.converge(40);
    expect(result.converged, JSON.stringify(result.stuck)).toBe(true);

    const find = (name: string) => result.objects.find((o: KubeObject) => o.metadata.name === name);
    const data = (name: string) => find(name)?.data as Record<string, string>;
    const ro = {
      name: fromB64(data("registry-user-ro").name),
      password: fromB64(data("registry-user-ro").password),
    };
    expect(ro.name).toBe("ro");

    const gateway = parseGatewayConfig(
      parse(fromB64(data("registry-incluster-proxy-config")["gateway.yaml"])),
    );
    expect(gateway.users.map(u => [u.name, u.role])).toEqual([["ro", "ro"]]);
    expect(gateway.mode === "direct" && gateway.upstream.username).toBeFalsy();

    const auths = JSON.parse(fromB64(data("deckhouse-registry")[".dockerconfigjson"])) as {
      auths: Record<string, { username: string; password: string }>;
    };
    expect(auths.auths["registry.d8-system.svc:5001"]).toMatchObject({
      username: "ro",
      password: ro.password,
    });
  }, 60_000);
});
