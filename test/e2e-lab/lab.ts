// One lab per test file: a temp dir under the system temp dir, and a close() that stops every
// process and in-process server the lab started, then removes the dir.
//
//   let lab: Lab;
//   beforeAll(async () => { lab = await createLab("checker"); ... });
//   afterAll(async () => { await lab?.close(); });   // also when beforeAll failed half-way
//   lab.path("pki")   // <lab.dir>/pki
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopAll } from "./process";

export interface Lab {
  dir: string;
  path(...segments: string[]): string;
  /** stopAll() then removes the dir. */
  close(): Promise<void>;
}

export async function createLab(name: string): Promise<Lab> {
  const safe = name.replace(/[^a-z0-9-]/gi, "-").slice(0, 24);
  // short: containerd/nginx unix sockets under it must stay below 108 bytes
  const dir = await mkdtemp(join(tmpdir(), `reg-e2e-${safe}-`));
  return {
    dir,
    path: (...segments) => join(dir, ...segments),
    close: async () => {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
