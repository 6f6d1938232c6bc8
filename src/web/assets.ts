/** Static assets, read once at start and served from memory (one stylesheet, no scripts needed). */
import { readFileSync } from "node:fs";

export const STYLESHEET = readFileSync(new URL("./assets/app.css", import.meta.url), "utf8");
