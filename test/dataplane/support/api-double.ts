// An in-process stand-in for the Kubernetes API server's list and watch of core/v1 secrets, nodes
// and pods — only what nodeservices-manager's informers call. It starts in milliseconds where the
// lab's real API server (docs/peers.md#kubernetes-api-server) takes seconds and cannot inject
// 410 Gone on demand: the manager's watch loop is tested against this double,
// speaking the real wire protocol (JSON list, chunked JSON-lines watch, resourceVersion, 410 Gone)
// to the real @kubernetes/client-node.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

type Kind = "secrets" | "nodes" | "pods";
interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown };
  [k: string]: unknown;
}
interface Event {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  kind: Kind;
  object: Obj;
}

export interface ApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

export class ApiDouble {
  readonly requests: ApiRequest[] = [];
  #rv = 100;
  #objects = new Map<string, Obj>();
  #events: Event[] = [];
  #watchers = new Set<{ kind: Kind; ns?: string; name?: string; res: ServerResponse }>();
  #server = createServer((req, res) => this.#handle(req, res));
  /** events older than this resourceVersion are compacted: watches from before get 410 Gone */
  #compactedBelow = 0;
  url = "";

  async start(): Promise<void> {
    await new Promise<void>(resolve => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.#watchers) w.res.destroy();
    await new Promise<void>(resolve => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "double", server: this.url, skipTLSVerify: true }],
      users: [{ name: "manager", token: "double-token" }],
      contexts: [{ name: "double", cluster: "double", user: "manager" }],
      currentContext: "double",
    });
    return kc;
  }

  /** Creates or replaces an object; watchers see ADDED or MODIFIED. */
  put(kind: Kind, object: Obj): void {
    const key = this.#key(kind, object.metadata.namespace, object.metadata.name);
    const existed = this.#objects.has(key);
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.#rv);
    this.#objects.set(key, stored);
    this.#emit({ rv: this.#rv, type: existed ? "MODIFIED" : "ADDED", kind, object: stored });
  }

  delete(kind: Kind, namespace: string | undefined, name: string): void {
    const key = this.#key(kind, namespace, name);
    const obj = this.#objects.get(key);
    if (!obj) return;
    this.#objects.delete(key);
    const gone = structuredClone(obj);
    gone.metadata.resourceVersion = String(++this.#rv);
    this.#emit({ rv: this.#rv, type: "DELETED", kind, object: gone });
  }

  /** Closes every open watch, as an API server does at its timeout or on restart. */
  closeWatches(): void {
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  /** Forgets the event history: resuming watches get `410 Gone` and must list again. */
  compact(): void {
    this.#compactedBelow = this.#rv + 1;
    this.#events = [];
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  #key(kind: Kind, ns: string | undefined, name: string): string {
    return `${kind}/${ns ?? ""}/${name}`;
  }

  #emit(e: Event): void {
    this.#events.push(e);
    for (const w of this.#watchers) if (this.#matches(w, e.kind, e.object)) this.#send(w.res, e);
  }

  #matches(w: { kind: Kind; ns?: string; name?: string }, kind: Kind, o: Obj): boolean {
    return (
      w.kind === kind &&
      (w.ns === undefined || w.ns === o.metadata.namespace) &&
      (w.name === undefined || w.name === o.metadata.name)
    );
  }

  #send(res: ServerResponse, e: { type: string; object: unknown }): void {
    res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? "", path: url.pathname, query });
    if (req.headers.authorization !== "Bearer double-token") {
      res.writeHead(401, { "content-type": "application/json" }).end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          code: 401,
          reason: "Unauthorized",
        }),
      );
      return;
    }
    const m =
      /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(secrets|nodes|pods)$/.exec(url.pathname) ?? undefined;
    if (!m || req.method !== "GET") {
      res.writeHead(404, { "content-type": "application/json" }).end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          code: 404,
          reason: "NotFound",
        }),
      );
      return;
    }
    const ns = m[1];
    const kind = m[2] as Kind;
    const selector = query.fieldSelector ?? "";
    const nameMatch = /^metadata\.name=(.+)$/.exec(selector);
    if (selector && !nameMatch) {
      res.writeHead(400).end("only metadata.name field selectors are supported by the double");
      return;
    }
    const filter = { kind, ns, name: nameMatch?.[1] };
    if (query.watch === "true") {
      const from = Number(query.resourceVersion ?? "0");
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      // as the API server does: the watch is established before any event (an empty watch
      // whose headers never came left the informer starting for ever)
      res.flushHeaders();
      if (from > 0 && from < this.#compactedBelow) {
        this.#send(res, {
          type: "ERROR",
          object: {
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            code: 410,
            reason: "Expired",
            message: "too old resource version",
          },
        });
        res.end();
        return;
      }
      const w = { ...filter, res };
      this.#watchers.add(w);
      res.on("close", () => this.#watchers.delete(w));
      for (const e of this.#events)
        if (e.rv > from && this.#matches(w, e.kind, e.object)) this.#send(res, e);
      return;
    }
    const items = [...this.#objects.entries()]
      .filter(([k, o]) => k.startsWith(`${kind}/`) && this.#matches(filter, kind, o))
      .map(([, o]) => o);
    const listKind = { secrets: "SecretList", nodes: "NodeList", pods: "PodList" }[kind];
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        kind: listKind,
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.#rv) },
        items,
      }),
    );
  }
}
