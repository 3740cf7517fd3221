// The adversarial request generator shared by the fuzz suite (`npm test`, bounded) and `npm run
// fuzz` (longer): raw HTTP/1.1 requests from a fixed seed — malformed request lines and targets,
// header and body edge cases, random method/path/header combinations — sent one per connection to
// a running gateway, loopback only. Each case is reproducible from (seed, index).
import { basicAuth, openSocket, type RawTarget } from "./raw";

/** mulberry32: small, fast, and the same sequence on every machine for a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzCase {
  index: number;
  /** what was sent, for the failure message */
  bytes: Buffer;
  /** framing is broken on purpose (truncated body, bad chunk): a close without status is fine */
  broken: boolean;
  /**
   * the request line has no HTTP version: an HTTP/0.9 simple request, whose answer by protocol
   * is a bare body without status line (nginx answers so): a prompt close without status is fine
   */
  simple: boolean;
  /** the request line itself is one the gateway must not crash on */
  label: string;
}

export interface FuzzCreds {
  ro: { name: string; password: string };
  rw: { name: string; password: string };
  digest: string;
}

const METHODS = [
  "GET",
  "GET",
  "GET",
  "GET",
  "HEAD",
  "GET",
  "HEAD",
  "PUT",
  "POST",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "TRACE",
  "CONNECT",
  "PROPFIND",
  "get",
  "G\u00e9T",
  "",
  "GET GET",
];
const TARGETS = [
  "/v2/",
  "/v2",
  "/v2/_catalog",
  "/v2/_catalog?n=0",
  "/v2/_catalog?n=-1&last=%ff",
  "/v2/system/deckhouse/tags/list",
  "/v2/system/deckhouse/tags/list?n=0",
  "/v2/system/deckhouse/tags/list?n=1&last=",
  "/v2/system/deckhouse/tags/list?n=99999999999999999999",
  "/v2/system/deckhouse/manifests/v1",
  "/v2/system/deckhouse/manifests/{digest}",
  "/v2/system/deckhouse/manifests/sha256:0000",
  "/v2/system/deckhouse/blobs/{digest}",
  "/v2/system/deckhouse/blobs/sha256:" + "f".repeat(64),
  "/v2/system/deckhouse/blobs/uploads/",
  "/v2/system/deckhouse/blobs/uploads/00000000-0000-0000-0000-000000000000",
  "/v2/system/deckhouse/referrers/{digest}",
  "/v2/other/repo/manifests/v1",
  "/v2/system/deckhouse/../../etc/passwd",
  "/v2/system/deckhouse/%2e%2e/manifests/v1",
  "/v2/system//deckhouse/manifests/v1",
  "/v2/SYSTEM/deckhouse/manifests/v1",
  "/v2/" + "a/".repeat(300) + "manifests/v1",
  "/v2/" + "a-".repeat(2000) + "a/tags/list",
  "/metrics",
  "/token",
  "/token?scope=repository:system/deckhouse:pull",
  "*",
  "",
  "http://[",
  "//[",
  "http://a:99999/",
  "http://gateway/v2/",
  "https://evil.example/v2/system/deckhouse/manifests/v1",
  "/v2/\u0000",
  "/v2/%00",
  "/v2/%",
  "/v2/?" + "x=".repeat(4000),
  "v2/",
  "/v2/ /x",
];
const VERSIONS = [
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.1",
  "HTTP/1.0",
  "HTTP/2.0",
  "HTTP/1.7",
  "HTTP/x",
  "",
];
const ACCEPTS = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json",
  "*/*",
  "",
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** The `index`th case of `seed`. */
export function fuzzCase(seed: number, index: number, creds: FuzzCreds): FuzzCase {
  const r = prng(seed * 1_000_003 + index);
  const method = pick(r, METHODS);
  const target = pick(r, TARGETS).replace("{digest}", creds.digest);
  const version = pick(r, VERSIONS);
  const headers: string[] = [];
  let broken = false;
  if (r() < 0.9)
    headers.push(
      `Host: ${pick(r, ["localhost", "localhost", "localhost", "registry.d8-system.svc:5001", "", "[", "a".repeat(300)])}`,
    );
  const auth = r();
  if (auth < 0.35) headers.push(`Authorization: ${basicAuth(creds.ro.name, creds.ro.password)}`);
  // rw may write, but never delete: a DELETE of the image under test would fail the legitimate
  // pull that follows for reasons that are no fault of the gateway
  else if (auth < 0.55)
    headers.push(
      `Authorization: ${method === "DELETE" ? basicAuth(creds.ro.name, creds.ro.password) : basicAuth(creds.rw.name, creds.rw.password)}`,
    );
  else if (auth < 0.62)
    headers.push(`Authorization: ${basicAuth(creds.ro.name, `guess-${Math.floor(r() * 1e6)}`)}`);
  else if (auth < 0.7)
    headers.push(
      `Authorization: ${pick(r, ["Basic", "Basic ", "Basic %%%", "Basic " + "A".repeat(10_000), "Bearer x.y.z", "Basic Og==", basicAuth("", "x")])}`,
    );
  if (r() < 0.5) headers.push(`Accept: ${pick(r, ACCEPTS)}`);
  if (r() < 0.15)
    headers.push(
      `Range: ${pick(r, ["bytes=0-0", "bytes=5-1", "bytes=999999999-", "bytes=-5", "bytes=0-1,3-4", "chars=0-1", "bytes=a-b"])}`,
    );
  if (r() < 0.1) headers.push(`X-Forwarded-For: 6.6.6.6`, `X-Forwarded-Host: evil.example`);
  if (r() < 0.05) headers.push(`Expect: 100-continue`);
  if (r() < 0.05)
    headers.push(`Connection: ${pick(r, ["close", "upgrade", "keep-alive, x-drop"])}`);
  if (r() < 0.05) headers.push(`Upgrade: ${pick(r, ["websocket", "h2c"])}`);
  if (r() < 0.05) headers.push(`X-Big: ${"b".repeat(Math.floor(r() * 20_000))}`);
  if (r() < 0.03) headers.push("Bad Header Without Colon");
  if (r() < 0.03) headers.push(`X-Ctl: a\u0001b`);

  let body = Buffer.alloc(0);
  const bodyKind = r();
  if (bodyKind < 0.2) {
    body = Buffer.from("x".repeat(Math.floor(r() * 64)));
    headers.push(`Content-Length: ${body.length}`);
  } else if (bodyKind < 0.27) {
    // declared but short: the server must not wait for ever (the client half-closes)
    const declared = 10 + Math.floor(r() * 100);
    body = Buffer.from("y".repeat(Math.floor(declared / 2)));
    headers.push(`Content-Length: ${declared}`);
    broken = true;
  } else if (bodyKind < 0.32) {
    headers.push("Transfer-Encoding: chunked");
    body = Buffer.from(
      pick(r, ["5\r\nhello\r\n0\r\n\r\n", "zz\r\nbad\r\n", "5\r\nhel", "0\r\n\r\n"]),
    );
    broken = !body.toString().endsWith("0\r\n\r\n");
  } else if (bodyKind < 0.35) {
    headers.push("Content-Length: 3", "Content-Length: 4");
    body = Buffer.from("abcd");
  } else if (bodyKind < 0.37) {
    headers.push("Content-Length: 3", "Transfer-Encoding: chunked");
    body = Buffer.from("0\r\n\r\n");
  } else if (bodyKind < 0.4) {
    headers.push(`Content-Length: ${pick(r, ["-1", "abc", "99999999999999999999", " 5"])}`);
  }
  const line = `${method} ${target} ${version}`.trim();
  const bytes = Buffer.concat([
    Buffer.from(`${line}\r\n${headers.join("\r\n")}\r\n\r\n`, "latin1"),
    body,
  ]);
  return { index, bytes, broken, simple: version === "", label: line.slice(0, 120) };
}

export interface FuzzOutcome {
  index: number;
  label: string;
  status?: number;
  closed: boolean;
  timedOut: boolean;
  broken: boolean;
  simple: boolean;
}

/** Sends one case on its own connection; half-closes after writing, waits for a status or close. */
export async function sendCase(
  target: RawTarget,
  c: FuzzCase,
  timeoutMs: number,
): Promise<FuzzOutcome> {
  let s;
  try {
    s = await openSocket(target);
  } catch {
    return {
      index: c.index,
      label: c.label,
      closed: true,
      timedOut: false,
      broken: c.broken,
      simple: c.simple,
    };
  }
  const socket = s;
  return new Promise(resolve => {
    let text = "";
    let done = false;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        index: c.index,
        label: c.label,
        ...(m ? { status: Number(m[1]) } : {}),
        closed,
        timedOut,
        broken: c.broken,
        simple: c.simple,
      });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    socket.on("data", (b: Buffer) => {
      text += b.toString("latin1");
      // a 100 Continue is not the answer: drop it and read on
      text = text.replace(/^(?:HTTP\/1\.[01] 100 [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, "");
      if (/^HTTP\/1\.[01] \d{3}[^\r]*\r\n/.test(text)) finish(false, false);
    });
    socket.on("error", () => finish(true, false));
    socket.on("close", () => finish(true, false));
    socket.write(c.bytes, () => {
      // the case is all there is: a body that was declared longer will never come
      if (c.broken) socket.end();
    });
  });
}

export interface FuzzReport {
  sent: number;
  statuses: Record<string, number>;
  /** cases a well-framed HTTP/1.x request got no status for, or any case that hung */
  failures: FuzzOutcome[];
}

/** Runs cases [from, from+count) of `seed`, `parallel` at a time. */
export async function runFuzz(
  target: RawTarget,
  creds: FuzzCreds,
  opts: { seed: number; count: number; from?: number; parallel?: number; timeoutMs?: number },
): Promise<FuzzReport> {
  const from = opts.from ?? 0;
  const parallel = opts.parallel ?? 4;
  const statuses: Record<string, number> = {};
  const failures: FuzzOutcome[] = [];
  let next = from;
  const worker = async (): Promise<void> => {
    while (next < from + opts.count) {
      const c = fuzzCase(opts.seed, next++, creds);
      const o = await sendCase(target, c, opts.timeoutMs ?? 15_000);
      const key = o.status !== undefined ? String(o.status) : o.timedOut ? "hung" : "closed";
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (o.timedOut || (o.status === undefined && !o.broken && !o.simple)) failures.push(o);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { sent: opts.count, statuses, failures };
}
