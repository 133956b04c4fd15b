"""The Gradio UI: one module per tab (`*_tab.py` with `build(ctx)`), shared widgets in live.py."""
