// References in code and documents resolve inside the repository: a clone has no team folder
// beside it, so `../shared`, the team's DESIGN.md or numbered sections of a spec it does not
// hold are dead ends for the next reader. Links to docs/architecture.md#<anchor> must name a
// heading that exists, paths under docs/ must exist, and `ADR NNNN` must be a file in docs/adr/.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const TEXT = /\.(ts|mjs|js|md|yaml|yml|hbs|sh|json)$|^\.ci\/run$|^enabled$/;
const files = execFileSync("git", ["ls-files"], { encoding: "utf8" })
  .split("\n")
  .filter(f => TEXT.test(f) && !f.startsWith("test/snapshots/modes/") && existsSync(f));
const text = new Map(files.map(f => [f, readFileSync(f, "utf8")]));
// files that name the patterns they forbid
const CHECKERS = new Set(["test/docs/references.test.ts", "test/docs/user-docs.test.ts"]);

/** GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(
      (m[1] ?? "")
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} -]/gu, "")
        .replace(/ /g, "-"),
    );
  }
  return out;
}

function hits(re: RegExp): string[] {
  const out: string[] = [];
  for (const [file, body] of text) {
    if (CHECKERS.has(file)) continue;
    body.split("\n").forEach((line, i) => {
      if (re.test(line)) out.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return out;
}

describe("references resolve inside the repository", () => {
  it("no path into the team's folder and no team DESIGN.md", () => {
    expect(hits(/\.\.\/shared|\/work\/shared|DESIGN\.md/)).toEqual([]);
  });

  it("no numbered section of a document the repository does not hold (RFCs excepted)", () => {
    expect(hits(/§/).filter(l => !/RFC \d+ §/.test(l))).toEqual([]);
  });

  it("every docs/architecture.md#anchor names a heading of it", () => {
    const known = anchors(readFileSync("docs/architecture.md", "utf8"));
    const missing: string[] = [];
    for (const [file, body] of text) {
      if (CHECKERS.has(file)) continue;
      for (const m of body.matchAll(/architecture\.md#([a-z0-9-]+)((?:, #[a-z0-9-]+)*)/g)) {
        const names = [m[1] ?? "", ...[...(m[2] ?? "").matchAll(/#([a-z0-9-]+)/g)].map(n => n[1])];
        for (const name of names) if (!known.has(name ?? "")) missing.push(`${file}: #${name}`);
      }
      // links inside architecture.md itself: [text](#anchor)
      if (file === "docs/architecture.md")
        for (const m of body.matchAll(/\]\(#([a-z0-9-]+)\)/g))
          if (!known.has(m[1] ?? "")) missing.push(`${file}: #${m[1]}`);
    }
    expect(known.size).toBeGreaterThanOrEqual(20);
    expect(missing).toEqual([]);
  });

  it("every docs/… path named exists", () => {
    const missing: string[] = [];
    for (const [file, body] of text) {
      for (const m of body.matchAll(/(?<![\w/.-])docs\/[A-Za-z0-9_./-]+\.md\b/g))
        if (!existsSync(m[0])) missing.push(`${file}: ${m[0]}`);
    }
    expect(missing).toEqual([]);
  });

  it("every ADR named by number exists in docs/adr/", () => {
    const adrs = new Set(readdirSync("docs/adr").map(f => f.slice(0, 4)));
    const missing: string[] = [];
    for (const [file, body] of text) {
      for (const m of body.matchAll(/\bADRs? (\d{4})((?:(?:, | and | or |–)\d{4})*)/g)) {
        const numbers = [m[1] ?? "", ...[...(m[2] ?? "").matchAll(/\d{4}/g)].map(n => n[0])];
        for (const n of numbers) if (!adrs.has(n)) missing.push(`${file}: ADR ${n}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
