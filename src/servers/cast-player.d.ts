/** Types of the browser player (cast-player.js), for its unit tests. */
export declare class Terminal {
	constructor(cols: number, rows: number);
	readonly cols: number;
	readonly rows: number;
	x: number;
	y: number;
	resize(cols: number, rows: number, fresh?: boolean): void;
	write(text: string): void;
	text(): string;
}
export declare function parseCast(text: string): { header: Record<string, unknown>; events: { time: number; type: string; data: string }[] };
