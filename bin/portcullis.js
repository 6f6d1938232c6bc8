#!/usr/bin/env -S node --no-memory-reducer
// The `portcullis` command. The sources are TypeScript run as they are (no build step): register
// tsx's ESM loader first, then import the CLI (a dynamic import, so it runs after registration).
// The node flags in the first line are src/app/node-flags.ts (why: see there).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
