/** Who made an administrative change, for the audit log (docs/product-decisions.md Decision 12). Shared by the
 * flows, the server service, method administration and every adapter, so it lives in core. */
export interface Actor {
	readonly name: string;
	readonly channel: "web" | "cli" | "api";
	readonly source: string;
}
