// Safeguard (issue 15, defect 9): the registry-proxy balancer gives up on a master that does not
// answer connects — black-holed, packets dropped, not refused — after its connect timeout and
// tries the next one, so a client's connection still reaches a live master in seconds rather than
// after nginx's default minute. Real nginx (stream module) runs the produced config; the dead
// master is a port whose SYNs the kernel drops (test/e2e-lab startDroppingListener).
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderRegistryProxyConfig } from "./steps/steps";
import {
  createLab,
  freePort,
  type Lab,
  type LabProcess,
  requireTools,
  spawnProcess,
  startDroppingListener,
} from "../e2e-lab";

const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
let lab: Lab;
let live: Server;
let nginx: LabProcess;
let port: number;

beforeAll(async () => {
  requireTools("nginx", "setpriv", "perl");
  if (!existsSync(STREAM_MODULE)) {
    throw new Error(
      `nginx stream module missing (${STREAM_MODULE}): apt-get install -y libnginx-mod-stream`,
    );
  }
  lab = await createLab("nginx-blackhole");
  await chmod(lab.dir, 0o755);
  // nginx runs unprivileged: its pid file goes where it may write
  await mkdir(lab.path("run"), { mode: 0o777 });
  await chmod(lab.path("run"), 0o777);
  const dead = await startDroppingListener("127.0.0.1");
  // the live master: answers "ok" to every connection. nginx resets its side of a connection
  // whose client gave up (a readiness probe below that timed out): that reset is no failure here
  live = createServer(s => {
    s.on("error", () => undefined);
    s.end("ok\n");
  });
  await new Promise<void>(r => live.listen(0, "127.0.0.1", r));
  const liveAddr = `127.0.0.1:${(live.address() as { port: number }).port}`;
  port = await freePort("127.0.0.1");
  // the dead master first: least_conn starts with it
  const conf = renderRegistryProxyConfig([dead.hostPort, liveAddr], {
    listen: `127.0.0.1:${port}`,
    pid: lab.path("run", "nginx.pid"),
  });
  await writeFile(lab.path("registry-proxy.conf"), conf, { mode: 0o644 });
  await writeFile(
    lab.path("main.conf"),
    `load_module ${STREAM_MODULE};\ninclude ${lab.path("registry-proxy.conf")};\n`,
    { mode: 0o644 },
  );
  const args = ["-e", "stderr", "-c", lab.path("main.conf"), "-g", "daemon off;"];
  nginx =
    process.getuid?.() === 0
      ? spawnProcess("nginx", "setpriv", [
          "--reuid=65534",
          "--regid=64535",
          "--clear-groups",
          "nginx",
          ...args,
        ])
      : spawnProcess("nginx", "nginx", args);
  for (let i = 0; i < 100; i++) {
    if (!nginx.running) throw new Error(`nginx exited:\n${nginx.tail()}`);
    if (
      await answer(1_000).then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise(r => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  live?.close();
  await lab?.close();
});

/** Connects through nginx and reads the live master's answer; rejects after `ms`. */
function answer(ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer through nginx within ${ms} ms`));
    }, ms);
    s.on("data", b => (text += b.toString()));
    s.on("end", () => {
      clearTimeout(timer);
      if (text) resolve(text);
      else reject(new Error("closed without an answer"));
    });
    s.on("error", e => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe("registry-proxy balancer with a black-holed master", () => {
  it("every connection reaches the live master within a bound well under nginx's default 60 s", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => answer(20_000)));
    expect(results).toEqual(Array.from({ length: 6 }, () => "ok\n"));
  }, 60_000);
});
