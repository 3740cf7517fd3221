// What an image is made of: its manifests (children before the index that lists them, the order a
// registry accepts them in) and the blobs they reference, each digest once.
import type { Descriptor, ManifestDocument } from "../oci/manifest";

export interface ManifestNode {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  document: ManifestDocument;
}

export interface ImageGraph {
  /** Children first; the root last. */
  manifests: ManifestNode[];
  /** Configs and layers, each digest once, in first-seen order. */
  blobs: Descriptor[];
}

export type LoadManifest = (descriptor: Descriptor) => Promise<ManifestNode>;

export async function walkImage(root: Descriptor, load: LoadManifest): Promise<ImageGraph> {
  const manifests: ManifestNode[] = [];
  const blobs = new Map<string, Descriptor>();
  const seen = new Set<string>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    const node = await load(descriptor);
    const doc = node.document;
    switch (doc.kind) {
      case "index":
        // every platform: a Local registry serves whichever architecture the nodes run
        for (const child of doc.manifests) await visit(child);
        break;
      case "manifest":
        for (const blob of [doc.config, ...doc.layers]) {
          if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob);
        }
        break;
    }
    manifests.push(node);
  };
  await visit(root);
  return { manifests, blobs: [...blobs.values()] };
}
