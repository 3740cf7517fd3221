// The manager's view of the cluster: list+watch (client-node informers) of exactly three objects,
// each narrowed by a field selector to its name — the node's config secret, the Node, the
// manager's own Pod. Every change feeds the reconciler. An informer whose watch fails is restarted
// with backoff; a watch the server closes is resumed by the informer itself.
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  type V1Node,
  type V1Pod,
  type V1Secret,
  Watch,
} from "@kubernetes/client-node";
import { errorMessage, type Log } from "../../common/src/log";
import type { ManagerSettings } from "./config";
import { NODE_CONFIG_SECRET_PREFIX } from "../../../lib/dataplane/node-config";
import type { Observed, Reconciler } from "./reconcile";

export interface Watches {
  /** every informer has listed at least once */
  synced(): boolean;
  stop(): Promise<void>;
}

export function secretData(secret: V1Secret | undefined): Observed["secret"] {
  if (!secret) return null;
  const decode = (key: string) => {
    const v = secret.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
  };
  const egressProxy = decode("egress-proxy");
  return {
    config: decode("config"),
    version: decode("version"),
    ...(egressProxy !== undefined ? { egressProxy } : {}),
  };
}

export function nodeData(node: V1Node | undefined): Observed["node"] {
  if (!node) return null;
  const internalIP = node.status?.addresses?.find(a => a.type === "InternalIP")?.address;
  return { labels: { ...(node.metadata?.labels ?? {}) }, ...(internalIP ? { internalIP } : {}) };
}

export function podReady(pod: V1Pod | undefined): boolean | null {
  if (!pod) return null;
  return pod.status?.conditions?.some(c => c.type === "Ready" && c.status === "True") ?? false;
}

export function startWatches(
  kc: KubeConfig,
  settings: ManagerSettings,
  reconciler: Reconciler,
  log: Log,
  opts: { maxBackoffMs?: number } = {},
): Watches {
  const api = kc.makeApiClient(CoreV1Api);
  const watch = new Watch(kc);
  const ns = settings.namespace;
  const secretName = `${NODE_CONFIG_SECRET_PREFIX}${settings.nodeName}`;
  const listed = new Set<string>();
  const informers: { name: string; informer: ListWatch<KubernetesObject> }[] = [];
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  function add<T extends KubernetesObject>(
    name: string,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    fieldSelector: string,
    publish: (obj: T | undefined) => Partial<Observed>,
  ): void {
    const informer: ListWatch<T> = new ListWatch<T>(
      path,
      watch,
      async () => {
        const result = await list();
        listed.add(name);
        return result;
      },
      false,
      undefined,
      fieldSelector,
    );
    const current = () => informer.list()[0];
    const changed = () => {
      if (!stopped)
        void reconciler.update({ ...publish(current()), synced: listed.size === informers.length });
    };
    informer.on("add", changed);
    informer.on("update", changed);
    informer.on("delete", changed);
    let backoff = 500;
    informer.on("connect", () => {
      // connect precedes each (re)list: publish after listing via the list wrapper's effect
      backoff = 500;
    });
    informer.on("error", (err: unknown) => {
      if (stopped) return;
      log.warn("watch failed; restarting", {
        object: name,
        error: errorMessage(err),
        inMs: backoff,
      });
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) void start();
      }, backoff);
      timers.add(t);
      backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 30_000);
    });
    const start = async () => {
      await informer.start();
      // after a (re)list: the object may be gone without a delete event, or everything just synced
      changed();
    };
    informers.push({ name, informer: informer as unknown as ListWatch<KubernetesObject> });
    startAll.push(start);
  }
  const startAll: (() => Promise<void>)[] = [];

  add<V1Secret>(
    "secret",
    `/api/v1/namespaces/${ns}/secrets`,
    () => api.listNamespacedSecret({ namespace: ns, fieldSelector: `metadata.name=${secretName}` }),
    `metadata.name=${secretName}`,
    s => ({ secret: secretData(s) }),
  );
  add<V1Node>(
    "node",
    "/api/v1/nodes",
    () => api.listNode({ fieldSelector: `metadata.name=${settings.nodeName}` }),
    `metadata.name=${settings.nodeName}`,
    n => ({ node: nodeData(n) }),
  );
  if (settings.podName) {
    const podName = settings.podName;
    add<V1Pod>(
      "pod",
      `/api/v1/namespaces/${ns}/pods`,
      () => api.listNamespacedPod({ namespace: ns, fieldSelector: `metadata.name=${podName}` }),
      `metadata.name=${podName}`,
      p => ({ podReady: podReady(p) }),
    );
  }
  for (const start of startAll) void start().catch(() => undefined);

  return {
    synced: () => listed.size === informers.length,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all(informers.map(i => i.informer.stop()));
    },
  };
}
