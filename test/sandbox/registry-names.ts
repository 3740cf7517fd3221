// The names the sandbox's clients pull by, following Secret d8-system/deckhouse-registry through
// an API watch. A client of a real cluster takes its image names from the objects it runs from
// as they are when it pulls; the module drops the previous registry's host configuration on the
// nodes a second or two after it switched the Secret (FinalContainerdConfigReady), so a pull
// loop reading the Secret on a 1 s poll still pulled by the old name after that and failed
// (x509: certificate signed by unknown authority) though nothing a real client sees was wrong.
// A watch delivers the change within milliseconds of the write.
//
// Ordering: the module changes the Secret only after Service `registry` selects pods that accept
// what the Secret will say (docs/adr/0122): a new address, or new credentials at the same fixed
// address (Local → Direct: node services accept `ro` only, the in-cluster proxy also the
// upstream's). The sandbox's stand-in for cluster DNS follows the Service on a loop of its own,
// so before a changed Secret is handed out `beforeChange` runs (the in-cluster client's
// /etc/hosts brought up to date from a read made after this event): no client is sent to a name
// its resolver does not know yet, or with credentials for pods it does not resolve to yet.
//
//   const names = await followDeckhouseRegistry(kc, { images, beforeChange });
//   names.images(); names.access(host); await names.stop();
import { type KubeConfig, Watch } from "@kubernetes/client-node";
import type { RegistryAccess } from "./incluster";

const NS = "d8-system";
const SECRET = "deckhouse-registry";

export interface RegistryNames {
  /** The image references to pull now (from the last event of the watch). */
  images(): string[];
  /** What deckhouse-registry said last about a registry address (creds and CA). */
  access(address: string): RegistryAccess;
  /** Errors of the watch (it restarts after each). */
  readonly errors: string[];
  stop(): Promise<void>;
}

export interface FollowOptions {
  /** The references to pull from a repository base `<address><path>`. */
  images: (base: string) => string[];
  /** Awaited before a changed Secret is handed out (the DNS stand-in catching up). */
  beforeChange?: () => Promise<void>;
  /** How long to wait for the Secret's first event; default 30 s. */
  timeoutMs?: number;
}

interface SecretObject {
  metadata?: { name?: string };
  data?: Record<string, string>;
}

const fromB64 = (s: string | undefined): string =>
  s ? Buffer.from(s, "base64").toString("utf8") : "";

/** Address, base and access of a deckhouse-registry Secret's data. */
export function readRegistrySecret(data: Record<string, string>): {
  address: string;
  base: string;
  access: RegistryAccess;
} {
  const address = fromB64(data.address);
  const auths = (
    JSON.parse(fromB64(data[".dockerconfigjson"]) || "{}") as {
      auths?: Record<string, { auth?: string }>;
    }
  ).auths;
  const auth = auths?.[address]?.auth;
  return {
    address,
    base: `${address}${fromB64(data.path)}`,
    access: {
      ...(auth ? { creds: fromB64(auth) } : {}),
      ...(data.ca ? { ca: fromB64(data.ca) } : {}),
    },
  };
}

export async function followDeckhouseRegistry(
  kc: KubeConfig,
  opts: FollowOptions,
): Promise<RegistryNames> {
  const access = new Map<string, RegistryAccess>();
  const errors: string[] = [];
  /** the last Secret data handed out */
  let current: string | undefined;
  let images: string[] = [];
  let stopped = false;
  let controller: AbortController | undefined;
  // events are handled one at a time, in the order the API server sent them
  let queue: Promise<void> = Promise.resolve();
  let first: (() => void) | undefined;
  const firstEvent = new Promise<void>(resolve => (first = resolve));

  const apply = async (secret: SecretObject): Promise<void> => {
    const read = readRegistrySecret(secret.data ?? {});
    const text = JSON.stringify(read);
    if (text === current) return;
    if (current !== undefined) await opts.beforeChange?.();
    access.set(read.address, read.access);
    images = opts.images(read.base);
    current = text;
    first?.();
  };

  const start = async (): Promise<void> => {
    // no resourceVersion: the server first sends the Secret as it is now (ADDED), then changes
    controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/secrets`,
      { fieldSelector: `metadata.name=${SECRET}` },
      (phase, object: SecretObject) => {
        if (phase !== "ADDED" && phase !== "MODIFIED") return;
        queue = queue.then(() => apply(object)).catch((e: Error) => void errors.push(e.message));
      },
      (err: unknown) => {
        if (err) errors.push(err instanceof Error ? err.message : String(err));
        if (!stopped) setTimeout(() => void restart(), 200);
      },
    );
  };
  const restart = async (): Promise<void> => {
    if (stopped) return;
    await start().catch((e: Error) => {
      errors.push(e.message);
      if (!stopped) setTimeout(() => void restart(), 500);
    });
  };

  await start();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      firstEvent,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Secret ${NS}/${SECRET}: no watch event within ${timeoutMs} ms` +
                  (errors.length ? ` (${errors.at(-1)})` : ""),
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    stopped = true;
    controller?.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  return {
    images: () => images,
    access: a => access.get(a) ?? {},
    errors,
    async stop() {
      stopped = true;
      controller?.abort();
      await queue;
    },
  };
}
