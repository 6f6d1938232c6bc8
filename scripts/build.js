// `npm run build` (and `prepare`, so `npm install` / `npm ci` run it): bundles the TypeScript
// sources into dist/ with esbuild, the compiled program that bin/portcullis.js and `npm start` run.
// Tests and scripts keep running the sources through tsx. Why a bundle and why esbuild:
// docs/decisions.md, "Runtime and build".
//
//   node scripts/build.js [--outdir DIR]   (DIR inside the checkout, so node_modules resolves)
//
// - One entry, src/cli/main.ts, as dist/cli.js; every dynamic import() (serve, the application,
//   the config loader) becomes its own chunk, so `--help` loads only the command definitions.
// - Packages with native addons or worker files stay in node_modules (external): better-sqlite3,
//   ssh2 (patched at install), cpu-features, @node-rs/argon2, and pino with its thread-stream
//   workers. Everything else (kysely, fastify, zod, …) is bundled: reading one file instead of
//   hundreds is most of the cold-start gain (docs/benchmarks.md, "CLI cold start").
// - Files the code reads at run time by `new URL("./relative", import.meta.url)` (the stylesheet,
//   the WebAuthn page script, the asciicast player) are copied to dist/assets/<path under src>,
//   and the URL is rewritten to point there; a URL that leaves src/ (package.json) is rewritten to
//   the same file seen from dist/. Any other use of import.meta's location fails the build.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const srcDir = join(root, "src");

export const EXTERNAL_PACKAGES = ["better-sqlite3", "ssh2", "cpu-features", "@node-rs/argon2", "pino", "thread-stream"];

function fail(message) {
	throw new Error(`build: ${message}`);
}

/** Relative URL from outdir to a file, always starting with ./ or ../ (as new URL wants it). */
function urlFrom(outdir, file) {
	const path = relative(outdir, file).split(sep).join("/");
	return path.startsWith(".") ? path : `./${path}`;
}

/** esbuild plugin: rewrites `new URL("./x", import.meta.url)` in our sources and copies the assets. */
function runtimeAssets(outdir, copied) {
	return {
		name: "portcullis-runtime-assets",
		setup(build) {
			build.onLoad({ filter: /\.tsx?$/ }, (args) => {
				if (!args.path.startsWith(srcDir + sep)) return undefined;
				const source = readFileSync(args.path, "utf8");
				if (/import\.meta\.(dirname|filename)\b|fileURLToPath\(import\.meta\.url\)/.test(source))
					fail(`${relative(root, args.path)} uses its own location in a form this build does not rewrite; use new URL("./file", import.meta.url)`);
				const contents = source.replace(/new URL\((["'])(\.{1,2}\/[^"']+)\1, import\.meta\.url\)/g, (_match, _quote, target) => {
					const file = resolve(dirname(args.path), target);
					let url;
					if (file.startsWith(srcDir + sep)) {
						const asset = join(outdir, "assets", relative(srcDir, file));
						copied.push([file, asset]);
						url = urlFrom(outdir, asset);
					} else {
						url = urlFrom(outdir, file);
					}
					return `new URL(${JSON.stringify(url)}, import.meta.url)`;
				});
				return { contents, loader: args.path.endsWith(".tsx") ? "tsx" : "ts" };
			});
		},
	};
}

export async function build(outdir = join(root, "dist")) {
	outdir = resolve(outdir);
	if (outdir === root || !outdir.startsWith(root + sep)) fail(`--outdir must be a folder inside ${root} (node_modules is resolved from there)`);
	let esbuild;
	try {
		esbuild = await import("esbuild");
	} catch {
		fail("esbuild is missing: install the dev dependencies (npm ci, without --omit=dev)");
	}
	rmSync(outdir, { recursive: true, force: true });
	const copied = [];
	const result = await esbuild.build({
		absWorkingDir: root,
		entryPoints: { cli: join(srcDir, "cli", "main.ts") },
		outdir,
		bundle: true,
		splitting: true,
		format: "esm",
		platform: "node",
		target: "node24",
		external: EXTERNAL_PACKAGES,
		jsx: "automatic",
		jsxImportSource: "preact",
		chunkNames: "[name]-[hash]",
		// CommonJS packages inside an ESM bundle call require() for Node's own modules.
		banner: { js: 'import { createRequire as __portcullisRequire } from "node:module"; const require = __portcullisRequire(import.meta.url);' },
		logLevel: "warning",
		plugins: [runtimeAssets(outdir, copied)],
		metafile: true,
	});
	if (result.errors.length > 0) fail(`${result.errors.length} errors`);
	for (const [from, to] of copied) {
		mkdirSync(dirname(to), { recursive: true });
		copyFileSync(from, to);
	}
	return { outdir, files: Object.keys(result.metafile.outputs).length, assets: copied.length };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const at = process.argv.indexOf("--outdir");
	const started = performance.now();
	try {
		const done = await build(at > 0 ? process.argv[at + 1] : undefined);
		console.log(`build: ${relative(root, done.outdir)}/ (${done.files} files, ${done.assets} assets) in ${Math.round(performance.now() - started)} ms`);
	} catch (error) {
		console.error(error instanceof Error ? error.message : String(error));
		process.exitCode = 1;
	}
}
