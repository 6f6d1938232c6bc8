#!/usr/bin/env node
// The `portcullis` command. The sources are TypeScript run as they are (no build step): register
// tsx's ESM loader first, then import the CLI (a dynamic import, so it runs after registration).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
