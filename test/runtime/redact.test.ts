import { describe, expect, it } from "vitest";
import { createLogger, type LogRecord } from "../../lib/runtime/logger";
import { REDACTED, redactText, redactValue } from "../../lib/runtime/redact";

describe("redaction", () => {
  it("hides secret-named keys at any depth and keeps the rest", () => {
    const out = redactValue({
      upstream: { imagesRepo: "r.example/deckhouse", password: "hunter22", license: "L1C" },
      users: [{ name: "ro", passwordHash: "$2a$10$abc" }],
      ".dockerconfigjson": "{...}",
      "tls.key": "k",
    });
    expect(out).toEqual({
      upstream: { imagesRepo: "r.example/deckhouse", password: REDACTED, license: REDACTED },
      users: [{ name: "ro", passwordHash: REDACTED }],
      ".dockerconfigjson": REDACTED,
      "tls.key": REDACTED,
    });
  });

  it("hides credentials by shape in free text", () => {
    const text = [
      "pull https://user:s3cret@registry.example/v2/",
      "Authorization: Basic dXNlcjpzM2NyZXQ=",
      "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----",
    ].join("\n");
    const out = redactText(text);
    expect(out).not.toMatch(/s3cret|dXNlcjpzM2NyZXQ=|MHcCAQEE/);
    expect(out).toContain("https://<redacted>@registry.example/v2/");
  });

  it("hides registered secrets wherever they appear in a log record", () => {
    const records: LogRecord[] = [];
    const log = createLogger(r => records.push(r), "orchestrator");
    log.addSecret("licence-abcdef");
    log.info("upstream rejected licence-abcdef", { detail: "token licence-abcdef expired" });
    expect(JSON.stringify(records)).not.toContain("licence-abcdef");
    expect(records[0]).toMatchObject({ level: "info", hook: "orchestrator" });
  });
});
