// Registry parameters from `ModuleConfig/deckhouse` `spec.settings.registry` (as carried by the
// `d8-system/registry-config` Secret): typed, defaulted and checked with the rules of the Go side
// (go_lib/registry/models/moduleconfig) and of the orchestrator (`Params.Validate`).
//
// Pure and cheap to import (node:crypto and the reader): the hook runtime loads it at start-up.
// Read with lib/validation's reader, failing at the first problem; the messages are the Go side's.
// The schema and CEL validation of the same settings is in lib/openapi/registry-settings.ts.

import { X509Certificate } from "node:crypto";
import { Problems, type Section as Reader } from "../validation/reader";

export type RegistryMode = "Unmanaged" | "Direct" | "Proxy" | "Local";
export type CheckMode = "Default" | "Relax";
export type Scheme = "HTTP" | "HTTPS";
export interface UpstreamParams {
  imagesRepo: string;
  scheme: Scheme;
  username?: string;
  password?: string;
  ca?: string;
  checkMode: CheckMode;
  ttl?: string;
}
interface ParamsOfAnyMode {
  generation: number;
  /**
   * Sections of other modes given without `mode`: ignored, as the original does (the settings
   * mean legacy Unmanaged; admission refuses them, docs/adr/0080). Reported so the hook can warn.
   */
  ignoredSections?: ("direct" | "proxy")[];
}
/** The settings of one mode: which modes carry an upstream is part of the type. */
export type RegistryParams = ParamsOfAnyMode &
  (
    | { mode: "Direct"; upstream: UpstreamParams }
    | { mode: "Proxy"; upstream: UpstreamParams }
    /** configurable Unmanaged has an upstream, legacy Unmanaged none */
    | { mode: "Unmanaged"; upstream?: UpstreamParams }
    | { mode: "Local"; upstream?: undefined }
  );

export const REGISTRY_MODES: readonly RegistryMode[] = ["Unmanaged", "Direct", "Proxy", "Local"];
export const DEFAULT_REGISTRY_MODE: RegistryMode = "Unmanaged";
export const DEFAULT_SCHEME: Scheme = "HTTPS";
/** Fixed user name that goes with a licence key. */
export const LICENSE_USERNAME = "license-token";
/** Smallest cache TTL of the Proxy mode, in seconds (5m). */
export const MIN_PROXY_TTL_SECONDS = 5 * 60;
export const TTL_PATTERN = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Settings sections and the mode each belongs to (Local has none). */
const SECTIONS = [
  ["direct", "Direct"],
  ["unmanaged", "Unmanaged"],
  ["proxy", "Proxy"],
] as const satisfies readonly (readonly [string, RegistryMode])[];
type Section = (typeof SECTIONS)[number][0];

/** A settings problem; `field` is the path of the offending setting, also the message prefix. */
export class SettingsError extends Error {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = "SettingsError";
    this.field = field;
    this.reason = reason;
  }
}

export function isRegistryMode(v: unknown): v is RegistryMode {
  return typeof v === "string" && (REGISTRY_MODES as readonly string[]).includes(v);
}

/** `relax` in any letter case ⇒ Relax; anything else (including absent) ⇒ Default. */
export function normalizeCheckMode(v: unknown): CheckMode {
  return typeof v === "string" && v.toLowerCase() === "relax" ? "Relax" : "Default";
}

/** Trims spaces and every trailing `/`, as the Go side does before applying defaults. */
export function normalizeImagesRepo(v: string): string {
  return v.trim().replace(/\/+$/, "");
}

/** Reads fail fast: the first problem is the SettingsError. */
function problems(): Problems {
  return new Problems("registry settings", {
    failFast: ({ field, rule }) => new SettingsError(field, rule),
  });
}

const mustBeObject = () => "must be an object";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Checks that `pem` holds at least one PEM `CERTIFICATE` block and that every such block decodes
 * as an X.509 certificate. Returns the reason it does not, or undefined.
 */
export function pemCertificateProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return "no PEM CERTIFICATE block found";
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (err) {
      const what = blocks.length > 1 ? `certificate #${i + 1}` : "certificate";
      return `${what} does not decode: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Seconds of a TTL string of the form `<n>h<n>m<n>s` (each part optional). */
function ttlSeconds(ttl: string): number | undefined {
  const m = TTL_PATTERN.exec(ttl);
  if (m === null) return undefined;
  const [h, min, s] = [m[1], m[2], m[3]].map(x => (x === undefined ? 0 : Number(x))) as [
    number,
    number,
    number,
  ];
  return h * 3600 + min * 60 + s;
}

// The reader's optional strings: absent, null and "" all mean "not set".
function parseUpstream(raw: unknown, section: Section): UpstreamParams {
  const u = problems().root(raw, `registry.${section}`, mustBeObject);
  // Read in the Go side's order, so the first problem reported is the one it reports.
  const imagesRepo = upstreamImagesRepo(u);
  const scheme = upstreamScheme(u);
  const { username, password } = upstreamCredentials(u);
  const ca = upstreamCa(u, scheme);

  const upstream: UpstreamParams = {
    imagesRepo,
    scheme,
    checkMode: normalizeCheckMode(u.string("checkMode")),
  };
  if (username !== undefined) upstream.username = username;
  if (password !== undefined) upstream.password = password;
  if (ca !== undefined) upstream.ca = ca;
  if (section === "proxy") {
    const ttl = proxyTtl(u);
    if (ttl !== undefined) upstream.ttl = ttl;
  }
  return upstream;
}

function upstreamImagesRepo(u: Reader): string {
  const imagesRepoRaw = u.string("imagesRepo");
  const imagesRepo = imagesRepoRaw === undefined ? "" : normalizeImagesRepo(imagesRepoRaw);
  if (imagesRepo === "") u.reject("imagesRepo", "Field 'imagesRepo' is required");
  return imagesRepo;
}

function upstreamScheme(u: Reader): Scheme {
  const schemeRaw = u.string("scheme") ?? DEFAULT_SCHEME;
  if (schemeRaw !== "HTTP" && schemeRaw !== "HTTPS")
    u.reject("scheme", `Invalid scheme '${schemeRaw}'; expected 'HTTP' or 'HTTPS'`);
  return schemeRaw as Scheme;
}

/** Username and password given together, or a licence that stands for both. */
function upstreamCredentials(u: Reader): { username?: string; password?: string } {
  const username = u.string("username");
  const password = u.string("password");
  const license = u.string("license");
  if (password !== undefined && username === undefined)
    u.reject("username", "Username is required when password is provided");
  if (username !== undefined && password === undefined)
    u.reject("password", "Password is required when username is provided");
  if (license === undefined) return { username, password };
  if (username !== undefined || password !== undefined)
    u.reject("license", "License field must be empty when using credentials (username/password)");
  return { username: LICENSE_USERNAME, password: license };
}

function upstreamCa(u: Reader, scheme: Scheme): string | undefined {
  const ca = u.string("ca");
  if (ca === undefined) return undefined;
  if (scheme === "HTTP") u.reject("ca", "CA is not allowed when scheme is 'HTTP'");
  const problem = pemCertificateProblem(ca);
  if (problem !== undefined)
    u.reject(
      "ca",
      `Cannot decode CA certificate: ${problem}; expected PEM (-----BEGIN CERTIFICATE----- …)`,
    );
  return ca;
}

function proxyTtl(u: Reader): string | undefined {
  const ttl = u.string("ttl");
  if (ttl === undefined) return undefined;
  const seconds = ttlSeconds(ttl);
  if (seconds === undefined)
    u.reject(
      "ttl",
      `invalid ttl format ${JSON.stringify(ttl)}: does not match required pattern ${JSON.stringify(TTL_PATTERN.source)}`,
    );
  else if (seconds < MIN_PROXY_TTL_SECONDS)
    u.reject("ttl", `invalid ttl format ${JSON.stringify(ttl)}: must be at least "5m0s"`);
  return ttl;
}

/**
 * Turns `spec.settings.registry` (user settings, with or without schema defaults applied) into
 * typed registry parameters. Throws SettingsError naming the offending field:
 *   * mode (default `Unmanaged`) must be one of the four — `Unknown registry mode: "<mode>"`;
 *   * the section of the mode is required for Direct/Proxy, the sections of other modes must be
 *     absent — `Section 'direct' is required when mode is 'Direct'`,
 *     `Section 'direct' must be empty when mode is not 'Direct'` (same for unmanaged/proxy);
 *   * Direct, Proxy and configurable Unmanaged (with an `unmanaged` section) need `imagesRepo`
 *     (trimmed of spaces and trailing `/`), scheme `HTTP`/`HTTPS` (default HTTPS), username and
 *     password together, no licence with them (a licence becomes user `license-token`), no CA with
 *     HTTP, a CA that decodes; Proxy's `ttl` must be `<n>h<n>m<n>s` and at least 5m;
 *   * Local and legacy Unmanaged (no `unmanaged` section) carry no upstream.
 */
export function parseRegistrySettings(settings: unknown, generation: number): RegistryParams {
  const raw = settings === undefined || settings === null ? {} : settings;
  const root = problems().root(raw, "registry", mustBeObject);
  const modeGiven = root.has("mode");
  const mode = registryMode(root, modeGiven);
  const ignoredSections = checkSections(root, mode, modeGiven);

  const common: ParamsOfAnyMode = {
    generation,
    ...(ignoredSections.length > 0 ? { ignoredSections } : {}),
  };
  switch (mode) {
    case "Direct":
      return { mode, ...common, upstream: parseUpstream(root.get("direct"), "direct") };
    case "Proxy":
      return { mode, ...common, upstream: parseUpstream(root.get("proxy"), "proxy") };
    case "Unmanaged":
      if (root.has("unmanaged"))
        return { mode, ...common, upstream: parseUpstream(root.get("unmanaged"), "unmanaged") };
      return { mode, ...common };
    case "Local":
      return { mode, ...common };
  }
}

function registryMode(root: Reader, modeGiven: boolean): RegistryMode {
  const modeRaw = modeGiven ? root.get("mode") : DEFAULT_REGISTRY_MODE;
  if (!isRegistryMode(modeRaw)) {
    const shown = typeof modeRaw === "string" ? modeRaw : JSON.stringify(modeRaw);
    root.reject(
      "mode",
      `Unknown registry mode: ${JSON.stringify(shown)}; expected one of ${REGISTRY_MODES.join(", ")}`,
    );
  }
  return modeRaw as RegistryMode;
}

/** Rejects a missing section of the mode or a section of another mode; returns those ignored. */
function checkSections(root: Reader, mode: RegistryMode, modeGiven: boolean) {
  const ignoredSections: ("direct" | "proxy")[] = [];
  for (const [section, owner] of SECTIONS) {
    const present = root.has(section);
    if (!modeGiven && present && section !== "unmanaged") {
      // The deckhouse module renders such settings as mode Unmanaged without an upstream.
      ignoredSections.push(section);
      continue;
    }
    if (mode === owner) {
      if (!present && owner !== "Unmanaged")
        root.reject(section, `Section '${section}' is required when mode is '${owner}'`);
    } else if (present) {
      root.reject(section, `Section '${section}' must be empty when mode is not '${owner}'`);
    }
  }
  return ignoredSections;
}
