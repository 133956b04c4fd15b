"""Stage 4, Reward model: the trainer (train.py, TRL RewardTrainer) and RM inference (service.py: score, inspect).

May import: core and other stages. Never ui, cli or gradio.
"""
