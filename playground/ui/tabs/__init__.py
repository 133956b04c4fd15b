"""One module per tab, named as the tab title says: layout and event wiring; handlers call stage services.

May import: core, stage services, ui.widgets, ui.context, gradio. Never a trainer, never another tab.
"""
