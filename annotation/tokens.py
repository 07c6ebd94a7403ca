"""Subject invite tokens: only their hash is stored, so a leaked table holds no links."""

import hashlib
import secrets


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_invite_token() -> str:
    # 32 bytes: unguessable, and short enough for a link.
    return secrets.token_urlsafe(32)
