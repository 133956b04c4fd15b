"""RLHF Playground: build a dataset, LoRA SFT, collect preferences, train a reward model, run PPO."""

__version__ = "0.1.0"
