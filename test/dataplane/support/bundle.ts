// A Deckhouse-like image bundle: the platform repository, its installer and modules, tags sharing
// base layers, one multi-platform index — pushed with skopeo, compared registry to registry.
import { join } from "node:path";
import type { RegistryClient } from "../../../lib/oci";
import { type OciLayout, pushImage, type Registry, writeOciLayout } from "../../e2e-lab";

export interface BundleImage {
  repository: string;
  tag: string;
  layout: OciLayout;
}

/**
 * `count` images over a few repositories; every image shares one base layer, images of a
 * repository share a second one, each has its own layer of `payloadBytes`.
 */
export async function writeBundle(
  dir: string,
  opts: { count: number; payloadBytes?: number; seed?: string; withIndex?: boolean },
): Promise<BundleImage[]> {
  const seed = opts.seed ?? "bundle";
  const repos = [
    "system/deckhouse",
    "system/deckhouse/install",
    "system/deckhouse/modules/ingress-nginx",
  ];
  const out: BundleImage[] = [];
  for (let i = 0; i < opts.count; i++) {
    const repository = repos[i % repos.length] as string;
    const index = opts.withIndex === true && i === opts.count - 1;
    const tag = `v1.${Math.floor(i / repos.length)}.${i}`;
    const layout = await writeOciLayout(join(dir, `img-${i}`), {
      seed: `${seed}-${i}`,
      tags: [tag],
      payloadBytes: opts.payloadBytes ?? 20_000,
      baseLayers: [
        { seed: `${seed}-base`, payloadBytes: 50_000 },
        { seed: `${seed}-${repository}`, payloadBytes: 10_000 },
      ],
      ...(index ? { platforms: ["linux/amd64", "linux/arm64"] } : {}),
    });
    out.push({ repository, tag, layout });
  }
  return out;
}

export async function pushBundle(
  bundle: readonly BundleImage[],
  registry: Pick<Registry, "hostPort" | "scheme" | "caPem">,
  creds?: { username: string; password: string },
): Promise<void> {
  for (const img of bundle) {
    await pushImage(img.layout, registry, img.repository, {
      tag: img.tag,
      ...(creds ? { creds } : {}),
    });
  }
}

/** repository → tag → digest, everything the registry lists. */
export async function contentOf(
  client: RegistryClient,
): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const repo of (await client.catalog()).sort()) {
    const tags: Record<string, string> = {};
    for (const tag of (await client.listTags(repo)).sort()) {
      tags[tag] = (await client.headManifest(repo, tag)).digest;
    }
    out[repo] = tags;
  }
  return out;
}

/** What the bundle should look like in a registry. */
export function expectedContent(
  bundle: readonly BundleImage[],
): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const img of bundle) (out[img.repository] ??= {})[img.tag] = img.layout.digest;
  return out;
}
