"""RLOO (the RL tab): TRL's RLOOTrainer + LoRA, written on GRPO's online runner (stages/grpo/train.py).

May import: core and other stages. Never ui, cli or gradio.
"""
