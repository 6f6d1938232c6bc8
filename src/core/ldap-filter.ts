/**
 * RFC 4515 §3 string representation of search filters: in an assertion value the characters
 * `*`, `(`, `)`, `\` and NUL must be written as `\2a`, `\28`, `\29`, `\5c` and `\00`, so a
 * username can never add a wildcard or a clause to the filter it is put into (LDAP injection).
 * Every byte outside printable ASCII is escaped too (valid per RFC 4515 `valueencoding`), so the
 * filter text stays plain ASCII whatever the value holds.
 */
export function escapeFilterValue(value: string): string {
	let out = "";
	for (const byte of Buffer.from(value, "utf8")) {
		const char = String.fromCharCode(byte);
		const special = char === "*" || char === "(" || char === ")" || char === "\\" || byte === 0;
		out += special || byte < 0x20 || byte > 0x7e ? `\\${byte.toString(16).padStart(2, "0")}` : char;
	}
	return out;
}

/** Fills `{name}` placeholders of a configured filter with escaped values (an unknown placeholder stays as written). */
export function fillFilter(template: string, values: Readonly<Record<string, string>>): string {
	return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? escapeFilterValue(values[name] as string) : whole));
}

/** DNs compared for group mapping: case-insensitive, spaces around `,` and `=` ignored (RFC 4514 §2.4 allows both forms). */
export function normaliseDn(dn: string): string {
	return dn
		.trim()
		.replace(/\s*([,=+])\s*/g, "$1")
		.toLowerCase();
}
