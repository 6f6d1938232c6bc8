/**
 * Entry point of `portcullis` (bin/portcullis.js) and of `npm start` (`node --no-memory-reducer bin/portcullis.js serve`).
 */
import { runCli } from "./program.ts";

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; if a stray handle (a paused terminal, a pool) would still keep the
// process alive, leave anyway. unref(): this timer itself never holds the process open.
setTimeout(() => process.exit(code), 2000).unref();
