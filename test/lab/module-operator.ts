// HOOK POINT for `npm run lab -- up`: start the module's operator against the lab cluster.
//
// `lab up` calls startModuleOperator() once the control plane is ready and the static cluster is
// seeded (CRDs, namespaces, Nodes, ModuleConfig/deckhouse in legacy Unmanaged), before it prints
// the KUBECONFIG line. Whatever it starts must be DETACHED (it outlives `lab up`) and its pids
// returned: `lab down` sends SIGTERM to each one's process group (SIGKILL after 10 s) BEFORE it
// stops kube-apiserver and etcd. Keep logs and files under `ctx.stateDir` (removed by down).
//
// It starts the BUILT module (dist/module, `npm run build`) under the real addon-operator
// (./addon-operator.ts, docs/adr/0065) with the global values of examples/values.yaml; the
// operator's log is <stateDir>/operator/addon-operator.log.
import { join } from "node:path";
import type { ControlPlane } from "./control-plane";
import { exampleGlobalValues, startAddonOperator } from "./addon-operator";

export interface ModuleOperatorContext {
  cp: ControlPlane;
  /** the lab state dir (also cp.dir); removed by `lab down` */
  stateDir: string;
  /** progress lines for the user (stderr) */
  log(line: string): void;
}

/** Starts addon-operator with the built module, detached; returns its pid for `lab down`. */
export async function startModuleOperator(ctx: ModuleOperatorContext): Promise<number[]> {
  const dir = join(ctx.stateDir, "operator");
  const op = await startAddonOperator({
    cp: ctx.cp,
    dir,
    globalValues: exampleGlobalValues(),
    detached: true,
  });
  ctx.log(`addon-operator (pid ${op.pid}) runs the built module; log: ${dir}/addon-operator.log`);
  return [op.pid];
}
