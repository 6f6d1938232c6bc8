/**
 * The gateway's own SFTP view (docs/ssh-relay.md "The gateway's SFTP view"): `sftp alice@gw` with no
 * server in the user name shows the servers granted to alice as folders at the root; a path
 * `/db1/etc/hosts` is `/etc/hosts` on db1, through an SFTP session the gateway opens on db1 the
 * first time the folder is used (after the same grant, step-up and live-policy checks as `ssh gw
 * db1`, channels.ts). The gateway speaks SFTP to the client with ssh2's server mode and to each
 * target with ssh2's client, so every operation is seen decoded and audited (the same `ssh.sftp`
 * events as sftp-audit.ts); file content is stored only for a server with content capture on
 * (sftp-capture.ts): the bytes of READ replies and of WRITEs the target accepted.
 *
 * Paths are normalised at the gateway (posix, relative to the root, ".." never above it), so the
 * client can never name anything outside a granted server's folder. The root itself is read-only.
 */
import { posix } from "node:path";
import type ssh2 from "ssh2";
import type { SftpAuditEvent } from "./sftp-audit.ts";
import type { CaptureOpener, CaptureSummary, FileCapture } from "./sftp-capture.ts";

/** draft-ietf-secsh-filexfer-02 §7 status codes. */
const OK = 0;
const EOF = 1;
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;
const FAILURE = 4;
const OP_UNSUPPORTED = 8;

/**
 * READ buffers kept for reuse per channel: OpenSSH's sftp keeps 64 requests of 32 KiB in flight,
 * and each reply used to allocate a fresh buffer that ssh2 fills and then copies into its DATA
 * packet (SFTP.data copies synchronously), i.e. 2 MiB of garbage per 64 requests.
 */
const READ_POOL_BUFFER = 64 * 1024;
const READ_POOL_MAX = 64;

/** Open handles per channel (files and directories), as for the relayed stream (sftp-audit.ts). */
export const VIEW_MAX_HANDLES = 1024;

export interface ViewTarget {
	readonly sftp: ssh2.SFTPWrapper;
	/** Present only when the server's admin turned SFTP content capture on. */
	readonly capture?: CaptureOpener;
}

export interface SftpViewDeps {
	/** Names of the servers granted now (the root listing). */
	listServers(): Promise<string[]>;
	/** Opens (once per channel) the SFTP session on a granted server, or says why not. */
	openServer(name: string): Promise<{ ok: true; target: ViewTarget } | { ok: false; message: string }>;
	audit(server: string, event: SftpAuditEvent): void;
}

type Handle =
	| { readonly kind: "root"; done: boolean }
	| { readonly kind: "dir"; readonly server: string; readonly target: ViewTarget; readonly remote: Buffer }
	| {
			readonly kind: "file";
			readonly server: string;
			readonly target: ViewTarget;
			readonly remote: Buffer;
			readonly path: string;
			readonly flags: string[];
			bytesRead: number;
			bytesWritten: number;
			readonly capture: FileCapture | null;
	  };

const OPEN_FLAGS: readonly [number, string][] = [
	[0x01, "read"],
	[0x02, "write"],
	[0x04, "append"],
	[0x08, "create"],
	[0x10, "truncate"],
	[0x20, "exclusive"],
];

/** "/db1/etc/hosts" → { server: "db1", remote: "/etc/hosts" }; "/" → server null. */
export function splitViewPath(raw: string): { server: string | null; remote: string; virtual: string } {
	const virtual = posix.normalize(`/${raw}`).replace(/\/+$/, "") || "/";
	if (virtual === "/") return { server: null, remote: "/", virtual };
	const [, server = "", ...rest] = virtual.split("/");
	return { server, remote: `/${rest.join("/")}`, virtual };
}

const DIR_ATTRS = { mode: 0o40555, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0 };

function statusOf(error: unknown): number {
	const code = (error as { code?: unknown } | null)?.code;
	return typeof code === "number" && code >= 1 && code <= 8 ? code : FAILURE;
}

export function serveSftpView(sftp: ssh2.SFTPWrapper, deps: SftpViewDeps): { end(): void } {
	const handles = new Map<number, Handle>();
	let nextHandle = 1;
	const readPool: Buffer[] = [];
	const targets = new Map<string, Promise<{ ok: true; target: ViewTarget } | { ok: false; message: string }>>();

	const target = (server: string) => {
		let opened = targets.get(server);
		if (opened === undefined) {
			opened = deps.openServer(server);
			targets.set(server, opened);
		}
		return opened;
	};
	const addHandle = (handle: Handle): Buffer | null => {
		if (handles.size >= VIEW_MAX_HANDLES) return null;
		const id = nextHandle++;
		handles.set(id, handle);
		const buffer = Buffer.alloc(4);
		buffer.writeUInt32BE(id);
		return buffer;
	};
	const getHandle = (buffer: Buffer): [number, Handle] | null => {
		if (buffer.length !== 4) return null;
		const id = buffer.readUInt32BE(0);
		const handle = handles.get(id);
		return handle === undefined ? null : [id, handle];
	};
	/** Resolves a path inside a server folder, answering the request itself when it cannot. */
	const inServer = async (reqId: number, raw: string): Promise<{ server: string; remote: string; target: ViewTarget } | null> => {
		const { server, remote } = splitViewPath(raw);
		if (server === null) {
			sftp.status(reqId, PERMISSION_DENIED, "the gateway's root is read-only: enter a server's folder");
			return null;
		}
		const opened = await target(server);
		if (!opened.ok) {
			sftp.status(reqId, opened.ok === false && /not available/.test(opened.message) ? NO_SUCH_FILE : PERMISSION_DENIED, opened.message);
			return null;
		}
		return { server, remote, target: opened.target };
	};
	const fail = (reqId: number) => (error: unknown) => {
		try {
			sftp.status(reqId, statusOf(error), error instanceof Error ? error.message.slice(0, 200) : "failure");
		} catch {
			// The channel is gone.
		}
	};
	const simple = (reqId: number, server: string, op: string, detail: Record<string, unknown>) => (error: unknown) => {
		const status = error ? statusOf(error) : OK;
		deps.audit(server, { op, outcome: error ? "failure" : "success", detail: { ...detail, ...(error ? { status } : {}) } });
		if (error) fail(reqId)(error);
		else sftp.status(reqId, OK);
	};
	const run = (reqId: number, work: () => Promise<void>) => void work().catch(fail(reqId));

	sftp.on("REALPATH", (reqId, path) => {
		const { virtual } = splitViewPath(path);
		sftp.name(reqId, [{ filename: virtual, longname: virtual, attrs: {} as ssh2.Attributes }]);
	});
	const stat = (method: "stat" | "lstat") => (reqId: number, path: string) =>
		run(reqId, async () => {
			const { server, remote } = splitViewPath(path);
			if (server === null) return void sftp.attrs(reqId, DIR_ATTRS as ssh2.Attributes);
			const found = await inServer(reqId, path);
			if (found === null) return;
			if (remote === "/") return void sftp.attrs(reqId, DIR_ATTRS as ssh2.Attributes);
			found.target.sftp[method](remote, (error, stats) => (error ? fail(reqId)(error) : sftp.attrs(reqId, stats as unknown as ssh2.Attributes)));
		});
	sftp.on("STAT", stat("stat"));
	sftp.on("LSTAT", stat("lstat"));
	sftp.on("OPENDIR", (reqId, path) =>
		run(reqId, async () => {
			const { server } = splitViewPath(path);
			if (server === null) {
				const handle = addHandle({ kind: "root", done: false });
				return void (handle ? sftp.handle(reqId, handle) : sftp.status(reqId, FAILURE, "too many open handles"));
			}
			const found = await inServer(reqId, path);
			if (found === null) return;
			found.target.sftp.opendir(found.remote, (error, remote) => {
				if (error) return fail(reqId)(error);
				const handle = addHandle({ kind: "dir", server: found.server, target: found.target, remote });
				if (handle) sftp.handle(reqId, handle);
				else found.target.sftp.close(remote, () => sftp.status(reqId, FAILURE, "too many open handles"));
			});
		}),
	);
	sftp.on("READDIR", (reqId, raw) =>
		run(reqId, async () => {
			const entry = getHandle(raw);
			if (entry === null || entry[1].kind === "file") return void sftp.status(reqId, FAILURE, "bad handle");
			const handle = entry[1];
			if (handle.kind === "root") {
				if (handle.done) return void sftp.status(reqId, EOF);
				handle.done = true;
				const names = await deps.listServers();
				const longname = (name: string) => `dr-xr-xr-x    2 portcullis portcullis        0 Jan  1  1970 ${name}`;
				return void sftp.name(
					reqId,
					names.map((name) => ({ filename: name, longname: longname(name), attrs: DIR_ATTRS as ssh2.Attributes })),
				);
			}
			// { full: true }: "." and ".." pass through as the target sent them (ssh2 SFTP.readdir; @types/ssh2 lacks the options).
			const readdir = handle.target.sftp.readdir.bind(handle.target.sftp) as unknown as (
				where: Buffer,
				options: { full: boolean },
				callback: (error: Error | undefined, list: ssh2.FileEntry[]) => void,
			) => void;
			readdir(handle.remote, { full: true }, (error, list) => (error ? fail(reqId)(error) : sftp.name(reqId, list)));
		}),
	);
	sftp.on("OPEN", (reqId, path, pflags, attrs) =>
		run(reqId, async () => {
			const found = await inServer(reqId, path);
			if (found === null) return;
			const flags = OPEN_FLAGS.filter(([bit]) => pflags & bit).map(([, name]) => name);
			found.target.sftp.open(found.remote, pflags, attrs, (error, remote) => {
				deps.audit(found.server, {
					op: "open",
					outcome: error ? "failure" : "success",
					detail: { path: found.remote, flags, ...(error ? { status: statusOf(error) } : {}) },
				});
				if (error) return fail(reqId)(error);
				const handle = addHandle({
					kind: "file",
					server: found.server,
					target: found.target,
					remote,
					path: found.remote,
					flags,
					bytesRead: 0,
					bytesWritten: 0,
					capture: found.target.capture ? found.target.capture(found.remote, flags) : null,
				});
				if (handle) sftp.handle(reqId, handle);
				else found.target.sftp.close(remote, () => sftp.status(reqId, FAILURE, "too many open handles"));
			});
		}),
	);
	/** Capture on: the bytes are captured, then the reply waits while the database is behind (backpressure). */
	const captured = (file: Extract<Handle, { kind: "file" }>, reqId: number, op: "read" | "write", offset: number, bytes: Buffer, reply: () => void) => {
		const capture = file.capture;
		if (capture === null) return reply();
		capture.data(op, offset, bytes);
		const wait = capture.wait();
		const send = () => {
			if (capture.failure !== null) return fail(reqId)(new Error("content capture failed: the transfer is refused"));
			reply();
		};
		if (wait === null) send();
		else void wait.then(send);
	};
	sftp.on("READ", (reqId, raw, offset, length) => {
		const entry = getHandle(raw);
		if (entry === null || entry[1].kind !== "file") return sftp.status(reqId, FAILURE, "bad handle");
		const file = entry[1];
		if (file.capture?.failure) return fail(reqId)(new Error("content capture failed: the transfer is refused"));
		const size = Math.min(length, 256 * 1024);
		// allocUnsafe: ssh2 fills the buffer from the DATA reply; zeroing it first is wasted work per request.
		const pooled = size <= READ_POOL_BUFFER && file.capture === null;
		const into = pooled ? (readPool.pop() ?? Buffer.allocUnsafe(READ_POOL_BUFFER)) : Buffer.allocUnsafe(size);
		file.target.sftp.read(file.remote, into, 0, size, offset, (error, bytesRead, buffer) => {
			if (error) return fail(reqId)(error);
			if (bytesRead === 0) return sftp.status(reqId, EOF);
			file.bytesRead += bytesRead;
			const data = buffer.subarray(0, bytesRead);
			if (!pooled) return captured(file, reqId, "read", offset, data, () => sftp.data(reqId, data));
			// ssh2 copies the data into its packet before returning: the buffer is free again (a capture keeps its buffers, so it is never pooled).
			sftp.data(reqId, data);
			if (readPool.length < READ_POOL_MAX) readPool.push(into);
		});
	});
	sftp.on("WRITE", (reqId, raw, offset, data) => {
		const entry = getHandle(raw);
		if (entry === null || entry[1].kind !== "file") return sftp.status(reqId, FAILURE, "bad handle");
		const file = entry[1];
		if (file.capture?.failure) return fail(reqId)(new Error("content capture failed: the transfer is refused"));
		file.target.sftp.write(file.remote, data, 0, data.length, offset, (error) => {
			if (error) return fail(reqId)(error);
			file.bytesWritten += data.length;
			captured(file, reqId, "write", offset, data, () => sftp.status(reqId, OK));
		});
	});
	sftp.on("CLOSE", (reqId, raw) => {
		const entry = getHandle(raw);
		if (entry === null) return sftp.status(reqId, FAILURE, "bad handle");
		const [id, handle] = entry;
		handles.delete(id);
		if (handle.kind === "root") return sftp.status(reqId, OK);
		handle.target.sftp.close(handle.remote, (error) => {
			const reply = () => {
				if (error) fail(reqId)(error);
				else sftp.status(reqId, OK);
			};
			if (handle.kind !== "file") return reply();
			const { path, flags, bytesRead, bytesWritten } = handle;
			const audit = (capture?: CaptureSummary) =>
				deps.audit(handle.server, {
					op: "close",
					outcome: error || capture?.failed ? "failure" : "success",
					detail: { path, flags, bytesRead, bytesWritten, ...(capture ? { capture } : {}) },
				});
			if (handle.capture === null) {
				audit();
				return reply();
			}
			// The close is answered once the capture is in the database: the client's "done" means stored.
			void handle.capture.close().then((summary) => {
				audit(summary);
				if (summary.failed && !error) return fail(reqId)(new Error("content capture failed"));
				reply();
			});
		});
	});
	sftp.on("FSTAT", (reqId, raw) => {
		const entry = getHandle(raw);
		if (entry === null || entry[1].kind === "root") return sftp.status(reqId, entry ? OK : FAILURE);
		const handle = entry[1];
		handle.target.sftp.fstat(handle.remote, (error, stats) => (error ? fail(reqId)(error) : sftp.attrs(reqId, stats as unknown as ssh2.Attributes)));
	});
	sftp.on("FSETSTAT", (reqId, raw, attrs) => {
		const entry = getHandle(raw);
		if (entry === null || entry[1].kind !== "file") return sftp.status(reqId, FAILURE, "bad handle");
		const file = entry[1];
		file.target.sftp.fsetstat(file.remote, attrs, simple(reqId, file.server, "setstat", { path: file.path, attrs: { ...attrs } }));
	});
	sftp.on("SETSTAT", (reqId, path, attrs) =>
		run(reqId, async () => {
			const found = await inServer(reqId, path);
			if (found) found.target.sftp.setstat(found.remote, attrs, simple(reqId, found.server, "setstat", { path: found.remote, attrs: { ...attrs } }));
		}),
	);
	for (const [event, op] of [
		["REMOVE", "remove"],
		["RMDIR", "rmdir"],
	] as const)
		sftp.on(event, (reqId: number, path: string) =>
			run(reqId, async () => {
				const found = await inServer(reqId, path);
				if (found) found.target.sftp[op === "remove" ? "unlink" : "rmdir"](found.remote, simple(reqId, found.server, op, { path: found.remote }));
			}),
		);
	sftp.on("MKDIR", (reqId, path, attrs) =>
		run(reqId, async () => {
			const found = await inServer(reqId, path);
			if (found) found.target.sftp.mkdir(found.remote, attrs, simple(reqId, found.server, "mkdir", { path: found.remote }));
		}),
	);
	sftp.on("RENAME", (reqId, from, to) =>
		run(reqId, async () => {
			const source = splitViewPath(from);
			const destination = splitViewPath(to);
			// A rename across servers would be a copy the gateway does not make.
			if (source.server !== destination.server) return void sftp.status(reqId, OP_UNSUPPORTED, "rename across servers is not supported");
			const found = await inServer(reqId, from);
			if (found)
				found.target.sftp.rename(found.remote, destination.remote, simple(reqId, found.server, "rename", { from: found.remote, to: destination.remote }));
		}),
	);
	sftp.on("READLINK", (reqId) => sftp.status(reqId, OP_UNSUPPORTED));
	sftp.on("SYMLINK", (reqId) => sftp.status(reqId, OP_UNSUPPORTED));

	return {
		end() {
			for (const handle of handles.values())
				if (handle.kind === "file") {
					const { path, flags, bytesRead, bytesWritten } = handle;
					const detail = { path, flags, bytesRead, bytesWritten, closedBy: "channel-end" };
					if (handle.capture === null) deps.audit(handle.server, { op: "close", outcome: "info", detail });
					else void handle.capture.close().then((capture) => deps.audit(handle.server, { op: "close", outcome: "info", detail: { ...detail, capture } }));
				}
			handles.clear();
		},
	};
}
