// Production sign-in: OIDC authorization code with PKCE against the configured identity
// provider. The user (and its token) is kept in memory only; the PKCE state survives the
// redirect in session storage, as the library needs, and holds no token.
import { InMemoryWebStorage, UserManager, WebStorageStateStore } from "oidc-client-ts";
import type { ConsoleConfig } from "./api";

export function userManager(oidc: NonNullable<ConsoleConfig["oidc"]>): UserManager {
  return new UserManager({
    authority: oidc.authority,
    client_id: oidc.clientId,
    scope: oidc.scope,
    response_type: "code",
    redirect_uri: `${window.location.origin}${import.meta.env.BASE_URL}callback`,
    post_logout_redirect_uri: `${window.location.origin}${import.meta.env.BASE_URL}login`,
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
  });
}
