// The lab's programs, pinned: kube-apiserver and kubectl from k8s.io/kubernetes (the release in
// test/lab/go/kubernetes/go.mod), helm from helm.sh/helm/v4, all built through the Go module proxy
// into a cache outside the repository; etcd from Debian's etcd-server (docs/adr/0060).
//
//   labTool("kube-apiserver")       → path of the binary, or throws LabToolError with the fix
//   await buildLabTools()           → builds what is missing or built for another version
//   labCacheDir()                   → $REGISTRY_LAB_CACHE or ~/.cache/registry-lab
//
// Each built binary has a version stamp beside it (`<bin>/<tool>.version`): the pinned version
// plus a digest of what it was built from. A binary whose stamp differs counts as missing, so a
// changed pin rebuilds it; an unchanged one costs nothing.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export type LabToolName = "kube-apiserver" | "kubectl" | "helm" | "etcd" | "addon-operator";

/** The helm CLI the lab installs and upgrades the chart with (docs/adr/0060). */
export const HELM_MODULE = "helm.sh/helm/v4";
export const HELM_VERSION = "v4.3.2";

/** The Go module that pins k8s.io/kubernetes and its staging modules (go.mod + go.sum). */
export const KUBERNETES_MODULE_DIR = resolve(import.meta.dirname, "go/kubernetes");

/** Debian's etcd; kube-apiserver talks etcd v3 gRPC, which etcd 3.4 serves (docs/adr/0060). */
const ETCD_DEBIAN_PACKAGE = "etcd-server";

/** The Go module that pins github.com/flant/addon-operator (go.mod + go.sum; docs/adr/0065). */
export const ADDON_OPERATOR_MODULE_DIR = resolve(import.meta.dirname, "go/addon-operator");

const REBUILD_HINT = "npm run lab -- tools";

export class LabToolError extends Error {
  override name = "LabToolError";
}

export function labCacheDir(): string {
  return process.env.REGISTRY_LAB_CACHE || join(homedir(), ".cache", "registry-lab");
}

export function labBinDir(): string {
  return join(labCacheDir(), "bin");
}

/** The k8s.io/kubernetes release pinned in go.mod (`require k8s.io/kubernetes vX.Y.Z`). */
export function kubernetesVersion(): string {
  const gomod = readFileSync(join(KUBERNETES_MODULE_DIR, "go.mod"), "utf8");
  const m = gomod.match(/^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+)\s*$/m);
  if (!m?.[1]) throw new LabToolError(`${KUBERNETES_MODULE_DIR}/go.mod pins no k8s.io/kubernetes`);
  return m[1];
}

interface GoBuild {
  tool: LabToolName;
  /** what the stamp says and the failure message names */
  version: string;
  /** `go` arguments, run in `cwd` */
  args: string[];
  cwd: string;
}

function kubernetesBuild(tool: "kube-apiserver" | "kubectl", out: string): GoBuild {
  const version = kubernetesVersion();
  const digest = createHash("sha256")
    .update(readFileSync(join(KUBERNETES_MODULE_DIR, "go.mod")))
    .update(readFileSync(join(KUBERNETES_MODULE_DIR, "go.sum")))
    .digest("hex")
    .slice(0, 12);
  const [major, minor] = version.slice(1).split(".");
  // Built as a dependency, k8s.io/kubernetes has no version stamped in; /version and
  // `kubectl version` should say the release we pinned (helm and kubectl read it).
  const pkg = "k8s.io/component-base/version";
  const ldflags = [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(" ");
  return {
    tool,
    version: `k8s.io/kubernetes ${version} (go.mod+go.sum ${digest})`,
    args: [
      "build",
      "-mod=readonly",
      "-ldflags",
      ldflags,
      "-o",
      out,
      `k8s.io/kubernetes/cmd/${tool}`,
    ],
    cwd: KUBERNETES_MODULE_DIR,
  };
}

/** The addon-operator release pinned in go.mod (`require github.com/flant/addon-operator vX.Y.Z`). */
export function addonOperatorVersion(): string {
  const gomod = readFileSync(join(ADDON_OPERATOR_MODULE_DIR, "go.mod"), "utf8");
  const m = gomod.match(/^\s*require\s+github\.com\/flant\/addon-operator\s+(v\d+\.\d+\.\d+)\s*$/m);
  if (!m?.[1])
    throw new LabToolError(
      `${ADDON_OPERATOR_MODULE_DIR}/go.mod pins no github.com/flant/addon-operator`,
    );
  return m[1];
}

function addonOperatorBuild(out: string): GoBuild {
  const version = addonOperatorVersion();
  const digest = createHash("sha256")
    .update(readFileSync(join(ADDON_OPERATOR_MODULE_DIR, "go.mod")))
    .update(readFileSync(join(ADDON_OPERATOR_MODULE_DIR, "go.sum")))
    .digest("hex")
    .slice(0, 12);
  return {
    tool: "addon-operator",
    version: `github.com/flant/addon-operator ${version} (go.mod+go.sum ${digest})`,
    args: [
      "build",
      "-mod=readonly",
      "-ldflags",
      `-X github.com/flant/addon-operator/pkg/app.Version=${version}`,
      "-o",
      out,
      "github.com/flant/addon-operator/cmd/addon-operator",
    ],
    cwd: ADDON_OPERATOR_MODULE_DIR,
  };
}

function helmBuild(binDir: string): GoBuild {
  return {
    tool: "helm",
    version: `${HELM_MODULE} ${HELM_VERSION}`,
    args: ["install", `${HELM_MODULE}/cmd/helm@${HELM_VERSION}`],
    cwd: binDir,
  };
}

function goBuilds(binDir = labBinDir()): Record<Exclude<LabToolName, "etcd">, GoBuild> {
  return {
    "kube-apiserver": kubernetesBuild("kube-apiserver", join(binDir, "kube-apiserver")),
    kubectl: kubernetesBuild("kubectl", join(binDir, "kubectl")),
    helm: helmBuild(binDir),
    "addon-operator": addonOperatorBuild(join(binDir, "addon-operator")),
  };
}

function stampPath(binDir: string, tool: string): string {
  return join(binDir, `${tool}.version`);
}

function readStamp(binDir: string, tool: string): string | undefined {
  try {
    return readFileSync(stampPath(binDir, tool), "utf8").trim();
  } catch {
    return undefined;
  }
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    const path = join(dir, command);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Why a built tool is not usable, or undefined when it is. */
function builtProblem(build: GoBuild, binDir: string): string | undefined {
  const path = join(binDir, build.tool);
  if (!existsSync(path)) return `${build.tool} (${build.version}) is not built in ${binDir}`;
  const stamp = readStamp(binDir, build.tool);
  if (stamp !== build.version)
    return `${build.tool} in ${binDir} is ${stamp ? `built for ${stamp}` : "unstamped"}, the lab pins ${build.version}`;
  return undefined;
}

/**
 * Path of a lab tool. Throws a LabToolError that says which tool is missing and how to install
 * or rebuild it; tests let it fail them (a missing tool is never a skip).
 */
export function labTool(name: LabToolName): string {
  if (name === "etcd") {
    const path = onPath("etcd");
    if (!path)
      throw new LabToolError(
        `etcd is not installed (not on PATH): apt-get install -y ${ETCD_DEBIAN_PACKAGE}`,
      );
    return path;
  }
  const binDir = labBinDir();
  const build = goBuilds(binDir)[name];
  const problem = builtProblem(build, binDir);
  if (problem)
    throw new LabToolError(
      `${problem}: run \`${REBUILD_HINT}\` (builds it through the Go module proxy into ${binDir}; needs go)`,
    );
  return join(binDir, name);
}

export interface BuildReport {
  tool: LabToolName;
  version: string;
  path: string;
  built: boolean;
  ms: number;
}

function runGo(build: GoBuild, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  return new Promise<void>((resolveRun, reject) => {
    const child = spawn("go", build.args, {
      cwd: build.cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const tail: string[] = [];
    const take = (b: Buffer) => {
      for (const line of b.toString("utf8").split("\n").filter(Boolean)) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        log(`  ${build.tool}: ${line}`);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", err =>
      reject(
        new LabToolError(
          `building ${build.tool} (${build.version}): cannot run go (${err.message}); install Go 1.26 and run \`${REBUILD_HINT}\``,
        ),
      ),
    );
    child.on("exit", code => {
      if (code === 0) resolveRun();
      else
        reject(
          new LabToolError(
            `building ${build.tool} (${build.version}) failed: go ${build.args.join(" ")} exited ${code} in ${build.cwd}\n${tail.join("\n")}\nfix the cause, then run \`${REBUILD_HINT}\``,
          ),
        );
    });
  });
}

/**
 * Builds every Go-built lab tool that is missing or built for another version (one at a time:
 * the machine has two cores), then checks etcd. Fails with a LabToolError naming the tool.
 */
export async function buildLabTools(
  opts: { log?: (line: string) => void; only?: readonly LabToolName[] } = {},
): Promise<BuildReport[]> {
  const log = opts.log ?? (() => undefined);
  const binDir = labBinDir();
  mkdirSync(binDir, { recursive: true });
  const reports: BuildReport[] = [];
  const wanted = (t: LabToolName) => !opts.only || opts.only.includes(t);
  if (!onPath("go") && Object.values(goBuilds(binDir)).some(b => builtProblem(b, binDir))) {
    throw new LabToolError(
      `go is not installed (not on PATH): the lab builds kube-apiserver, kubectl and helm with it; install Go 1.26, then run \`${REBUILD_HINT}\``,
    );
  }
  for (const build of Object.values(goBuilds(binDir))) {
    if (!wanted(build.tool)) continue;
    const started = Date.now();
    const path = join(binDir, build.tool);
    if (!builtProblem(build, binDir)) {
      reports.push({ tool: build.tool, version: build.version, path, built: false, ms: 0 });
      continue;
    }
    log(`building ${build.tool} ${build.version} into ${binDir}`);
    // build next to the binary, then rename: a half-written binary never carries the stamp
    const partial = `${path}.partial`;
    // the go.mod pins the toolchain line; never fetch another toolchain behind our back
    const env: NodeJS.ProcessEnv = { ...process.env, GOTOOLCHAIN: "local" };
    if (build.tool === "helm") {
      env.GOBIN = join(binDir, ".helm-build");
      mkdirSync(env.GOBIN, { recursive: true });
      await runGo(build, env, log);
      renameSync(join(env.GOBIN, "helm"), path);
    } else {
      const args = [...build.args];
      args[args.indexOf(path)] = partial;
      await runGo({ ...build, args }, env, log);
      renameSync(partial, path);
    }
    writeFileSync(stampPath(binDir, build.tool), `${build.version}\n`);
    reports.push({
      tool: build.tool,
      version: build.version,
      path,
      built: true,
      ms: Date.now() - started,
    });
  }
  if (wanted("etcd")) {
    const path = labTool("etcd");
    const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0];
    reports.push({ tool: "etcd", version: version ?? "", path, built: false, ms: 0 });
  }
  return reports;
}
