// The distribution API's routes (distribution spec "endpoints"), the action each request needs
// under the ACL, and the path alias between the local repository path and the upstream's.
import { REPOSITORY_NAME } from "../../../lib/dataplane/gateway-config";

export type Route =
  | { kind: "base" }
  | { kind: "catalog" }
  | { kind: "tags"; name: string }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "upload"; name: string; session?: string }
  | { kind: "referrers"; name: string; digest: string }
  | { kind: "unknown" };

const NAME = REPOSITORY_NAME.source.slice(1, -1);
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+";
const ROUTES: readonly [RegExp, (m: RegExpExecArray) => Route][] = [
  [/^\/v2\/?$/, () => ({ kind: "base" })],
  [/^\/v2\/_catalog$/, () => ({ kind: "catalog" })],
  [new RegExp(`^/v2/(${NAME})/tags/list$`), m => ({ kind: "tags", name: g(m, 1) })],
  [
    new RegExp(`^/v2/(${NAME})/manifests/(${TAG}|${DIGEST})$`),
    m => ({ kind: "manifest", name: g(m, 1), reference: g(m, 2) }),
  ],
  [
    new RegExp(`^/v2/(${NAME})/blobs/uploads/([^/]*)$`),
    m => ({ kind: "upload", name: g(m, 1), session: m[2] || undefined }),
  ],
  [
    new RegExp(`^/v2/(${NAME})/blobs/(${DIGEST})$`),
    m => ({ kind: "blob", name: g(m, 1), digest: g(m, 2) }),
  ],
  [
    new RegExp(`^/v2/(${NAME})/referrers/(${DIGEST})$`),
    m => ({ kind: "referrers", name: g(m, 1), digest: g(m, 2) }),
  ],
];

function g(m: RegExpExecArray, i: number): string {
  return m[i] ?? "";
}

/** Classifies a request path (without the query string). */
export function parseRoute(pathname: string): Route {
  for (const [re, make] of ROUTES) {
    const m = re.exec(pathname);
    if (m) return make(m);
  }
  return { kind: "unknown" };
}

export function routeName(route: Route): string | undefined {
  switch (route.kind) {
    case "tags":
    case "manifest":
    case "blob":
    case "upload":
    case "referrers":
      return route.name;
    case "base":
    case "catalog":
    case "unknown":
      return undefined;
  }
}

/** What the ACL grants: `pull` reads repositories, `push` writes them, `catalog` lists them. */
export type Action = "pull" | "push" | "catalog";

/** The action a request needs; undefined for the base endpoint (any authenticated user). */
export function requiredAction(route: Route, method: string): Action | undefined {
  const read = method === "GET" || method === "HEAD";
  switch (route.kind) {
    case "base":
    case "unknown":
      return undefined;
    case "catalog":
      return "catalog";
    case "tags":
    case "referrers":
      return read ? "pull" : "push";
    case "manifest":
    case "blob":
      return read ? "pull" : "push";
    case "upload":
      return "push";
  }
}

/** Maps the local repository path (`system/deckhouse[/…]`) to the upstream's and back. */
export class PathAlias {
  constructor(
    readonly localPath: string,
    readonly upstreamPath: string,
  ) {}

  /** Upstream name for a local name; undefined when the name is outside the alias. */
  toUpstream(name: string): string | undefined {
    if (name === this.localPath) return this.upstreamPath;
    if (name.startsWith(`${this.localPath}/`))
      return this.upstreamPath + name.slice(this.localPath.length);
    return undefined;
  }

  /** Local name for an upstream name; undefined when the name is outside the upstream path. */
  toLocal(name: string): string | undefined {
    if (name === this.upstreamPath) return this.localPath;
    if (name.startsWith(`${this.upstreamPath}/`))
      return this.localPath + name.slice(this.upstreamPath.length);
    return undefined;
  }
}

/** The route with its repository name mapped to the upstream's; undefined outside the alias. */
export function toUpstreamRoute(route: Route, alias: PathAlias): Route | undefined {
  switch (route.kind) {
    case "base":
    case "catalog":
    case "unknown":
      return route;
    case "tags":
    case "manifest":
    case "blob":
    case "upload":
    case "referrers": {
      const name = alias.toUpstream(route.name);
      return name === undefined ? undefined : { ...route, name };
    }
  }
}
