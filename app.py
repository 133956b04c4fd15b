"""Launch the RLHF Playground UI.

    python app.py [--host 127.0.0.1] [--port 7860] [--model bundled] [--share]

Everything a user makes goes under PLAYGROUND_HOME (default ./workspace). Runs on the bundled
SmolLM2-135M-Instruct with no network.
"""

from __future__ import annotations

import argparse
import os


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


def main() -> None:
    parser = argparse.ArgumentParser(description="RLHF Playground: the whole alignment loop in one Gradio app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--model", default=os.environ.get("PLAYGROUND_MODEL", "bundled"),
                        help="default model: bundled, tiny, a hub id or a local path")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    args = parser.parse_args()

    from playground.ui.app import build_app, launch_kwargs, make_context

    ctx = make_context(default_model=args.model)
    warm_up(args.model)
    demo = build_app(ctx)
    demo.queue(default_concurrency_limit=8).launch(
        server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs()
    )


if __name__ == "__main__":
    main()
