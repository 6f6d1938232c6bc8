/**
 * A row that names another (a membership naming its group, a grant naming its server) can lose that
 * other row to a concurrent deletion between the read that found it and the insert: the database's
 * foreign key then refuses the insert (PostgreSQL SQLSTATE 23503 foreign_key_violation; SQLite
 * SQLITE_CONSTRAINT_FOREIGNKEY). That is an expected outcome of two admins racing, not a database
 * failure: it becomes ERR_NOT_FOUND, the error propagates out of the unit of work, and the whole
 * change (and its audit event) rolls back.
 */
import { PortcullisError } from "../core/errors.ts";

function isForeignKeyViolation(error: unknown): boolean {
	const code = (error as { code?: unknown } | null)?.code;
	return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

/** Runs an insert that references `what`; a concurrent deletion of it is ERR_NOT_FOUND. */
export async function insertReferencing<T>(what: string, insert: () => Promise<T>): Promise<T> {
	try {
		return await insert();
	} catch (error) {
		if (isForeignKeyViolation(error)) throw new PortcullisError("ERR_NOT_FOUND", `${what} was removed meanwhile`, { cause: error });
		throw error;
	}
}
