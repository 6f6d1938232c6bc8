/** Static assets, read once at start and served from memory: the stylesheet, the icon, and small page scripts (the CSP forbids inline ones). */
import { readFileSync } from "node:fs";

export const STYLESHEET = readFileSync(new URL("./assets/app.css", import.meta.url), "utf8");

/** The browser tab icon; every page links it, and /favicon.ico answers with it too (no 404 per page). */
export const FAVICON_SVG = readFileSync(new URL("./static/favicon.svg", import.meta.url), "utf8");

/** Access keyword boxes: one character each, auto-advance, a paste split across the boxes (views/login.tsx ChallengeForm). */
export const KEYWORD_BOXES_SCRIPT = readFileSync(new URL("./static/keyword-boxes.js", import.meta.url), "utf8");
