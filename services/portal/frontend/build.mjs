// The portal's front-end build (run by deploy/local/install when the lock, this file, the
// scripts or the templates changed):
//
// 1. build/ol-portal.js — the portal's OpenLayers: only the modules its scripts use, as one classic script that
// defines the same global `ol` as OpenLayers' full build (`ol/dist/ol.js`, ~1 MB), so the
// page stays within its weight budget without changing how the scripts are written.
//
// The names come from the scripts themselves: every `ol.a.b.C` written in
// ../src/dinamis_portal/static/app/*.js is resolved to its module (`ol/a/b/C.js`, whose
// default export it is, or `ol/a/b.js`, whose named export `C` it is), exactly as the full
// build lays them out. A name that resolves to no module stops the build, naming it.
// Written names only: `ol[name]` computed at run time is not seen (do not write it).
//
// 2. build/icons.min.css — the DSFR's utility icons the templates and scripts name
//    (`fr-icon-*`), out of the 1,100 of `@gouvfr/dsfr/dist/utility/icons/icons.min.css`
//    (29 kB gzipped), their image URLs made absolute (`/static/dsfr/icons/...`). An icon
//    name built at run time (`fr-icon-{{ x }}`) is not seen: write icon names in full.
//
//   node build.mjs   -> build/ol-portal.js, build/ol-portal.json (the names), build/icons.min.css,
//                       build/icons.json (the names)
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const HERE = dirname(fileURLToPath(import.meta.url));
const PORTAL = join(HERE, "..", "src", "dinamis_portal");
const APP = join(PORTAL, "static", "app");
const TEMPLATES = join(PORTAL, "templates");
const DSFR = join(HERE, "node_modules", "@gouvfr", "dsfr", "dist");
const OL = join(HERE, "node_modules", "ol");
const OUT = join(HERE, "build");
// The same pattern as dinamis_portal.entrypoints.statics.OL_NAME (the portal checks at start
// that the build covers what the scripts use).
const OL_NAME = /\bol((?:\.[A-Za-z_$][A-Za-z0-9_$]*)+)/g;

function usedNames() {
  const names = new Set();
  for (const file of readdirSync(APP).filter((f) => f.endsWith(".js")).sort()) {
    const text = readFileSync(join(APP, file), "utf8");
    for (const match of text.matchAll(OL_NAME)) {
      names.add(match[1].slice(1));
    }
  }
  return [...names].sort();
}

// The longest module prefix of a name: "layer.Vector" -> ol/layer/Vector.js (its default
// export), "proj.fromLonLat" -> the named export `fromLonLat` of ol/proj.js,
// "control.defaults.defaults" -> `defaults` of ol/control/defaults.js. Never a barrel
// (ol/layer.js re-exports every layer) when the module itself exists.
function resolve(name) {
  const parts = name.split(".");
  for (let n = parts.length; n >= 1; n--) {
    const rel = parts.slice(0, n).join("/") + ".js";
    if (existsSync(join(OL, rel))) {
      return { module: "ol/" + rel, parts, n };
    }
  }
  return null;
}

const names = usedNames();
const imports = new Map(); // "module|export" -> path in the namespace
const unknown = [];
for (const name of names) {
  const found = resolve(name);
  if (found === null) {
    unknown.push(name);
    continue;
  }
  const { module, parts, n } = found;
  if (n === parts.length) {
    const source = readFileSync(join(OL, module.slice(3)), "utf8");
    imports.set(`${module}|${/export default/.test(source) ? "default" : "*"}`, parts);
  } else {
    imports.set(`${module}|${parts[n]}`, parts.slice(0, n + 1));
  }
}
if (unknown.length) {
  console.error(`build: no OpenLayers module for ol.${unknown.join(", ol.")}`);
  process.exit(1);
}

const lines = ["const ol = {};", "function put(path, value) {", "  let node = ol;",
  "  for (const key of path.slice(0, -1)) node = node[key] ??= {};",
  "  const last = path[path.length - 1];",
  "  node[last] = node[last] ? Object.assign(value, node[last]) : value;", "}"];
let k = 0;
for (const [key, path] of [...imports].sort()) {
  const [module, name] = key.split("|");
  const clause = name === "*" ? `* as m${k}` : `{ ${name} as m${k} }`;
  lines.push(`import ${clause} from ${JSON.stringify(module)};`);
  lines.push(`put(${JSON.stringify(path)}, ${name === "*" ? `{ ...m${k} }` : `m${k}`});`);
  k += 1;
}
lines.push("globalThis.ol = ol;");

mkdirSync(OUT, { recursive: true });
const result = buildSync({
  stdin: { contents: lines.join("\n"), resolveDir: HERE, sourcefile: "ol-portal-entry.mjs" },
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "eof",
  outfile: join(OUT, "ol-portal.js"),
  metafile: true,
  logLevel: "warning",
});
const size = result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].bytes;
const modules = [...new Set([...imports.keys()].map((key) => key.split("|")[0]))].sort();
writeFileSync(join(OUT, "ol-portal.json"), JSON.stringify({ names, modules }, null, 1) + "\n");
console.log(`build: OpenLayers, ${modules.length} modules for ${names.length} names, ${size} bytes`);

// The same pattern as dinamis_portal.entrypoints.statics.ICON_NAME.
const ICON_NAME = /\bfr-icon-([a-z0-9][a-z0-9-]*[a-z0-9])/g;

function filesUnder(dir, suffixes) {
  return readdirSync(dir, { recursive: true })
    .filter((f) => suffixes.some((s) => f.endsWith(s)))
    .sort()
    .map((f) => join(dir, f));
}

const icons = new Set();
for (const file of [...filesUnder(TEMPLATES, [".j2", ".html"]), ...filesUnder(APP, [".js"])]) {
  for (const match of readFileSync(file, "utf8").matchAll(ICON_NAME)) icons.add(match[1]);
}
const allIcons = readFileSync(join(DSFR, "utility", "icons", "icons.min.css"), "utf8");
// Top-level rules only: the media queries hold Internet Explorer's high-contrast variants.
const rules = new Map();
const topLevel = allIcons.replace(/\/\*[\s\S]*?\*\//g, "").replace(/@media[^{]*\{(?:[^{}]*\{[^}]*\})*\s*\}/g, "");
for (const [, selector, body] of topLevel.matchAll(/([^{}]+)\{([^}]*)\}/g)) {
  const name = /^\.fr-icon-([a-z0-9-]+):after,\.fr-icon-\1:before$/.exec(selector.trim());
  if (name) rules.set(name[1], `${selector.trim()}{${body.replaceAll("../../icons/", "/static/dsfr/icons/")}}`);
}
const kept = [...icons].sort().filter((name) => rules.has(name));
const notIcons = [...icons].sort().filter((name) => !rules.has(name));
// Not a utility icon: the DSFR's own CSS must draw it, else it is a name the DSFR does not have.
const core = readFileSync(join(DSFR, "dsfr.main.min.css"), "utf8");
const unknownIcons = notIcons.filter((name) => !core.includes(`.fr-icon-${name}`));
if (unknownIcons.length) {
  console.error(`build: no DSFR icon is called fr-icon-${unknownIcons.join(", fr-icon-")}`);
  process.exit(1);
}
const licence = allIcons.match(/^\/\*![\s\S]*?\*\//);
writeFileSync(join(OUT, "icons.min.css"), `${licence ? licence[0] : ""}${kept.map((n) => rules.get(n)).join("")}\n`);
writeFileSync(join(OUT, "icons.json"), JSON.stringify({ names: [...icons].sort() }, null, 1) + "\n");
console.log(`build: ${kept.length} DSFR utility icons of ${rules.size}`);
