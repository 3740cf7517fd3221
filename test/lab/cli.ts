// `npm run lab -- <command>`: the lab cluster for people (README "Run the module in a lab cluster").
//
//   tools   build kube-apiserver, kubectl and helm at their pinned versions where missing
//   up      tools, then etcd + kube-apiserver detached, a 3-master + 2-worker static cluster
//           (CRDs, d8-system, Nodes, ModuleConfig/deckhouse in legacy Unmanaged), the module's
//           operator (test/lab/module-operator.ts); the LAST line printed is
//           `export KUBECONFIG=<path>`. Always starts clean: what an earlier `up` left (also
//           after a crash) is stopped and removed first.
//   down    stops everything `up` started and removes its state dir
//   status  says whether a lab is up, and where
//
// State dir: $REGISTRY_LAB_STATE, else $XDG_RUNTIME_DIR/registry-lab, else <tmp>/registry-lab.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  attachControlPlane,
  STATE_FILE,
  startControlPlane,
  type ControlPlane,
} from "./control-plane";
import { seedStaticCluster } from "./cluster";
import { startModuleOperator } from "./module-operator";
import { buildLabTools, LabToolError } from "./tools";

const LAB_FILE = "lab.json";

interface LabFile {
  operatorPids: number[];
}

export function labStateDir(): string {
  return (
    process.env.REGISTRY_LAB_STATE || join(process.env.XDG_RUNTIME_DIR || tmpdir(), "registry-lab")
  );
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return true;
    } catch {
      // try the pid itself, or it is gone
    }
  }
  return false;
}

async function stopPids(pids: readonly number[]): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return !readFileSync(`/proc/${pid}/stat`, "utf8").match(/\) Z /);
    } catch {
      return false;
    }
  };
  const running = pids.filter(alive);
  for (const pid of running) killGroup(pid, "SIGTERM");
  const deadline = Date.now() + 10_000;
  while (running.some(alive) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50));
  for (const pid of running.filter(alive)) killGroup(pid, "SIGKILL");
}

/** Stops what an `up` left in `dir` and removes the dir. Returns whether a lab was there. */
export async function labDown(dir = labStateDir()): Promise<boolean> {
  if (!existsSync(dir)) return false;
  const found = existsSync(join(dir, STATE_FILE)) || existsSync(join(dir, LAB_FILE));
  try {
    const lab = JSON.parse(readFileSync(join(dir, LAB_FILE), "utf8")) as LabFile;
    await stopPids(lab.operatorPids);
  } catch {
    // no operator recorded (or up died before recording it)
  }
  await attachControlPlane(dir)?.stop();
  rmSync(dir, { recursive: true, force: true });
  return found;
}

/** The whole `up`: returns the running control plane (its processes detached). */
export async function labUp(dir = labStateDir()): Promise<ControlPlane> {
  if (await labDown(dir)) log(`stopped the lab an earlier \`up\` left in ${dir}`);
  const built = await buildLabTools({ log });
  for (const b of built) log(`${b.tool}: ${b.version}${b.built ? ` (built in ${b.ms} ms)` : ""}`);
  const cp = await startControlPlane({ dir, detached: true });
  // Ctrl-C from here on: the detached processes must not outlive an unfinished `up`
  const interrupted = () => {
    for (const pid of [cp.pids.kubeApiserver, cp.pids.etcd]) killGroup(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    log(`control plane ready in ${cp.timings?.totalMs} ms at ${cp.server}`);
    await seedStaticCluster(cp);
    log("cluster seeded: CRDs, namespaces, 3 masters + 2 workers, ModuleConfig/deckhouse");
    const operatorPids = await startModuleOperator({ cp, stateDir: dir, log });
    const lab: LabFile = { operatorPids };
    writeFileSync(join(dir, LAB_FILE), JSON.stringify(lab));
  } catch (e) {
    await cp.stop();
    throw e;
  } finally {
    process.removeListener("SIGINT", interrupted);
    process.removeListener("SIGTERM", interrupted);
  }
  return cp;
}

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command ?? "") {
    case "tools": {
      for (const b of await buildLabTools({ log }))
        log(`${b.tool}: ${b.version} ${b.path}${b.built ? ` (built in ${b.ms} ms)` : ""}`);
      return 0;
    }
    case "up": {
      const cp = await labUp();
      log(`stop it with: npm run lab -- down`);
      process.stdout.write(`export KUBECONFIG=${cp.kubeconfigPath}\n`);
      return 0;
    }
    case "down": {
      const dir = labStateDir();
      log((await labDown(dir)) ? `lab in ${dir} stopped and removed` : `no lab in ${dir}`);
      return 0;
    }
    case "status": {
      const cp = attachControlPlane(labStateDir());
      if (!cp) {
        log(`no lab in ${labStateDir()}`);
        return 1;
      }
      log(`lab in ${cp.dir}: ${cp.server}`);
      process.stdout.write(`export KUBECONFIG=${cp.kubeconfigPath}\n`);
      return 0;
    }
    default:
      log("usage: npm run lab -- tools | up | down | status");
      return 2;
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).then(
    code => process.exit(code),
    (e: unknown) => {
      log(
        e instanceof LabToolError
          ? e.message
          : e instanceof Error
            ? (e.stack ?? e.message)
            : String(e),
      );
      process.exit(1);
    },
  );
}
