// Bringing the disk to the rendered files: write what differs (atomically: temp file + rename in
// the same directory, so kubelet and the containers never read half a file), remove what is no
// longer rendered, touch nothing else. The static pod manifest is written last and removed first:
// kubelet starts the pod only once its files are in place and stops it before they go.
import {
  chmod,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { MANAGED_DIRS, PATHS, type RenderedFile } from "./render";

export interface ApplyReport {
  written: string[];
  removed: string[];
}

export async function applyFiles(
  root: string,
  files: readonly RenderedFile[],
): Promise<ApplyReport> {
  const report: ApplyReport = { written: [], removed: [] };
  const manifest = files.find(f => f.path === PATHS.manifest);
  const others = files.filter(f => f !== manifest);
  for (const f of others) if (await writeIfChanged(root, f)) report.written.push(f.path);
  // files of the managed directories that are not rendered any more (e.g. the mirrorer config when
  // a master is left alone, the upstream CA when it is dropped)
  const wanted = new Set(files.map(f => f.path));
  for (const dir of MANAGED_DIRS) {
    for (const name of await list(join(root, dir))) {
      const rel = `${dir}/${name}`;
      if (!wanted.has(rel)) {
        await rm(join(root, rel), { force: true, recursive: true });
        report.removed.push(rel);
      }
    }
  }
  if (manifest && (await writeIfChanged(root, manifest))) report.written.push(manifest.path);
  return report;
}

/** Stops the node services: the manifest first, then configs and PKI; the data stays. */
export async function removeFiles(root: string): Promise<ApplyReport> {
  const report: ApplyReport = { written: [], removed: [] };
  if (await exists(join(root, PATHS.manifest))) {
    await rm(join(root, PATHS.manifest), { force: true });
    report.removed.push(PATHS.manifest);
  }
  for (const dir of MANAGED_DIRS) {
    if (await exists(join(root, dir))) {
      await rm(join(root, dir), { recursive: true, force: true });
      report.removed.push(dir);
    }
  }
  // the parent stays only if someone else put something there
  await rmdir(join(root, PATHS.registryDir)).catch(() => undefined);
  return report;
}

async function writeIfChanged(root: string, f: RenderedFile): Promise<boolean> {
  const target = join(root, f.path);
  const current = await readFile(target, "utf8").catch(() => undefined);
  if (current === f.content) {
    const mode = (await stat(target)).mode & 0o777;
    if (mode !== f.mode) await chmod(target, f.mode);
    return false;
  }
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  const temp = `${target}.tmp-${process.pid}`;
  await writeFile(temp, f.content, { mode: f.mode });
  await chmod(temp, f.mode);
  await rename(temp, target);
  return true;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
