import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  {
    // Files a screen can hold (issue 14, in the spirit of Pepr's limits). Warnings, so an editor
    // shows them while one works; `npm run lint` allows none (--max-warnings 0).
    files: ["lib/**/*.ts", "hooks/**/*.ts", "images/**/*.ts", "cli/**/*.ts"],
    rules: {
      complexity: ["warn", 15],
      "max-depth": ["warn", 4],
      "max-params": ["warn", 4],
      "max-lines-per-function": ["warn", { max: 80, skipBlankLines: true, skipComments: true }],
      "max-lines": ["warn", { max: 500, skipBlankLines: true, skipComments: true }],
    },
  },
  // Import boundaries: hooks/, images/ and cli/ are adapters over lib/, never the other way;
  // what ships (those, and the build scripts) is never built from test/ or bench/ code.
  ...importBoundaries({
    "lib/**/*.ts": ["hooks", "images", "cli", "test", "bench", "scripts"],
    "hooks/**/*.ts": ["images", "test", "bench"],
    "images/**/*.ts": ["hooks", "test", "bench"],
    "cli/**/*.ts": ["test", "bench"],
    // the build's own step (scripts/fuzz.ts is a developer's tool over the test lab)
    "scripts/warm-up-runs.ts": ["test", "bench"],
  }),
);

/** One `files` block per layer, forbidding static and dynamic imports of the given top dirs. */
function importBoundaries(forbiddenByFiles) {
  return Object.entries(forbiddenByFiles).map(([files, dirs]) => {
    // a relative import that climbs to the repository root and into one of `dirs`
    const regex = `^(\\.\\./)+(${dirs.join("|")})(/|$)`;
    const message =
      `${files.split("/")[0]}/ must not import ${dirs.map(d => d + "/").join(", ")}: ` +
      "hooks/, images/ and cli/ import lib/, never back, and what ships is not built from tests";
    return {
      files: [files],
      rules: {
        "no-restricted-imports": ["error", { patterns: [{ regex, message }] }],
        "no-restricted-syntax": [
          "error",
          { selector: `ImportExpression[source.value=/${regex.replaceAll("/", "\\/")}/]`, message },
        ],
      },
    };
  });
}
