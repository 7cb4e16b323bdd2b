"""Device, precision, model loading and the fine-tuning methods (full, freeze, LoRA family)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from .attention import use_document_attention
from .errors import RuntimeFailure, is_out_of_memory
from .lora_dropout import fuse_lora_dropout
from .spec import TrainSpec

log = logging.getLogger("tunery_runtime")


@dataclass
class Precision:
    name: str  # fp32 | bf16 | fp16
    compute_dtype: torch.dtype
    autocast: bool
    scaler: bool


def pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            requested = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            requested = "mps"
        else:
            requested = "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeFailure("unsupported", "device cuda was asked for, but no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if requested == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise RuntimeFailure("unsupported", "device mps was asked for, but MPS is not available")
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), where oneDNN's
    bf16 products run about twice as fast as fp32 ones; elsewhere bf16 is emulated and no faster.
    The server's estimates ask the same of the CPU (`cpu_has_native_bf16` in the tunery crate)."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def pick_precision(requested: str, device: torch.device, emitter: Any) -> Precision:
    """The precision a run trains in. `auto` is bf16 mixed precision where the device multiplies
    bfloat16 in hardware (a GPU with bf16, a CPU with AVX512-BF16 or AMX), else fp32."""
    if device.type == "cpu":
        native = cpu_has_native_bf16()
        if requested == "auto":
            requested = "bf16" if native else "fp32"
        if requested == "bf16":
            if not native:
                raise RuntimeFailure(
                    "unsupported",
                    "precision bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX)",
                    "use precision fp32 or auto",
                )
            return Precision("bf16", torch.bfloat16, True, False)
        if requested == "fp16":
            emitter.log("warning", "precision fp16 is not used on cpu; training in fp32")
        return Precision("fp32", torch.float32, False, False)
    if device.type != "cuda":
        if requested not in ("auto", "fp32"):
            emitter.log("warning", f"precision {requested} is not used on {device.type}; training in fp32")
        return Precision("fp32", torch.float32, False, False)
    if requested == "auto":
        requested = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if requested == "bf16":
        if not torch.cuda.is_bf16_supported():
            raise RuntimeFailure("unsupported", "precision bf16: this GPU does not support bfloat16", "use fp16 or fp32")
        return Precision("bf16", torch.bfloat16, True, False)
    if requested == "fp16":
        return Precision("fp16", torch.float16, True, True)
    return Precision("fp32", torch.float32, False, False)


def load_tokenizer(spec: TrainSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(spec.model.path)
    except Exception as e:
        raise RuntimeFailure("model_load_failed", f"cannot load the tokenizer from {spec.model.path}: {e}") from e
    if spec.model.chat_template is not None:
        tok.chat_template = spec.model.chat_template
    if tok.pad_token_id is None:
        # Padding ids are never attended to nor learned; any id will do.
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.convert_ids_to_tokens(0)
    if spec.objective in ("sft", "dpo") and not getattr(tok, "chat_template", None):
        raise RuntimeFailure(
            "unsupported",
            f"the tokenizer in {spec.model.path} has no chat template",
            "set model.chat_template to a Jinja chat template",
        )
    return tok


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    base = model
    if hasattr(base, "get_decoder"):
        try:
            dec = base.get_decoder()
            if hasattr(dec, "layers") and isinstance(dec.layers, torch.nn.ModuleList):
                return dec.layers
        except Exception:
            pass
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and (best is None or len(mod) > len(best)):
            best = mod
    if best is None:
        raise RuntimeFailure("unsupported", "cannot find the decoder layers of this model for method freeze")
    return best


def load_model(spec: TrainSpec, device: torch.device, precision: Precision, emitter: Any) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    kind = spec.method.kind
    kwargs: dict[str, Any] = {}
    if kind == "qlora":
        try:
            from transformers import BitsAndBytesConfig
        except Exception as e:  # pragma: no cover
            raise RuntimeFailure("unsupported", f"QLoRA needs bitsandbytes: {e}") from e
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=precision.compute_dtype,
            bnb_4bit_quant_storage=torch.uint8,
        )
        kwargs["device_map"] = {"": device}
        kwargs["dtype"] = precision.compute_dtype
    elif kind == "full":
        kwargs["dtype"] = torch.float32  # fp32 master weights, autocast does the rest
    else:
        kwargs["dtype"] = precision.compute_dtype
    try:
        model = AutoModelForCausalLM.from_pretrained(spec.model.path, **kwargs)
    except Exception as e:
        if is_out_of_memory(e):
            raise
        raise RuntimeFailure("model_load_failed", f"cannot load the model from {spec.model.path}: {e}") from e
    if kind != "qlora":
        model.to(device)
    model.config.use_cache = False
    use_document_attention(model)

    if spec.training.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    if kind == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if kind == "freeze":
        layers = decoder_layers(model)
        k = spec.method.freeze.trainable_layers
        if k > len(layers):
            raise RuntimeFailure(
                "invalid_spec",
                f"method.freeze.trainable_layers: must be <= the model's {len(layers)} decoder layers, got {k}",
            )
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in list(layers)[len(layers) - k :]:
            for p in layer.parameters():
                p.requires_grad_(True)
                if p.dtype != torch.float32:
                    p.data = p.data.float()
        return model

    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if kind == "qlora":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=spec.training.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lo = spec.method.lora
    tm = lo.target_modules if isinstance(lo.target_modules, str) else list(lo.target_modules)
    cfg = LoraConfig(
        r=lo.rank,
        lora_alpha=lo.alpha,
        lora_dropout=lo.dropout,
        target_modules=tm,
        use_dora=(kind == "dora"),
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, cfg)
    except ValueError as e:
        raise RuntimeFailure("invalid_spec", f"method.lora.target_modules: {e}") from e
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    fuse_lora_dropout(model)
    if precision.autocast:
        pass_adapter_inputs_uncast(model)
    return model


def pass_adapter_inputs_uncast(model: torch.nn.Module) -> int:
    """Under autocast, lets each adapter take its layer's input as it is: PEFT would cast it to
    the adapter's fp32 first, a copy of every adapted linear's input that the A projection then
    keeps for its gradient (on the CPU in bf16 that was a third of a LoRA step's activation
    memory), while autocast multiplies in 16 bits all the same. Returns the layers changed."""
    changed = 0
    for module in model.modules():
        if getattr(module, "cast_input_dtype_enabled", None) is True and hasattr(module, "lora_A"):
            module.cast_input_dtype_enabled = False
            changed += 1
    return changed


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        qs = getattr(p, "quant_state", None)
        if qs is not None and getattr(qs, "shape", None) is not None:
            n = int(torch.Size(qs.shape).numel())
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu").clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def device_memory(device: torch.device) -> dict[str, int | None]:
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return {"total_bytes": int(total), "available_bytes": int(free)}
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total_bytes": int(vm.total), "available_bytes": int(vm.available)}
    except Exception:  # pragma: no cover
        return {"total_bytes": None, "available_bytes": None}


def attn_implementation(model: torch.nn.Module) -> str:
    cfg = getattr(model, "config", None)
    impl = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
    return impl or "eager"


def env_rank() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )
