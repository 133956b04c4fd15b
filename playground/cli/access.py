"""`python -m playground hash-password`: a pbkdf2 hash for --auth / PLAYGROUND_AUTH (safe in a Space secret)."""

from __future__ import annotations

import argparse
import getpass
import sys


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hash-password", help="print a hashed password for --auth user:<hash>[:role]")
    p.add_argument("--password", help="the password (default: asked without echo, or read from stdin)")
    p.set_defaults(func=hash_password_cmd)


def hash_password_cmd(args: argparse.Namespace) -> int:
    from playground.core.auth import hash_password

    pw = args.password
    if pw is None:
        pw = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not pw:
        print("error: empty password", file=sys.stderr)
        return 2
    print(hash_password(pw))
    return 0
