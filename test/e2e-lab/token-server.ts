// A small Docker registry v2 bearer token server, in process, for distribution's `auth.token`.
//
//   const signer = await createTokenSigner(join(dir, "pki"));
//   const tokens = await startTokenServer({ signer, users: { alice: "secret" } });
//   const reg = await startRegistry({ tokenAuth: tokens.registryAuth("e2e-registry") });
//   tokens.requests    // every request: scopes, service, user (or "anonymous"/"bad"), status
//   await tokens.stop()   // or stopAll()
//
// GET <realm>?service=S&scope=repository:NAME:ACTIONS (Basic auth) → {token, access_token,
// expires_in, issued_at}; the JWT is ES256 with the signer certificate in `x5c`, which is how
// distribution 2.8 verifies it against `rootcertbundle` without a libtrust `kid`. Bad credentials
// → 401. Anonymous requests get a token without access unless `anonymousPull` is set.
import { createPrivateKey, randomUUID, sign, type KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TokenSigner } from "./pki";
import { trackCloser } from "./process";

export interface TokenServerOptions {
  signer: TokenSigner;
  /** user → password */
  users: Record<string, string>;
  issuer?: string;
  /** Loopback address to listen on; default 127.0.0.1. */
  host?: string;
  /** Token lifetime in seconds (the `expires_in` field); default 300. */
  expiresIn?: number;
  /** Anonymous clients get pull access (like public repositories); default false. */
  anonymousPull?: boolean;
}

export interface TokenRequest {
  service: string | null;
  scopes: string[];
  user: string;
  status: number;
}

export interface RegistryTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle: string;
}

export interface TokenServer {
  realm: string;
  issuer: string;
  requests: TokenRequest[];
  /** The `auth.token` section for a registry using this server. */
  registryAuth(service: string): RegistryTokenAuth;
  stop(): Promise<void>;
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

const ACTIONS = new Set(["pull", "push", "delete", "*"]);

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const issuer = options.issuer ?? "e2e-issuer";
  const key = createPrivateKey(options.signer.keyPem);
  const x5c = options.signer.certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const requests: TokenRequest[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://token.invalid");
    const scopes = url.searchParams.getAll("scope").flatMap(s => s.split(" ").filter(Boolean));
    const service = url.searchParams.get("service");
    const user = authenticate(req.headers.authorization, options.users);
    const respond = (status: number, body: string, headers: Record<string, string> = {}): void => {
      requests.push({ service, scopes, user: user ?? "bad", status });
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(body);
    };
    if (url.pathname !== "/auth") return respond(404, "{}");
    if (user === undefined) {
      return respond(401, '{"details":"bad credentials"}', {
        "www-authenticate": 'Basic realm="e2e-token"',
      });
    }
    const access: Access[] =
      user === "anonymous" && !options.anonymousPull
        ? []
        : scopes.map(scope => parseScope(scope, user === "anonymous"));
    const expiresIn = options.expiresIn ?? 300;
    const token = jwt(key, x5c, {
      iss: issuer,
      sub: user === "anonymous" ? "" : user,
      aud: service ?? "",
      access,
      expiresIn,
    });
    respond(
      200,
      JSON.stringify({
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date().toISOString(),
      }),
    );
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 1_000;
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise(resolve => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const untrack = trackCloser(close);
  return {
    realm: `http://${host}:${port}/auth`,
    issuer,
    requests,
    registryAuth: service => ({
      realm: `http://${host}:${port}/auth`,
      service,
      issuer,
      rootcertbundle: options.signer.cert,
    }),
    stop: async () => {
      untrack();
      await close();
    },
  };
}

/** "anonymous" without credentials, the user name when they match, undefined when they do not. */
function authenticate(
  header: string | undefined,
  users: Record<string, string>,
): string | undefined {
  if (!header) return "anonymous";
  if (!header.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  const name = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return Object.hasOwn(users, name) && users[name] === password ? name : undefined;
}

function parseScope(scope: string, anonymous: boolean): Access {
  // type:name:actions — a name may carry a registry port ("host:5000/repo"), so split at the ends
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  const type = scope.slice(0, first);
  const name = first === last ? "" : scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(",")
    .filter(a => ACTIONS.has(a) && (!anonymous || a === "pull"));
  return { type, name, actions };
}

function jwt(
  key: KeyObject,
  x5c: string,
  claims: { iss: string; sub: string; aud: string; access: Access[]; expiresIn: number },
): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input =
    b64({ typ: "JWT", alg: "ES256", x5c: [x5c] }) +
    "." +
    b64({
      iss: claims.iss,
      sub: claims.sub,
      aud: claims.aud,
      exp: now + claims.expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access: claims.access,
    });
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}
