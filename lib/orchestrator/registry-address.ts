// Splitting an imagesRepo into what each consumer needs (host, path), and the fixed address of
// the managed modes.

import { REGISTRY_ADDRESS } from "../domain/names";

export const MANAGED_IMAGES_PATH = "/system/deckhouse";
export const MANAGED_IMAGES_BASE = `${REGISTRY_ADDRESS}${MANAGED_IMAGES_PATH}`;
/** Where every node reaches the masters' node services through its local balancer. */
export const LOCAL_BALANCER_HOST = "127.0.0.1:5001";

export interface RepoAddress {
  /** `host[:port]` */
  host: string;
  /** Leading `/`, no trailing `/`; "" for a registry root. */
  path: string;
}

/** `registry.example.com:5000/deckhouse/ee/` → host `registry.example.com:5000`, path `/deckhouse/ee`. */
export function splitImagesRepo(imagesRepo: string): RepoAddress {
  const trimmed = imagesRepo.trim().replace(/\/+$/, "");
  const slash = trimmed.indexOf("/");
  if (slash < 0) return { host: trimmed, path: "" };
  return { host: trimmed.slice(0, slash), path: trimmed.slice(slash) };
}
