// In-cluster clients through every switch (docs/adr/0122): a client pulls through
// `registry.d8-system.svc:5001` with the credentials of Secret d8-system/deckhouse-registry, and
// the name resolves to the pods Service `registry` selects. The module's real hooks run the
// switches through the simulator (Helm apply/prune, the other actors); at every boundary inside
// and between module runs this test asks whether the endpoints the Service selects then accept
// the credentials a client may hold: the Secret as it is now AND as it was before the run (pods
// keep what they read for a while).
//
// The boundaries of one round, from the world before (W0) and after it (W1):
//   hook  — the hook has patched deckhouse-registry; Helm has not applied yet (Service, pods: W0);
//   helm  — Helm applied the Service of W1; the pods still run W0's configs (no rollout yet);
//   pods  — the Deployment controller and the managers rolled out W1's configs.
// What an endpoint accepts is read from what it runs: the in-cluster proxy's gateway.yaml users
// (bcrypt; a user may be listed with two passwords while a switch rotates it), the node
// services' node config users.
import { compareSync } from "bcryptjs";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { REGISTRY_ADDRESS } from "../../lib/domain/names";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

type World = readonly KubeObject[];

const fromB64 = (s: unknown) => Buffer.from(String(s ?? ""), "base64").toString("utf8");

function find(w: World, kind: string, name: string): KubeObject | undefined {
  return w.find(o => o.kind === kind && o.metadata.name === name);
}

function data(o: KubeObject | undefined): Record<string, string> {
  return (o?.data ?? {}) as Record<string, string>;
}

interface ClientCreds {
  address: string;
  username: string;
  password: string;
}

/** What a client reads from deckhouse-registry: the address and its credentials. */
function clientCreds(w: World): ClientCreds {
  const d = data(find(w, "Secret", "deckhouse-registry"));
  const address = fromB64(d.address);
  const auths = (
    JSON.parse(fromB64(d[".dockerconfigjson"]) || "{}") as {
      auths?: Record<string, { username?: string; password?: string; auth?: string }>;
    }
  ).auths;
  const entry = auths?.[address] ?? {};
  const [u = "", p = ""] = entry.auth ? fromB64(entry.auth).split(/:(.*)/s) : [];
  return { address, username: entry.username ?? u, password: entry.password ?? p };
}

/** One user an endpoint accepts: a bcrypt hash or a plain password (node config keeps both). */
interface Accepts {
  name: string;
  passwordHash: string;
}

const hashChecks = new Map<string, boolean>();
function matches(a: Accepts, c: ClientCreds): boolean {
  if (a.name !== c.username) return false;
  const key = `${a.passwordHash}\n${c.password}`;
  let ok = hashChecks.get(key);
  if (ok === undefined) {
    ok = compareSync(c.password, a.passwordHash);
    hashChecks.set(key, ok);
  }
  return ok;
}

/**
 * The users the in-cluster proxy pods run with, undefined when no pod runs. Read by the gateway's
 * own config reader: a config it would refuse to start with fails the test.
 */
function inClusterProxyUsers(w: World): Accepts[] | undefined {
  if (!find(w, "Deployment", "registry-incluster-proxy")) return undefined;
  const gateway = fromB64(
    data(find(w, "Secret", "registry-incluster-proxy-config"))["gateway.yaml"],
  );
  return parseGatewayConfig(parse(gateway)).users.map(u => ({
    name: u.name,
    passwordHash: u.passwordHash,
  }));
}

/** Per master running node services: the users its config lets pull. */
function nodeServicesUsers(w: World): Accepts[][] {
  const pods = w.filter(o => o.kind === "Pod" && o.metadata.labels?.type === "node-services");
  return pods.map(pod => {
    const node = (pod.spec as { nodeName?: string }).nodeName ?? "";
    const config = parse(
      fromB64(data(find(w, "Secret", `registry-node-config-${node}`)).config) || "{}",
    ) as {
      user_ro?: Accepts;
      local_mode?: { user_rw?: Accepts; user_puller?: Accepts; user_pusher?: Accepts };
    };
    const l = config.local_mode;
    return [config.user_ro, l?.user_rw, l?.user_puller, l?.user_pusher].flatMap(u =>
      u ? [{ name: u.name, passwordHash: u.passwordHash }] : [],
    );
  });
}

/** Why the endpoints refuse the client, or undefined when they serve it. */
function refusal(service: World, running: World, c: ClientCreds): string | undefined {
  if (c.address !== REGISTRY_ADDRESS) return undefined; // the client pulls from elsewhere
  const svc = find(service, "Service", "registry");
  const type = (svc?.spec as { selector?: { type?: string } } | undefined)?.selector?.type;
  if (!type) return "registry.d8-system.svc does not resolve (no Service registry)";
  if (type === "incluster-proxy") {
    const users = inClusterProxyUsers(running);
    if (!users) return "Service selects incluster-proxy, no pod runs";
    if (!users.some(u => matches(u, c))) return `incluster-proxy refuses user ${c.username}`;
    return undefined;
  }
  const nodes = nodeServicesUsers(running);
  if (nodes.length === 0) return "Service selects node-services, no static pod runs";
  if (!nodes.every(users => users.some(u => matches(u, c))))
    return `node-services refuse user ${c.username}`;
  return undefined;
}

// Every switch of ADR 0122's table, with new credentials where a mode has its own.
const CHAIN: [string, Record<string, unknown>][] = [
  ["legacy → Direct", settings.direct(settings.withPassword("first-p4ss"))],
  [
    "Direct → Direct (another user)",
    settings.direct(settings.withPassword("second-p4ss", { username: "other-puller" })),
  ],
  [
    "Direct → Direct (the same user, a new password)",
    settings.direct(settings.withPassword("rotated-p4ss", { username: "other-puller" })),
  ],
  ["Direct → Proxy", settings.proxy(settings.licensed("lic3nse"))],
  ["Proxy → Direct", settings.direct(settings.withPassword("third-p4ss"))],
  ["Direct → Local", settings.LOCAL],
  ["Local → Direct", settings.direct(settings.withPassword("fourth-p4ss"))],
  ["Direct → configurable Unmanaged", settings.unmanaged(settings.withPassword("fifth-p4ss"))],
  ["configurable Unmanaged → Proxy", settings.proxy(settings.licensed("lic3nse-2"))],
  ["Proxy → legacy", settings.LEGACY],
  ["legacy → Direct (anonymous upstream)", settings.direct({ imagesRepo: settings.UPSTREAM_REPO })],
  ["Direct (anonymous) → Proxy", settings.proxy(settings.licensed("lic3nse-3"))],
  ["Proxy → configurable Unmanaged", settings.unmanaged(settings.withPassword("sixth-p4ss"))],
  ["configurable Unmanaged → Direct", settings.direct(settings.withPassword("seventh-p4ss"))],
  ["Direct → legacy", settings.LEGACY],
];

describe("in-cluster clients are served at every boundary of every switch", () => {
  const refused: Record<string, string[]> = {};
  const converged: Record<string, boolean> = {};
  const runs: Record<string, number> = {};
  /** DeckhouseRegistrySwitchReady's messages while False, in order, without repeats */
  const switchMessages: Record<string, string[]> = {};
  /** whom deckhouse-registry names once the switch converged */
  const endUser: Record<string, string> = {};

  beforeAll(async () => {
    let generation = 1;
    const sim = await Simulation.start({
      objects: cluster({ nodes: 5, masters: 3, generation }),
      globalValues: exampleGlobalValues(),
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    expect((await sim.converge(10)).converged).toBe(true);
    for (const [name, registry] of CHAIN) {
      generation += 1;
      sim.apply([moduleConfig(registry, generation)]);
      const out: string[] = (refused[name] = []);
      const start = sim.runs.length;
      converged[name] = false;
      while (sim.runs.length - start < 60) {
        const w0 = structuredClone([...sim.world.values()]);
        const record = await sim.round();
        const w1 = [...sim.world.values()];
        const n = sim.runs.length - start;
        const boundaries: [string, World, World][] = [
          ["hook", w0, w0],
          ["helm", w1, w0],
          ["pods", w1, w1],
        ];
        for (const [when, service, running] of boundaries) {
          for (const [which, secret] of [
            ["old", w0],
            ["new", w1],
          ] as const) {
            const why = refusal(service, running, clientCreds(secret));
            if (why)
              out.push(`run ${n} ${when}: client with the ${which} deckhouse-registry: ${why}`);
          }
        }
        const waiting = record.conditions.find(
          c => c.type === "DeckhouseRegistrySwitchReady" && c.status === "False",
        )?.message;
        const seen = (switchMessages[name] ??= []);
        if (waiting && seen.at(-1) !== waiting) seen.push(waiting.replace(/: .*/s, ": …"));
        if (record.ready && record.mode === record.target_mode && n > 1) {
          converged[name] = true;
          break;
        }
      }
      runs[name] = sim.runs.length - start;
      const end = clientCreds([...sim.world.values()]);
      endUser[name] = end.address === REGISTRY_ADDRESS ? end.username : end.address;
    }
  }, 300_000);

  it.each(CHAIN.map(([name]) => name))("%s: converges, no client refused", name => {
    expect(converged[name], `${name} did not converge in ${runs[name]} runs`).toBe(true);
    expect(refused[name]).toEqual([]);
  });

  // The order each direction takes, in the words the switch reports (they extend the
  // specification's registry switcher), and the credentials each mode ends with.
  it.each([
    [
      "legacy → Direct",
      [
        "Waiting for Service registry to select incluster-proxy",
        "Updating registry for deckhouse components",
      ],
      "puller",
    ],
    [
      "Direct → Proxy",
      [
        "Waiting for incluster-proxy to accept the new credentials: …",
        "Updating registry for deckhouse components",
        "Waiting for Service registry to select node-services",
      ],
      "ro",
    ],
    [
      "Proxy → Direct",
      [
        "Waiting for Service registry to select incluster-proxy",
        "Updating registry for deckhouse components",
      ],
      "puller",
    ],
    [
      "Direct → Local",
      [
        "Waiting for incluster-proxy to accept the new credentials: …",
        "Updating registry for deckhouse components",
        "Waiting for Service registry to select node-services",
      ],
      "ro",
    ],
    [
      "configurable Unmanaged → Proxy",
      [
        "Waiting for Service registry to select node-services",
        "Updating registry for deckhouse components",
      ],
      "ro",
    ],
    // an anonymous upstream: Direct's clients are already ro, the proxy accepts them as they are
    ["Direct (anonymous) → Proxy", ["Waiting for Service registry to select node-services"], "ro"],
    [
      "Direct → configurable Unmanaged",
      ["Updating registry for deckhouse components"],
      "registry.example.com",
    ],
  ])("%s: the switch waits %j and ends with %s", (name, messages, user) => {
    expect(switchMessages[name]).toEqual(messages);
    expect(endUser[name]).toBe(user);
  });
});
