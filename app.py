"""Launch the RLHF Playground UI.

    python app.py [--host 127.0.0.1] [--port 7860] [--model bundled] [--share]
                  [--auth user:pass[:role],...] [--annotator-code CODE] [--insecure]

Everything a user makes goes under PLAYGROUND_HOME (default ./workspace). Runs on the bundled
SmolLM2-135M-Instruct with no network.

Access: with no users the app is for one person and binds to 127.0.0.1; everyone who reaches it is admin.
For a room or the public, give users (`--auth alice:secret,bob:pw:annotator` or PLAYGROUND_AUTH; passwords may
be pbkdf2 hashes from `python -m playground hash-password`) and/or an annotator code the host shares with the
room (`--annotator-code`). A non-loopback --host without any of these is refused unless --insecure.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys


def warm_up(model: str) -> None:
    """Convert the bundled GGUF (about 30 s, once) in the background so the first generation is quick."""
    import threading

    def _convert() -> None:
        from playground.core import models

        try:
            models.model_path(models.resolve(model))
        except Exception as e:  # noqa: BLE001 - the UI reports model errors when the model is used
            print(f"warning: could not prepare model {model!r}: {e}")

    threading.Thread(target=_convert, name="warm-up", daemon=True).start()


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1 or localhost; "" and 0.0.0.0 mean every interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RLHF Playground: the whole alignment loop in one Gradio app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--model", default=os.environ.get("PLAYGROUND_MODEL", "bundled"),
                        help="default model: bundled, tiny, a hub id or a local path")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--auth", default=None, metavar="USER:PASS[:ROLE],...",
                        help="users (role admin, annotator or viewer; default admin); or set PLAYGROUND_AUTH")
    parser.add_argument("--annotator-code", default=None, metavar="CODE",
                        help="workshop join: any name + this code signs in as an annotator "
                             "(or PLAYGROUND_ANNOTATOR_CODE)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a non-loopback --host (or --share) with no sign-in: anyone who reaches it is admin")
    args = parser.parse_args(argv)

    from playground.core import space
    from playground.core.auth import AuthConfig
    from playground.core.errors import ConfigError

    if space.configure():  # SPACE_ID / PLAYGROUND_SPACE: workspace on the volume, HF sign-in, model allow-list
        print(f"Space mode: workspace {os.environ['PLAYGROUND_HOME']} "
              f"({'persistent' if space.persistent() else 'NOT persistent'})", flush=True)
    try:
        auth = AuthConfig.from_env(args.auth, args.annotator_code)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    exposed = args.share or not is_loopback(args.host)
    if exposed and not auth.enabled and not args.insecure:
        print(f"error: refusing to serve on {'a public share link' if args.share else args.host} without sign-in: "
              "anyone who reaches it could delete data and stop jobs. Give --auth USER:PASS (or PLAYGROUND_AUTH), "
              "--annotator-code CODE, or --insecure if you really mean it.", file=sys.stderr)
        return 2

    from playground.ui.app import build_app, launch_kwargs, make_context, patient_start_check

    ctx = make_context(default_model=args.model)
    warm_up(args.model)
    demo = build_app(ctx, auth)
    with patient_start_check():
        demo.queue(default_concurrency_limit=8).launch(
            server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs(auth)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
