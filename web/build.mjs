// Bundle the viewer into src/braintwin/web/static (committed; served by `braintwin serve`).
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, statSync } from "node:fs";

const out = "../src/braintwin/web/static";
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outfile: `${out}/app.js`,
  legalComments: "eof",
  logLevel: "info",
});
await esbuild.build({
  entryPoints: ["src/style.css"],
  bundle: true,
  minify: true,
  outfile: `${out}/app.css`,
  logLevel: "info",
});
copyFileSync("src/index.html", `${out}/index.html`);
copyFileSync("src/favicon.svg", `${out}/favicon.svg`);
for (const f of ["app.js", "app.css", "index.html"]) {
  console.log(`${f}: ${(statSync(`${out}/${f}`).size / 1024).toFixed(0)} KiB`);
}
