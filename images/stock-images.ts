// Stock images the module's templates reference, pinned by digest (tag for humans, digest for
// kubelet). The digests are the multi-arch index digests of the Docker Hub official images as
// published in public build files; this machine has no route to Docker Hub, so re-check them where
// there is one: `skopeo inspect --format '{{.Digest}}' docker://<repository>:<tag>`.
//
// distribution 2.8.x is what the data plane is tested against (Debian's docker-registry 2.8.2 in
// CI); its proxy cache behaves as docs/peers.md#distribution-as-a-pull-through-cache describes.
// nginx is the per-node registry-proxy (stream module included in the official image). Our own
// image is built from scratch (images/oci-image.ts), with no base image.

export interface PinnedImage {
  repository: string;
  tag: string;
  digest: string;
}

export const STOCK_IMAGES = {
  distribution: {
    repository: "docker.io/library/registry",
    tag: "2.8.3",
    digest: "sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373",
  },
  nginx: {
    repository: "docker.io/library/nginx",
    tag: "1.27.4-alpine",
    digest: "sha256:4ff102c5d78d254a6f0da062b3cf39eaf07f01eec0927fd21e219d0af8bc0591",
  },
} as const satisfies Record<string, PinnedImage>;

/** `repository:tag@digest`, what a pod spec carries. */
export function imageReference(image: PinnedImage): string {
  return `${image.repository}:${image.tag}@${image.digest}`;
}
