// The egress proxy section of a data-plane config file (the gateway's `upstream.proxy`, the node
// config secret's `egress-proxy`): `{httpProxy, httpsProxy, noProxy: [...]}`, checked by the same
// rules lib/oci applies when it routes (docs/adr/0090, 0102). Problems name the field and never
// echo the value: a proxy URL may carry a password.
import { EgressProxyError, EgressRoutes, type EgressProxy } from "../oci/proxy";
import type { Section } from "../validation/reader";

export function readEgressProxy(s: Section): EgressProxy | undefined {
  const httpProxy = s.string("httpProxy");
  const httpsProxy = s.string("httpsProxy");
  const noProxy = s.strings("noProxy");
  s.noOtherKeys();
  if (!httpProxy && !httpsProxy) {
    s.reject("httpsProxy", "httpProxy or httpsProxy is required");
    return undefined;
  }
  const proxy: EgressProxy = {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy: noProxy ?? [],
  };
  try {
    new EgressRoutes(proxy);
  } catch (e) {
    if (!(e instanceof EgressProxyError)) throw e;
    // EgressRoutes' messages start with the setting's name (NO_PROXY, httpProxy, httpsProxy)
    const field = e.message.startsWith("NO_PROXY")
      ? "noProxy"
      : e.message.startsWith("httpProxy")
        ? "httpProxy"
        : "httpsProxy";
    s.reject(field, e.message.replace(/^\S+ /, ""));
    return undefined;
  }
  return proxy;
}
