// Every hook of the module, in the order `hook list` numbers them. Keep the order stable: the
// batch protocol addresses hooks by index.
import type { AnyHook } from "../lib/runtime/define-hook";
import checkData from "./check-data-devices";
import checkerInit from "./checker-init";
import checkerLoop from "./checker-loop";
import copyCustomCertificate from "./copy-custom-certificate";
import orchestrator from "./orchestrator";
import render from "./render";

export const hooks: readonly AnyHook[] = [
  orchestrator,
  render,
  checkerInit,
  checkerLoop,
  checkData,
  copyCustomCertificate,
];
