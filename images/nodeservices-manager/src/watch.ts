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

export interface WatchOptions {
  kc: KubeConfig;
  settings: ManagerSettings;
  reconciler: Reconciler;
  log: Log;
  /** the longest pause before a failed watch is restarted (default 30 s) */
  maxBackoffMs?: number;
}

export function startWatches(options: WatchOptions): Watches {
  const { kc, settings } = options;
  const api = kc.makeApiClient(CoreV1Api);
  const ns = settings.namespace;
  const secretName = `${NODE_CONFIG_SECRET_PREFIX}${settings.nodeName}`;
  const set = new WatchSet(new Watch(kc), options);

  set.add<V1Secret>({
    name: "secret",
    path: `/api/v1/namespaces/${ns}/secrets`,
    list: () =>
      api.listNamespacedSecret({ namespace: ns, fieldSelector: `metadata.name=${secretName}` }),
    fieldSelector: `metadata.name=${secretName}`,
    publish: s => ({ secret: secretData(s) }),
  });
  set.add<V1Node>({
    name: "node",
    path: "/api/v1/nodes",
    list: () => api.listNode({ fieldSelector: `metadata.name=${settings.nodeName}` }),
    fieldSelector: `metadata.name=${settings.nodeName}`,
    publish: n => ({ node: nodeData(n) }),
  });
  if (settings.podName) {
    const podName = settings.podName;
    set.add<V1Pod>({
      name: "pod",
      path: `/api/v1/namespaces/${ns}/pods`,
      list: () =>
        api.listNamespacedPod({ namespace: ns, fieldSelector: `metadata.name=${podName}` }),
      fieldSelector: `metadata.name=${podName}`,
      publish: p => ({ podReady: podReady(p) }),
    });
  }
  set.startAll();
  return set;
}

/** One object the manager watches, and the part of Observed it feeds. */
interface WatchedObject<T extends KubernetesObject> {
  /** for logs and the synced count */
  name: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  fieldSelector: string;
  publish: (obj: T | undefined) => Partial<Observed>;
}

/** The informers of one manager: they report synced together and stop together. */
class WatchSet implements Watches {
  readonly #listed = new Set<string>();
  readonly #informers: { name: string; informer: ListWatch<KubernetesObject> }[] = [];
  readonly #starts: (() => Promise<void>)[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(
    readonly watch: Watch,
    readonly options: Pick<WatchOptions, "reconciler" | "log" | "maxBackoffMs">,
  ) {}

  synced(): boolean {
    return this.#listed.size === this.#informers.length;
  }

  add<T extends KubernetesObject>(object: WatchedObject<T>): void {
    const { name } = object;
    const informer: ListWatch<T> = new ListWatch<T>(
      object.path,
      this.watch,
      async () => {
        const result = await object.list();
        this.#listed.add(name);
        return result;
      },
      false,
      undefined,
      object.fieldSelector,
    );
    const changed = () => {
      if (this.#stopped) return;
      void this.options.reconciler.update({
        ...object.publish(informer.list()[0]),
        synced: this.synced(),
      });
    };
    informer.on("add", changed);
    informer.on("update", changed);
    informer.on("delete", changed);
    const start = async () => {
      await informer.start();
      // after a (re)list: the object may be gone without a delete event, or everything just synced
      changed();
    };
    this.#restartOnError(name, informer, start);
    this.#informers.push({ name, informer: informer as unknown as ListWatch<KubernetesObject> });
    this.#starts.push(start);
  }

  /** A failed watch starts again after a pause that doubles up to maxBackoffMs. */
  #restartOnError<T extends KubernetesObject>(
    name: string,
    informer: ListWatch<T>,
    start: () => Promise<void>,
  ): void {
    let backoff = 500;
    informer.on("connect", () => {
      // connect precedes each (re)list: publish after listing via the list wrapper's effect
      backoff = 500;
    });
    informer.on("error", (err: unknown) => {
      if (this.#stopped) return;
      this.options.log.warn("watch failed; restarting", {
        object: name,
        error: errorMessage(err),
        inMs: backoff,
      });
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (!this.#stopped) void start();
      }, backoff);
      this.#timers.add(t);
      backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 30_000);
    });
  }

  startAll(): void {
    for (const start of this.#starts) void start().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    await Promise.all(this.#informers.map(i => i.informer.stop()));
  }
}
