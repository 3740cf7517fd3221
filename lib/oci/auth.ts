// Authentication as the registry asks for it in its `WWW-Authenticate` challenge: Basic
// (credentials sent once the registry asked for them) or Bearer (a token fetched from the realm
// with the credentials, cached per scope, shared by concurrent callers).
import { parseChallenges, TokenCache, type Challenge } from "./challenge";
import { errorDetail } from "./failures";
import { RegistryTransport, type SendRequest } from "./transport";
import type { HttpResponse } from "./http";

type AuthState =
  | { kind: "unknown" }
  | { kind: "none" }
  | { kind: "basic" }
  | { kind: "bearer"; realm: string; service: string | undefined };

type Realm = { realm: string; service: string | undefined };

/** The transport with the challenge flow: what every registry call goes through. */
export class RegistrySession extends RegistryTransport {
  #auth: AuthState = { kind: "unknown" };
  #probe: Promise<void> | undefined;

  /** One request with the challenge flow: at most one retry after a 401. */
  async send(req: SendRequest): Promise<HttpResponse> {
    // until the first answer says how this registry authenticates, one request asks and the
    // others wait: a burst of N requests then costs one challenge and one token, not N
    while (this.#auth.kind === "unknown" && this.#probe) await this.#probe.catch(() => undefined);
    let probeDone: (() => void) | undefined;
    if (this.#auth.kind === "unknown") {
      this.#probe = new Promise<void>(resolve => (probeDone = resolve));
    }
    try {
      return await this.#sendAuthenticated(req);
    } finally {
      if (probeDone) {
        if (this.#auth.kind === "unknown") this.#auth = { kind: "none" };
        this.#probe = undefined;
        probeDone();
      }
    }
  }

  async #sendAuthenticated(req: SendRequest): Promise<HttpResponse> {
    const sent = await this.#authorization(req, false);
    const res = await this.dispatch(req, sent);
    if (res.statusCode !== 401) return res;
    const challenges = parseChallenges(res.headers["www-authenticate"]);
    await res.body.dump();
    const bearer = challenges.find(c => c.scheme === "bearer");
    const basic = challenges.find(c => c.scheme === "basic");
    if (bearer?.params.realm) return this.#answerBearer(req, bearer, sent);
    if (basic) return this.#answerBasic(req, res);
    return res;
  }

  async #answerBearer(
    req: SendRequest,
    bearer: Challenge,
    sent: string | undefined,
  ): Promise<HttpResponse> {
    this.#auth = {
      kind: "bearer",
      realm: bearer.params.realm as string,
      service: bearer.params.service,
    };
    const scopes = bearer.params.scope
      ? [...new Set([...req.scopes, ...bearer.params.scope.split(" ")])]
      : req.scopes;
    // a token we sent was refused (expired, revoked): fetch a fresh one, once
    const refresh = sent?.startsWith("Bearer ") === true;
    return this.dispatch(req, await this.#authorization({ ...req, scopes }, refresh));
  }

  async #answerBasic(req: SendRequest, refused: HttpResponse): Promise<HttpResponse> {
    if (this.basic === undefined) {
      throw this.error("auth", req, "authentication required and no credentials are configured", {
        status: 401,
      });
    }
    const wasSent = this.#auth.kind === "basic";
    this.#auth = { kind: "basic" };
    if (wasSent) return refused;
    return this.dispatch(req, `Basic ${this.basic}`);
  }

  async #authorization(req: SendRequest, refresh: boolean): Promise<string | undefined> {
    const auth = this.#auth;
    switch (auth.kind) {
      case "unknown":
      case "none":
        return undefined;
      case "basic":
        return this.basic === undefined ? undefined : `Basic ${this.basic}`;
      case "bearer": {
        const key = TokenCache.key(auth.realm, auth.service, req.scopes);
        if (refresh) this.tokens.drop(key);
        const token = await this.tokens.get(key, () => this.#fetchToken(auth, req));
        return `Bearer ${token}`;
      }
    }
  }

  async #fetchToken(
    auth: Realm,
    req: SendRequest,
  ): Promise<{ token: string; expiresInSeconds: number }> {
    const url = this.#tokenUrl(auth, req);
    const why = `token from ${url.origin}${url.pathname}`;
    let res: HttpResponse;
    try {
      res = await this.getToken(url, req.signal);
    } catch (err) {
      throw this.wrap(err, req, { prefix: `${why}: `, url });
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      const detail = await errorDetail(res);
      throw this.error(
        "auth",
        req,
        this.basic
          ? `authentication failed: the token server refused the credentials (${res.statusCode}${detail})`
          : `authentication required: the token server refused anonymous access (${res.statusCode}${detail})`,
        { status: res.statusCode },
      );
    }
    if (res.statusCode !== 200) {
      const detail = await errorDetail(res);
      throw this.error("protocol", req, `${why}: HTTP ${res.statusCode}${detail}`, {
        status: res.statusCode,
      });
    }
    return this.#tokenAnswer(res, req, why);
  }

  #tokenUrl(auth: Realm, req: SendRequest): URL {
    let url: URL;
    try {
      url = new URL(auth.realm);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http(s)");
    } catch {
      throw this.error("protocol", req, `token realm "${auth.realm}" is not an http(s) URL`);
    }
    if (auth.service) url.searchParams.set("service", auth.service);
    for (const scope of req.scopes) url.searchParams.append("scope", scope);
    return url;
  }

  async #tokenAnswer(
    res: HttpResponse,
    req: SendRequest,
    why: string,
  ): Promise<{ token: string; expiresInSeconds: number }> {
    let doc: unknown;
    try {
      doc = await res.body.json();
    } catch {
      throw this.error("protocol", req, `${why}: answer is not JSON`);
    }
    const body = doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>) : {};
    const token = typeof body.token === "string" && body.token ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw this.error("protocol", req, `${why}: answer has no token`);
    }
    // the spec's default lifetime when the server does not say
    const expires =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresInSeconds: expires };
  }
}
