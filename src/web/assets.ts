/** Static assets, read once at start and served from memory: the stylesheet, the icon, and small page scripts (the CSP forbids inline ones). */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

export const STYLESHEET = readFileSync(new URL("./assets/app.css", import.meta.url), "utf8");

/** The browser tab icon; every page links it, and /favicon.ico answers with it too (no 404 per page). */
export const FAVICON_SVG = readFileSync(new URL("./static/favicon.svg", import.meta.url), "utf8");

/** Access keyword boxes: one character each, auto-advance, a paste split across the boxes (views/login.tsx ChallengeForm). */
export const KEYWORD_BOXES_SCRIPT = readFileSync(new URL("./static/keyword-boxes.js", import.meta.url), "utf8");

const packageFile = createRequire(import.meta.url).resolve;

/** The web terminal: xterm.js and its fit addon (UMD builds: globals Terminal and FitAddon), their stylesheet, and the page script. */
export const XTERM_SCRIPT = readFileSync(packageFile("@xterm/xterm/lib/xterm.js"), "utf8");
export const XTERM_STYLESHEET = readFileSync(packageFile("@xterm/xterm/css/xterm.css"), "utf8");
export const XTERM_FIT_SCRIPT = readFileSync(packageFile("@xterm/addon-fit/lib/addon-fit.js"), "utf8");
export const WEB_TERMINAL_SCRIPT = readFileSync(new URL("./static/web-terminal.js", import.meta.url), "utf8");
