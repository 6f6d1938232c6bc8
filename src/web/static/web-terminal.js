// The console's web terminal (views/web-terminal.tsx, routes/web-terminal.tsx): xterm.js over one
// WebSocket. Binary frames carry the bytes both ways (keystrokes, pastes and Ctrl-C as typed,
// UTF-8); text frames carry JSON control messages: {type:"resize",cols,rows} from here,
// {type:"ended"|"refused",message} from the server. Served as a static file: the CSP forbids inline script.
(() => {
	const element = document.getElementById("terminal");
	const status = document.getElementById("terminal-status");
	if (element === null || typeof Terminal !== "function" || typeof FitAddon !== "object") return;
	const setStatus = (text) => {
		if (status !== null) status.textContent = text;
	};
	const term = new Terminal({ convertEol: false, cursorBlink: true, scrollback: 5000 });
	const fit = new FitAddon.FitAddon();
	term.loadAddon(fit);
	term.open(element);
	fit.fit();
	// Tests and assistive tools read the screen from here (window.portcullisTerminal.buffer.active).
	window.portcullisTerminal = term;

	const params = new URLSearchParams({ csrf: element.dataset.csrf ?? "", cols: String(term.cols), rows: String(term.rows) });
	const scheme = location.protocol === "https:" ? "wss:" : "ws:";
	const socket = new WebSocket(`${scheme}//${location.host}${element.dataset.socket}?${params}`);
	socket.binaryType = "arraybuffer";
	const encoder = new TextEncoder();
	let open = false;

	socket.addEventListener("open", () => {
		open = true;
		setStatus(`Connected to ${element.dataset.server}.`);
		term.focus();
	});
	socket.addEventListener("message", (event) => {
		if (typeof event.data !== "string") {
			term.write(new Uint8Array(event.data));
			return;
		}
		let message;
		try {
			message = JSON.parse(event.data);
		} catch {
			return;
		}
		if (message.type === "ended" || message.type === "refused") {
			open = false;
			if (typeof message.message === "string" && message.message !== "") term.write(`\r\n${message.message}\r\n`);
			setStatus(message.type === "refused" ? message.message : "Disconnected.");
			if (typeof message.location === "string" && message.location.startsWith("/")) location.assign(message.location);
		}
	});
	socket.addEventListener("close", () => {
		if (open) setStatus("Disconnected.");
		open = false;
	});

	const send = (bytes) => {
		if (open && socket.readyState === WebSocket.OPEN) socket.send(bytes);
	};
	term.onData((data) => send(encoder.encode(data)));
	// Mouse reports and other non-UTF-8 sequences: one byte per character.
	term.onBinary((data) => send(Uint8Array.from(data, (character) => character.charCodeAt(0) & 0xff)));
	term.onResize(({ cols, rows }) => {
		if (open && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols, rows }));
	});
	new ResizeObserver(() => fit.fit()).observe(element);
	window.addEventListener("beforeunload", () => socket.close());
})();
