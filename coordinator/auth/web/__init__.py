"""The auth slice's pages: `PUBLIC` before sign-in, `ROUTES` for the signed-in page router."""

from __future__ import annotations

from coordinator.auth.web import account, audit, digests, mfa, signin, tokens, users

PUBLIC = [*signin.PUBLIC, *mfa.PUBLIC]
ROUTES = [
    *account.ROUTES,
    *mfa.ROUTES,
    *users.ROUTES,
    *audit.ROUTES,
    *tokens.ROUTES,
    *digests.ROUTES,
]
