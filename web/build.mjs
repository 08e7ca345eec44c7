// Bundle the viewer into src/braintwin/web/static (committed; served by `braintwin serve`).
// Code splitting keeps what NiiVue only loads on demand (zarr codecs: ~1.3 MB of WebAssembly
// for zstd/blosc) out of the page's bundle; those chunks are fetched only if ever used.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";

const out = "../src/braintwin/web/static";
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) rmSync(`${out}/${f}`); // no stale chunks
await esbuild.build({
  entryPoints: { app: "src/main.js" },
  bundle: true,
  splitting: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outdir: out,
  entryNames: "[name]",
  chunkNames: "chunk-[hash]",
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
for (const f of readdirSync(out).sort()) {
  console.log(`${f}: ${(statSync(`${out}/${f}`).size / 1024).toFixed(0)} KiB`);
}
