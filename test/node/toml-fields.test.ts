// The steps find containerd registry settings with awk (no TOML parser on a node). Checked here
// against a real TOML parser (smol-toml) on every shape TOML allows for the same table: what awk
// says is there must be there, and what its `strip` leaves must parse to the same document
// without the registry table.
import { writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { parse } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderStepTemplate } from "./steps/render-template";
import { createLab, type Lab } from "../e2e-lab";

const V1 = "plugins|io.containerd.grpc.v1.cri|registry";
const CRI = "io.containerd.grpc.v1.cri";

let lab: Lab;
let script: string;
let n = 0;

beforeAll(async () => {
  lab = await createLab("node-toml");
  script = lab.path("toml.sh");
  const fns = { syncFile: false, updated: false, ensureOwner: false, pruneDir: false };
  const body = renderStepTemplate("prelude.sh", {
    fns: { ...fns, hostsJson: false, toml: true },
    nodeIp: false,
  });
  await writeFile(script, `${body}\nregistry_toml "$@"\n`);
});
afterAll(async () => {
  await lab?.close();
});

async function awkToml(
  mode: "has" | "keys" | "strip",
  text: string,
): Promise<{ code: number; out: string }> {
  const file = lab.path(`case-${++n}.toml`);
  await writeFile(file, text);
  return new Promise((resolve, reject) => {
    execFile("bash", [script, mode, V1, file], (err, stdout) => {
      if (err && typeof err.code !== "number") return reject(err);
      resolve({ code: err ? (err.code as number) : 0, out: stdout });
    });
  });
}

type Doc = Record<string, unknown>;
function withoutRegistry(doc: Doc): Doc {
  const copy = structuredClone(doc);
  const plugins = copy.plugins as Record<string, Record<string, unknown>> | undefined;
  if (plugins?.[CRI]) {
    delete plugins[CRI].registry;
    if (Object.keys(plugins[CRI]).length === 0) delete plugins[CRI];
  }
  if (plugins && Object.keys(plugins).length === 0) delete copy.plugins;
  return copy;
}
function hasRegistry(doc: Doc): boolean {
  const plugins = doc.plugins as Record<string, Record<string, unknown>> | undefined;
  return plugins?.[CRI]?.registry !== undefined;
}

const CASES: [string, string][] = [
  [
    "nested tables with multi-line array",
    `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = [
    "[not.a.table]",
    "https://registry-1.docker.io",
  ]
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
`,
  ],
  [
    "single-quoted plugin name",
    `[plugins.'io.containerd.grpc.v1.cri'.registry]\nconfig_path = "/x"\n`,
  ],
  [
    "spaces around dots and a trailing comment",
    `[ plugins . "io.containerd.grpc.v1.cri" . registry ] # the mirrors\nconfig_path = "/x"\n[other]\na = 1\n`,
  ],
  [
    "dotted key under the plugin table",
    `[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "pause"\nregistry.config_path = "/x"\nenable_cdi = true\n`,
  ],
  [
    "top-level dotted key with a multi-line value",
    `plugins."io.containerd.grpc.v1.cri".registry.mirrors."a".endpoint = [\n  "http://a",\n]\ntop = "yes"\n`,
  ],
  [
    "look-alike table name",
    `[plugins."io.containerd.grpc.v1.cri".registry_extra]\na = 1\n[plugins."io.containerd.grpc.v1.cri"]\nsandbox_image = "registry.k8s.io/pause"\n`,
  ],
  [
    "registry header inside a multi-line string",
    `[plugins."io.containerd.grpc.v1.cri"]\nnote = """\n[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/x"\n"""\nb = 'x = [ # not a comment'\n`,
  ],
  [
    "commented-out registry table",
    `# [plugins."io.containerd.grpc.v1.cri".registry]\n[plugins.x]\na = "#[y]"\n`,
  ],
  [
    "the other plugin's registry (containerd v2)",
    `[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "/x"\n`,
  ],
  ["nothing at all", ""],
];

describe("registry_toml (awk) agrees with a TOML parser", () => {
  it.each(CASES)("%s", async (_name, text) => {
    const doc = parse(text) as Doc;
    const has = await awkToml("has", text);
    expect(has.code).toBe(hasRegistry(doc) ? 0 : 1);
    const strip = await awkToml("strip", text);
    expect(strip.code).toBe(0);
    expect(parse(strip.out)).toEqual(withoutRegistry(doc));
  });

  it("an inline plugin table is found, and refused for editing", async () => {
    const text = `[plugins]\n"io.containerd.grpc.v1.cri" = { registry = { config_path = "/x" } }\n`;
    expect(hasRegistry(parse(text) as Doc)).toBe(true);
    expect((await awkToml("has", text)).code).toBe(0);
    expect((await awkToml("strip", text)).code).toBe(3);
  });

  it("keys lists what is set under the table, comments dropped", async () => {
    const text = `[plugins."io.containerd.grpc.v1.cri".registry]\nconfig_path = "/etc/containerd/registry.d" # platform\n[plugins."io.containerd.grpc.v1.cri".registry.configs."a".auth]\nauth = "x"\n`;
    const keys = await awkToml("keys", text);
    expect(keys.out).toBe(`config_path="/etc/containerd/registry.d"\nconfigs|a|auth|auth="x"\n`);
  });

  it("an unreadable file is an error, not a 'no'", async () => {
    const { code } = await new Promise<{ code: number }>(resolve =>
      execFile("bash", [script, "has", V1, lab.path("missing.toml")], err =>
        resolve({ code: err ? (err.code as number) : 0 }),
      ),
    );
    expect(code).toBe(2);
  });
});
