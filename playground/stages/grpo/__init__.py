"""GRPO (the RL tab): TRL's GRPOTrainer + LoRA on the shared runner (train.py), its config (config.py, with the
fields RLOO shares). Rewards come from stages/reward/functions.py, the interface PPO uses too.

May import: core and other stages. Never ui, cli or gradio.
"""
