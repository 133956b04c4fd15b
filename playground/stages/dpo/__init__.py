"""DPO (in the Reward tab): the trainer (train.py, TRL DPOTrainer; reference = adapter off).

May import: core and other stages. Never ui, cli or gradio.
"""
