// Mode proxy: what the upstream listener last saw of the upstream, so that a 500 distribution
// answers to a read it could not fetch from the upstream reaches the client as what it is — the
// upstream unavailable, named with its cause (docs/adr/0160). Stock distribution turns the
// listener's 503 into a 500 and drops its reason; only the listener knows it.

/** The cause of the upstream's last failure, until the upstream answers again. */
export class UpstreamHealth {
  #failure: { at: number; cause: string } | undefined;
  #clock = 0;

  /** A point in the listener's history: failures recorded after it are newer. */
  mark(): number {
    return ++this.#clock;
  }

  failed(cause: string): void {
    this.#failure = { at: ++this.#clock, cause };
  }

  answered(): void {
    this.#failure = undefined;
  }

  /** The cause, when the upstream failed after `mark` and has not answered since. */
  failedSince(mark: number): string | undefined {
    const f = this.#failure;
    return f && f.at > mark ? f.cause : undefined;
  }
}

/**
 * The client's words for it: the host as configured and the cause, printable ASCII on one line
 * (it also goes in the status line, the only text containerd shows for a failed manifest HEAD),
 * any URL userinfo removed.
 */
export function upstreamDownMessage(host: string, cause: string): string {
  const text = `upstream registry ${host} is unavailable: ${cause}`
    .replace(/\/\/[^/@\s]*@/g, "//")
    .replace(/[^\x20-\x7e]+/g, " ");
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}
