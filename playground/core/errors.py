"""Errors meant for the user: one base class, one line each.

Every error a user can cause (bad config, bad data, an unknown model, a refused request) derives from
`UserError`; the CLI prints it as `error: <message>` and exits non-zero, the UI shows it as one toast. Anything
else is a bug: it keeps its traceback in the log.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; str(e) is one line that says what and where."""


class ConfigError(UserError, ValueError):
    """A config file, preset or form value is wrong (unknown key, wrong type, out of bounds)."""


class DataError(UserError, ValueError):
    """Training or scoring data is missing or unusable."""


class FormatError(UserError, ValueError):
    """An imported file cannot be read; the message names the file, line and field."""


class ModelError(UserError, RuntimeError):
    """A model id or path cannot be resolved or loaded."""


class WorkspaceError(UserError, ValueError):
    """A workspace operation was refused (unknown dataset, name clash, ...)."""


class PrefsError(UserError, ValueError):
    """Bad input to the preference service (votes, pools, pair import)."""


class AccessError(UserError, PermissionError):
    """The caller's role does not allow this action, or a limit was reached."""
