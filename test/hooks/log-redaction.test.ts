// Safeguard (issue 15, defect 9): the hook logger's own redaction, exercised through a real hook.
// checker-init restores the checker params from its Secret; an operator who pasted credentials
// into the registry address gets a validation warning that quotes the address — with the
// password in it. The hook registers the password as a secret; the logger must blank it out of
// the record's message and fields. (Removing redaction from createLogger fails this test.)
import { describe, expect, it } from "vitest";
import checkerInit from "../../hooks/checker-init";
import { executeHook } from "../../lib/runtime/define-hook";
import type { LogRecord } from "../../lib/runtime/logger";

const PASSWORD = "Pa55-w0rd-in-the-address";
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("hook logs never carry a secret the hook knows", () => {
  it("checker-init: a params validation warning quoting the password is redacted", async () => {
    const params = [
      "registries:",
      "  upstream:",
      `    address: "ro:${PASSWORD}@registry.example.com/deckhouse/ee"`,
      "    scheme: HTTPS",
      "    username: ro",
      `    password: "${PASSWORD}"`,
      'version: "v1"',
      "checkMode: Default",
    ].join("\n");
    const records: LogRecord[] = [];
    await executeHook(checkerInit, {
      bindingContexts: [
        {
          binding: "state",
          type: "Synchronization",
          snapshots: { state: [{ filterResult: { data: { params: b64(params) } } }] },
        },
      ] as never,
      values: { global: {}, registry: { internal: {} } },
      configValues: { global: {}, registry: {} },
      log: r => records.push(r),
    });
    const warning = records.find(r => r.msg.includes("failed validation"));
    expect(warning?.msg, JSON.stringify(records)).toBe(
      "Checker params from the secret failed validation: reset to empty",
    );
    const text = JSON.stringify(records);
    expect(text).not.toContain(PASSWORD);
    expect(text).toContain("<redacted>");
  });
});
