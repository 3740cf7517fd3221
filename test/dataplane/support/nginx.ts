// Real nginx (Debian's, standing in for the static pod's stock nginx image) with the config the
// nodeservices-manager renders (docs/adr/0110): checked by `nginx -t`, then started in the
// foreground; ready when its own /healthz answers.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LabProcess, requireTools, run, spawnProcess } from "../../e2e-lab";
import { freePort } from "../../e2e-lab";
import {
  type NginxConfigInput,
  renderNginxConfig,
} from "../../../images/nodeservices-manager/src/render";

export interface RegistryNginx {
  proc: LabProcess;
  configFile: string;
  /** https://host:port: the registry address */
  base: string;
  hostPort: string;
  stop(): Promise<void>;
}

/** `nginx -t` on a config file; rejects with nginx's own message. */
export async function checkNginxConfig(configFile: string): Promise<string> {
  requireTools("nginx");
  const { stderr } = await run("nginx", ["-t", "-e", "stderr", "-c", configFile]);
  return stderr;
}

export async function startRegistryNginx(
  dir: string,
  input: Omit<NginxConfigInput, "runDir" | "health"> & { health?: NginxConfigInput["health"] },
): Promise<RegistryNginx> {
  requireTools("nginx");
  const runDir = join(dir, "run");
  await mkdir(runDir, { recursive: true });
  const health = input.health ?? { host: "127.0.0.1", port: await freePort() };
  const configFile = join(dir, "nginx.conf");
  await writeFile(configFile, renderNginxConfig({ ...input, health, runDir }));
  await checkNginxConfig(configFile);
  const proc = spawnProcess("nginx", "nginx", ["-e", "stderr", "-c", configFile]);
  const url = `http://${health.host}:${health.port}/healthz`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (!proc.running) throw new Error(`nginx exited at start\n${proc.tail()}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) })
      .then(async r => (await r.arrayBuffer(), r.status === 200))
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`nginx: ${url} not ready\n${proc.tail()}`);
    await new Promise(r => setTimeout(r, 50));
  }
  const hostPort = `${input.listen.host}:${input.listen.port}`;
  return { proc, configFile, base: `https://${hostPort}`, hostPort, stop: () => proc.stop() };
}
