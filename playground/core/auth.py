"""Who may do what: users, roles and how a caller's role is found.

    admin      trains, stops, resumes, deletes, merges, exports, pushes, edits presets and settings
    annotator  votes, rates, edits, demonstrates, reads their own counts
    viewer     reads dashboards

Users come from `--auth` / `PLAYGROUND_AUTH`: comma-separated `user:password[:role]` (role defaults to admin);
a password may be given hashed as `pbkdf2$<iterations>$<salt hex>$<hash hex>` (`python -m playground
hash-password`). A workshop host may also set an annotator code (`--annotator-code` /
`PLAYGROUND_ANNOTATOR_CODE`): anyone who signs in with any name and that code is an annotator under that name.
With auth off (the default on 127.0.0.1) everyone is admin: it is one person's laptop.

No gradio here: the UI's guard (ui/guard.py) asks `AuthConfig.role_of` with the name Gradio's login gave.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from enum import IntEnum

from playground.core.errors import ConfigError


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    NOBODY = 0
    VIEWER = 1
    ANNOTATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            r = cls[name.strip().upper()]
        except KeyError:
            raise ConfigError(f"unknown role {name!r}: use admin, annotator or viewer") from None
        if r is cls.NOBODY:
            raise ConfigError("role 'nobody' cannot be given to a user")
        return r


PBKDF2_ITERATIONS = 200_000
# names people choose themselves with the room code: shown in headers and tables, stored on every vote
NAME = re.compile(r"[\w][\w .@-]{0,39}")


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`pbkdf2$<iterations>$<salt>$<hash>`: safe to put in a Space secret or a shell history."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2${iterations}${salt.hex()}${digest.hex()}"


def check_password(stored: str, given: str) -> bool:
    if stored.startswith("pbkdf2$"):
        try:
            _, it, salt, want = stored.split("$")
            got = hashlib.pbkdf2_hmac("sha256", given.encode("utf-8"), bytes.fromhex(salt), int(it)).hex()
        except ValueError:
            return False
        return hmac.compare_digest(got, want)
    return hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))


@dataclass
class User:
    name: str
    password: str  # plain or pbkdf2$...
    role: Role


def parse_users(spec: str) -> dict[str, User]:
    """`alice:pw[:role],bob:pw2:annotator` -> users; ConfigError (one line, no password echoed) when malformed."""
    users: dict[str, User] = {}
    for i, item in enumerate(x.strip() for x in (spec or "").split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ConfigError(f"--auth entry {i + 1}: expected user:password[:role]")
        role = Role.parse(parts[2]) if len(parts) == 3 else Role.ADMIN
        if parts[0] in users:
            raise ConfigError(f"--auth: user {parts[0]!r} is given twice")
        users[parts[0]] = User(parts[0], parts[1], role)
    return users


@dataclass
class AuthConfig:
    """The server's access policy. `enabled` False = one trusted person on loopback: everyone is admin."""

    users: dict[str, User] = field(default_factory=dict)
    annotator_code: str = ""
    # Space mode: Hugging Face OAuth. Signed-in HF users are annotators, these names admins; anonymous viewers.
    oauth: bool = False
    oauth_admins: frozenset[str] = frozenset()
    _code_users: dict[str, Role] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.annotator_code or self.oauth)

    @property
    def gates_pages(self) -> bool:
        """Password auth puts a login page in front of everything (Gradio's `auth=`); OAuth alone does not."""
        return bool(self.users or self.annotator_code)

    @classmethod
    def from_env(cls, spec: str | None = None, annotator_code: str | None = None, oauth: bool | None = None
                 ) -> AuthConfig:
        spec = os.environ.get("PLAYGROUND_AUTH", "") if spec is None else spec
        code = os.environ.get("PLAYGROUND_ANNOTATOR_CODE", "") if annotator_code is None else annotator_code
        if oauth is None:
            oauth = os.environ.get("PLAYGROUND_OAUTH", "") == "1"
        admins = frozenset(x.strip() for x in os.environ.get("PLAYGROUND_ADMINS", "").split(",") if x.strip())
        return cls(users=parse_users(spec), annotator_code=code, oauth=oauth, oauth_admins=admins)

    def login(self, username: str, password: str) -> bool:
        """Gradio's `auth=` callable: a listed user with the right password, or any name with the room code."""
        username = (username or "").strip()
        if not username:
            return False
        user = self.users.get(username)
        if user is not None:
            return check_password(user.password, password)
        if self.annotator_code and NAME.fullmatch(username) and hmac.compare_digest(
                self.annotator_code.encode("utf-8"), (password or "").encode("utf-8")):
            with self._lock:
                self._code_users[username] = Role.ANNOTATOR
            return True
        return False

    def role_of(self, username: str | None, oauth_name: str | None = None) -> Role:
        if not self.enabled:
            return Role.ADMIN
        if username:
            if username in self.users:
                return self.users[username].role
            with self._lock:
                if username in self._code_users:
                    return self._code_users[username]
        if self.oauth and oauth_name:
            return Role.ADMIN if oauth_name in self.oauth_admins else Role.ANNOTATOR
        if self.oauth:  # a public Space: anyone may watch
            return Role.VIEWER
        return Role.NOBODY
