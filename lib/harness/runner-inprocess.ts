// In-process runner: a hook definition run through the runtime's executeHook. Its outputs are
// written out as the process contract writes the files, so both runners feed the same parsers.
import type { AnyHook } from "../runtime/define-hook";
import { executeHook } from "../runtime/define-hook";
import { jsonClone } from "./json";
import type { HookLogRecord, HookRunInputs, HookRunner, RawHookRun } from "./run-types";

const jsonLines = (items: readonly unknown[]) => items.map(i => JSON.stringify(i) + "\n").join("");

export function inProcessRunner(hook: AnyHook): HookRunner {
  return {
    name: hook.name,
    async run(inputs: HookRunInputs): Promise<RawHookRun> {
      const logs: HookLogRecord[] = [];
      const empty = {
        valuesJsonPatch: "",
        configValuesJsonPatch: "",
        kubernetesPatch: "",
        metrics: "",
      };
      try {
        // Crossing the file boundary is a JSON round trip.
        const out = await executeHook(hook, {
          bindingContexts: jsonClone(inputs.bindingContexts),
          values: jsonClone(inputs.values),
          configValues: jsonClone(inputs.configValues),
          log: record => logs.push(jsonClone(record) as HookLogRecord),
        });
        return {
          ok: true,
          stderr: "",
          logs,
          files: {
            valuesJsonPatch: out.valuesPatch.length ? JSON.stringify(out.valuesPatch) + "\n" : "",
            configValuesJsonPatch: "",
            kubernetesPatch: jsonLines(out.kubernetesOperations),
            metrics: jsonLines(out.metrics),
          },
        };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        return { ok: false, error: message, stderr: message + "\n", logs, files: empty };
      }
    },
  };
}
