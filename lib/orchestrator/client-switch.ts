// In-cluster clients during a switch (docs/adr/0122): a client pulls through the fixed address
// with the credentials of deckhouse-registry, and the name resolves to the pods Service
// `registry` selects. deckhouse-registry and the Service's selector change in different module
// runs (the hook patches the Secret, Helm renders the Service after it), and a client may hold
// the Secret's old contents for a while. So the pods the Service selects must accept, at every
// moment, both the credentials clients held before and the ones they get now:
//
// - into Direct: the in-cluster proxy also accepts the credentials deckhouse-registry carries
//   now (`transition_clients`), then the Service selects it, then the Secret changes; the extra
//   credentials go once deckhouse-controller runs with the new Secret and the nodes with the
//   final config.
// - into Proxy/Local from Direct: node services accept only the module's `ro` user, so the
//   in-cluster proxy (still selected) learns `ro` first, then the Secret changes, and only then
//   does the Service select the node services.
import { REGISTRY_ADDRESS } from "../domain/names";
import type { RegistryUser } from "../domain/users";
import type { ModeParams } from "./bashible";
import { finalConfig, nodesReadiness } from "./bashible";
import { paramsFromRegistrySecret } from "./deckhouse-registry";
import { acceptingAlso, inClusterProxyReadiness } from "./incluster-proxy";
import type { Run } from "./run";
import { registrySwitch, switchDeckhouseRegistry } from "./steps";
import type { RegistrySecretConfig } from "./switcher";
import { desiredRegistrySecret, switchReadiness } from "./switcher";

interface Credentials {
  username: string;
  password: string;
}

/** The credentials deckhouse-registry gives clients of the fixed address, when it names it. */
function heldCredentials(run: Run): Credentials | undefined {
  const current = run.inputs.currentRegistry;
  if (current.address !== REGISTRY_ADDRESS) return undefined;
  const { username, password } = paramsFromRegistrySecret(current);
  return username ? { username, password: password ?? "" } : undefined;
}

/**
 * Over once deckhouse-controller runs with `desired` and every node with the final config of
 * `next`: the time clients get to re-read deckhouse-registry before their old credentials go.
 */
function switchSettled(run: Run, desired: RegistrySecretConfig, next: ModeParams): boolean {
  const { currentRegistry, switcherPod, bashibleSecretExists, nodes, masters } = run.inputs;
  if (!switchReadiness(desired, currentRegistry, switcherPod).ready) return false;
  const ips = masters.flatMap(m => (m.ip ? [m.ip] : []));
  return nodesReadiness(finalConfig(next, ips), bashibleSecretExists, nodes).ready;
}

type Managed = { ca: string } & Credentials;

/**
 * What the in-cluster proxy accepts besides the client credentials of `managed` while a switch
 * into Direct is in progress: the credentials deckhouse-registry carries now, and those it
 * accepted already (the Secret may have changed since). Empty once the switch has settled.
 */
export async function directTransitionClients(
  run: Run,
  managed: Managed,
  next: ModeParams,
): Promise<RegistryUser[]> {
  if (switchSettled(run, desiredRegistrySecret({ managed }), next)) return [];
  const kept = run.state.in_cluster_proxy?.config?.config.transition_clients ?? [];
  const held = heldCredentials(run);
  const candidates: Credentials[] = [
    ...(held ? [held] : []),
    ...kept.map(k => ({ username: k.name, password: k.password })),
  ];
  const out: RegistryUser[] = [];
  const same = (a: Credentials, b: Credentials) =>
    a.username === b.username && a.password === b.password;
  for (const c of candidates) {
    // the same name with another password too: the gateway accepts a user with either of its
    // passwords, so a rotated password overlaps as another user does
    if (same(c, managed) || out.some(u => same(c, { username: u.name, password: u.password })))
      continue;
    const previous = kept.find(k => k.name === c.username && k.password === c.password);
    const hash = await run.deps.ensurePasswordHash(
      c.password,
      previous?.password_hash || undefined,
      previous?.password,
    );
    out.push({ name: c.username, password: c.password, password_hash: hash });
  }
  return out;
}

const SWITCH = "DeckhouseRegistrySwitchReady";

/**
 * The registry switch of Proxy and Local. While the Service selects the in-cluster proxy, the
 * Secret goes first (the proxy accepting `ro` beside what clients hold), the Service after it;
 * otherwise (from Unmanaged, or already there) the Service first, as into Direct.
 */
export async function switchToNodeServices(
  run: Run,
  managed: Managed,
  ro: RegistryUser,
): Promise<boolean> {
  const proxy = run.state.in_cluster_proxy?.config;
  const accepting = proxy && acceptingAlso(proxy, ro);
  if (run.inputs.registryService?.selects !== "incluster-proxy" || !accepting) {
    run.state.registry_service = "node-services";
    return registrySwitch(run, { managed }, "node-services");
  }
  run.beforeStep(SWITCH);
  run.state.registry_service = "incluster-proxy";
  run.state.in_cluster_proxy = { config: accepting };
  const proxyReady = inClusterProxyReadiness(accepting.version, run.inputs.inClusterProxy);
  if (!proxyReady.ready) {
    return run.step(SWITCH, {
      ready: false,
      message: `Waiting for incluster-proxy to accept the new credentials: ${proxyReady.message}`,
    });
  }
  if (!switchDeckhouseRegistry(run, { managed })) return false;
  run.state.registry_service = "node-services";
  return run.step(SWITCH, {
    ready: false,
    message: "Waiting for Service registry to select node-services",
  });
}
