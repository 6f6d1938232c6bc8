/**
 * Entry point of `portcullis` (bin/portcullis.js) and of `npm start` (`node --no-memory-reducer bin/portcullis.js serve`).
 */
import { closedOutput } from "./io.ts";
import { runCli } from "./program.ts";

/**
 * The reader of our output went away (`portcullis audit | head -2`): nobody is left to read the
 * rest or an error, so stop at once, silently, with success, as the reader chose to stop
 * (README, "Never a stack trace"). Any other stream error is a real failure and is reported.
 */
for (const stream of [process.stdout, process.stderr]) {
	stream.on("error", (error: NodeJS.ErrnoException) => {
		if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") {
			if (closedOutput.endsProcess) process.exit(0);
			return;
		}
		process.stderr.write(`portcullis: cannot write the output: ${error.message}\n`);
		process.exit(1);
	});
}

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Everything is closed by now; if a stray handle (a paused terminal, a pool) would still keep the
// process alive, leave anyway. unref(): this timer itself never holds the process open.
setTimeout(() => process.exit(code), 2000).unref();
