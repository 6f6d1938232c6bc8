/** Plain-text output helpers: aligned columns for people, `--json` for scripts. */

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
	const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
	const line = (row: readonly string[]) =>
		row
			.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
			.join("  ")
			.trimEnd();
	return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

export function iso(ms: number | null): string | null {
	return ms === null ? null : new Date(ms).toISOString();
}

export function list(values: readonly string[]): string {
	return values.length === 0 ? "-" : values.join(",");
}

export function json(value: unknown): string {
	return `${JSON.stringify(value, null, 2)}\n`;
}
