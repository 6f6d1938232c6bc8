/**
 * Where session recordings written before migration 0013 live: config.ssh.recordings_dir (default
 * <data_dir>/recordings), and the one check that a stored relative path stays inside it. New
 * recordings are chunks in the database (recording-store.ts); these files are only read and,
 * by retention, deleted.
 */
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Config } from "../config/config.ts";
import { PortcullisError } from "../core/errors.ts";

export function recordingsDir(config: Config): string {
	return resolve(config.ssh.recordings_dir !== "" ? config.ssh.recordings_dir : join(config.data_dir, "recordings"));
}

/** Absolute path of a recording file; refuses a stored path that escapes the directory. */
export function recordingPath(config: Config, file: string): string {
	return recordingPathIn(recordingsDir(config), file);
}

/** The same check against an already resolved recordings directory. */
export function recordingPathIn(root: string, file: string): string {
	const full = resolve(root, file);
	const rel = relative(root, full);
	if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || rel.split(sep).includes(".."))
		throw new PortcullisError("ERR_INPUT", "recording path outside the recordings directory");
	return full;
}
