// Who is signed in. The token lives in memory only (never in local or session storage): a
// reload asks the user to sign in again, and no script left on the machine can read it later.
import { reactive } from "vue";

export type Role = "admin" | "coordinator" | "unit_staff" | "viewer";

export interface Identity {
  /** What the header shows: 宁国市司法局 工作人员. */
  label: string;
  roles: Role[];
  /** `units/{unit}`, when the identity belongs to a unit. */
  unit?: string;
  token: string;
}

export const session = reactive<{ identity: Identity | null }>({ identity: null });

export function signIn(identity: Identity) {
  session.identity = identity;
}

export function signOut() {
  session.identity = null;
}

export function hasRole(...roles: Role[]): boolean {
  return session.identity?.roles.some((role) => roles.includes(role)) ?? false;
}

/** The claims of a token the identity provider issued (unit and roles), without checking it:
 * the gateway checks every call. */
export function identityFromToken(token: string, unitClaim: string, rolesClaim: string): Identity {
  const payload = JSON.parse(decodeBase64Url(token.split(".")[1] ?? "")) as Record<string, unknown>;
  const unit = claim(payload, unitClaim);
  const rawRoles = claim(payload, rolesClaim);
  const names = Array.isArray(rawRoles) ? rawRoles : String(rawRoles ?? "").split(" ");
  const roles = names.filter((name): name is Role =>
    ["admin", "coordinator", "unit_staff", "viewer"].includes(String(name)),
  );
  return {
    label: String(payload["name"] ?? payload["preferred_username"] ?? payload["sub"] ?? ""),
    roles,
    unit: unit ? `units/${String(unit)}` : undefined,
    token,
  };
}

function claim(payload: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>(
    (value, key) => (value && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined),
    payload,
  );
}

function decodeBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}
