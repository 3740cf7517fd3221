// HOOK POINT for `npm run lab -- up`: start the module's operator against the lab cluster.
//
// `lab up` calls startModuleOperator() once the control plane is ready and the static cluster is
// seeded (CRDs, namespaces, Nodes, ModuleConfig/deckhouse in legacy Unmanaged), before it prints
// the KUBECONFIG line. Whatever it starts must be DETACHED (it outlives `lab up`) and its pids
// returned: `lab down` sends SIGTERM to each one's process group (SIGKILL after 10 s) BEFORE it
// stops kube-apiserver and etcd. Keep logs and files under `ctx.stateDir` (removed by down).
//
// Today nothing is started here: the addon-operator runner (branch `aop`) replaces the body.
import type { ControlPlane } from "./control-plane";

export interface ModuleOperatorContext {
  cp: ControlPlane;
  /** the lab state dir (also cp.dir); removed by `lab down` */
  stateDir: string;
  /** progress lines for the user (stderr) */
  log(line: string): void;
}

/** Starts the module's operator detached; returns the pids `lab down` must stop. */
export async function startModuleOperator(ctx: ModuleOperatorContext): Promise<number[]> {
  ctx.log("module operator: none configured (test/lab/module-operator.ts is the hook point)");
  return [];
}
