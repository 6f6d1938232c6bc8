import type { Kysely, Selectable } from "kysely";
import { insertReferencing } from "./referenced-row.ts";
import type { Clock } from "../core/clock.ts";
import { isMethodId, type MethodId } from "../core/method-id.ts";
import type { GroupTwoFactorRule } from "../core/decide-second-factor.ts";
import type { Random } from "../core/random.ts";
import { newId } from "../crypto/tokens.ts";
import type { Database, GroupsTable } from "./schema.ts";

export type GroupRow = Selectable<GroupsTable>;

export function groupRule(row: GroupRow): GroupTwoFactorRule {
	return {
		name: row.name,
		forceTwoFactor: row.force_2fa === 1,
		allowedMethods: parseAllowed(row.allowed_methods),
		enrolmentDeadline: row.enrol_deadline === null ? null : Number(row.enrol_deadline),
		rememberMinutes: row.remember_minutes === null ? null : Number(row.remember_minutes),
	};
}

export function parseAllowed(text: string | null): MethodId[] | null {
	if (text === null) return null;
	const parsed: unknown = JSON.parse(text);
	// A corrupt value narrows to nothing rather than to everything: fail closed.
	if (!Array.isArray(parsed)) return [];
	return parsed.filter(isMethodId);
}

/** Staged-rollout and remember-window columns (migration 0014); null = unset (enforce now / the global setting). */
export interface GroupRolloutChanges {
	readonly enrolmentDeadline?: number | null;
	readonly rememberMinutes?: number | null;
	readonly rememberPerTarget?: boolean | null;
}

export class GroupStore {
	constructor(
		private readonly db: Kysely<Database>,
		private readonly clock: Clock,
		private readonly random: Random,
	) {}

	async create(name: string, forceTwoFactor: boolean, allowedMethods: readonly MethodId[] | null, rollout: GroupRolloutChanges = {}): Promise<GroupRow> {
		const row: GroupRow = {
			id: newId(this.random),
			name,
			force_2fa: forceTwoFactor ? 1 : 0,
			allowed_methods: allowedMethods === null ? null : JSON.stringify(allowedMethods),
			created_at: this.clock.now().getTime(),
			enrol_deadline: rollout.enrolmentDeadline ?? null,
			remember_minutes: rollout.rememberMinutes ?? null,
			remember_per_target: rollout.rememberPerTarget === undefined || rollout.rememberPerTarget === null ? null : rollout.rememberPerTarget ? 1 : 0,
		};
		await this.db.insertInto("groups").values(row).execute();
		return row;
	}

	async update(id: string, changes: { forceTwoFactor?: boolean; allowedMethods?: readonly MethodId[] | null } & GroupRolloutChanges): Promise<void> {
		const set: Partial<GroupRow> = {};
		if (changes.enrolmentDeadline !== undefined) set.enrol_deadline = changes.enrolmentDeadline;
		if (changes.rememberMinutes !== undefined) set.remember_minutes = changes.rememberMinutes;
		if (changes.rememberPerTarget !== undefined) set.remember_per_target = changes.rememberPerTarget === null ? null : changes.rememberPerTarget ? 1 : 0;
		if (changes.forceTwoFactor !== undefined) set.force_2fa = changes.forceTwoFactor ? 1 : 0;
		if (changes.allowedMethods !== undefined) {
			set.allowed_methods = changes.allowedMethods === null ? null : JSON.stringify(changes.allowedMethods);
		}
		if (Object.keys(set).length === 0) return;
		await this.db.updateTable("groups").set(set).where("id", "=", id).execute();
	}

	async remove(id: string): Promise<void> {
		await this.db.deleteFrom("groups").where("id", "=", id).execute();
	}

	async findByName(name: string): Promise<GroupRow | undefined> {
		return this.db.selectFrom("groups").selectAll().where("name", "=", name).executeTakeFirst();
	}

	async findById(id: string): Promise<GroupRow | undefined> {
		return this.db.selectFrom("groups").selectAll().where("id", "=", id).executeTakeFirst();
	}

	async list(): Promise<GroupRow[]> {
		return this.db.selectFrom("groups").selectAll().orderBy("name").execute();
	}

	async addMember(groupId: string, userId: string): Promise<boolean> {
		const existing = await this.db
			.selectFrom("group_members")
			.select("user_id")
			.where("group_id", "=", groupId)
			.where("user_id", "=", userId)
			.executeTakeFirst();
		if (existing) return false;
		await insertReferencing("the group or the user", () => this.db.insertInto("group_members").values({ group_id: groupId, user_id: userId }).execute());
		return true;
	}

	async removeMember(groupId: string, userId: string): Promise<boolean> {
		const result = await this.db.deleteFrom("group_members").where("group_id", "=", groupId).where("user_id", "=", userId).executeTakeFirst();
		return Number(result.numDeletedRows) > 0;
	}

	async groupsOfUser(userId: string): Promise<GroupRow[]> {
		return this.db
			.selectFrom("groups")
			.innerJoin("group_members", "group_members.group_id", "groups.id")
			.selectAll("groups")
			.where("group_members.user_id", "=", userId)
			.orderBy("groups.name")
			.execute();
	}

	/** Every user's group names, sorted, in one query (the admin user list; no read per user). */
	async groupNamesByUser(): Promise<Map<string, string[]>> {
		const rows = await this.db
			.selectFrom("group_members")
			.innerJoin("groups", "groups.id", "group_members.group_id")
			.select(["group_members.user_id", "groups.name"])
			.orderBy("groups.name")
			.execute();
		const result = new Map<string, string[]>();
		for (const row of rows) {
			const names = result.get(row.user_id);
			if (names === undefined) result.set(row.user_id, [row.name]);
			else names.push(row.name);
		}
		return result;
	}

	async membersOf(groupId: string): Promise<{ id: string; username: string }[]> {
		return this.db
			.selectFrom("users")
			.innerJoin("group_members", "group_members.user_id", "users.id")
			.select(["users.id", "users.username"])
			.where("group_members.group_id", "=", groupId)
			.orderBy("users.username")
			.execute();
	}
}
