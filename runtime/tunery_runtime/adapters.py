"""LoRA adapters over one served base model: checks that an adapter fits the base before PEFT
touches the model, and loads and unloads adapters by name (``serve``; only the engine thread
calls these, between decoding steps)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch

from .batched_lora import BatchedLora

log = logging.getLogger("tunery_runtime")


class AdapterError(Exception):
    """An adapter that cannot be served; the message says why (an HTTP 400, or model_load_failed
    at start)."""


def _prefix_free(key: str) -> str:
    for prefix in ("base_model.model.", "base_model."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def check_adapter(base: torch.nn.Module, path: str) -> dict[str, Any]:
    """Reads ``adapter_config.json`` and the tensor shapes of the adapter's weights (without
    loading them) and refuses an adapter that is not LoRA or whose modules and shapes do not fit
    ``base``. Returns the adapter config."""
    if not os.path.isabs(path):
        raise AdapterError(f"path must be absolute, got {json.dumps(path)}")
    if not os.path.isdir(path):
        raise AdapterError(f"{path} is not a directory")
    cfg_path = os.path.join(path, "adapter_config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError as e:
        raise AdapterError(f"{path} is not a PEFT adapter: adapter_config.json is missing") from e
    except (OSError, ValueError) as e:
        raise AdapterError(f"cannot read {cfg_path}: {e}") from e
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        kind = config.get("peft_type") if isinstance(config, dict) else None
        raise AdapterError(f"{path}: only LoRA adapters are served, this one is {kind!r}")
    weights = os.path.join(path, "adapter_model.safetensors")
    if not os.path.isfile(weights):
        if os.path.isfile(os.path.join(path, "adapter_model.bin")):
            return config  # PEFT checks the shapes itself while loading
        raise AdapterError(f"{path}: adapter_model.safetensors is missing")
    from safetensors import safe_open

    modules = dict(base.named_modules())
    origin = config.get("base_model_name_or_path")
    hint = f" (the adapter was trained on {origin})" if origin else ""
    try:
        with safe_open(weights, framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a torn or foreign file
        raise AdapterError(f"cannot read {weights}: {e}") from e
    for key, shape in sorted(shapes.items()):
        name = _prefix_free(key)
        for part, axis in ((".lora_A.weight", 1), (".lora_B.weight", 0)):
            if not name.endswith(part):
                continue
            module_name = name[: -len(part)]
            module = modules.get(module_name)
            if hasattr(module, "get_base_layer"):  # already wrapped by PEFT for another adapter
                module = module.get_base_layer()
            if module is None:
                raise AdapterError(f"the adapter does not fit the base model: it adapts {module_name}, which the base has not{hint}")
            if isinstance(module, torch.nn.Linear) and len(shape) == 2:
                want = module.in_features if axis == 1 else module.out_features
                side = "in_features" if axis == 1 else "out_features"
                if shape[axis] != want:
                    raise AdapterError(
                        f"the adapter does not fit the base model (shape mismatch): {module_name} has {side} {want}, "
                        f"the adapter's {part.strip('.')} has {shape[axis]}{hint}"
                    )
    return config


def strip_lora(model: torch.nn.Module) -> None:
    """Puts every base layer back in place of the PEFT layers wrapping it (after a failed first
    load, when PEFT may have injected layers into the base model already)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    names = [n for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = getattr(parent, child, None)
        if isinstance(layer, BaseTunerLayer):
            setattr(parent, child, layer.get_base_layer())
    forget_peft(model)


def forget_peft(model: torch.nn.Module) -> None:
    """PEFT leaves its config on the base model; a later first adapter would inherit it."""
    if "peft_config" in vars(model):
        del model.peft_config


def remove_stale_hooks(model: torch.nn.Module) -> None:
    """PEFT's mixed-batch hooks are not removed when a forward pass raises; drop them."""
    try:
        from peft.tuners.lora.model import _adapter_names_pre_forward_hook
    except Exception:  # pragma: no cover
        return
    for module in model.modules():
        hooks = getattr(module, "_forward_pre_hooks", None)
        if not hooks:
            continue
        for key, hook in list(hooks.items()):
            if getattr(hook, "func", None) is _adapter_names_pre_forward_hook:
                del hooks[key]
                getattr(module, "_forward_pre_hooks_with_kwargs", {}).pop(key, None)


def saved_chat_template(path: str) -> str | None:
    """The chat template in an adapter directory's ``tokenizer_config.json`` (or
    ``chat_template.jinja``), if it has one."""
    jinja = os.path.join(path, "chat_template.jinja")
    if os.path.isfile(jinja):
        with open(jinja, encoding="utf-8") as f:
            return f.read()
    config = os.path.join(path, "tokenizer_config.json")
    if not os.path.isfile(config):
        return None
    with open(config, encoding="utf-8") as f:
        try:
            template = json.load(f).get("chat_template")
        except (ValueError, AttributeError) as e:
            raise AdapterError(f"{config} does not parse: {e}") from e
    return template if isinstance(template, str) else None


class AdapterSet:
    """The served model: the base, wrapped in a PeftModel while at least one adapter is loaded."""

    def __init__(self, base: torch.nn.Module):
        self.base = base
        self.peft: Any = None  # PeftModel or None
        self.paths: dict[str, str] = {}
        # An adapter trained through another chat template than the base's carries it in the
        # tokenizer files saved beside it; its requests are rendered with it.
        self.templates: dict[str, str] = {}
        # Mixed-adapter batches in two batched products per layer (rebuilt on every change).
        self.batched = BatchedLora()

    @property
    def model(self) -> torch.nn.Module:
        return self.peft if self.peft is not None else self.base

    def load(self, name: str, path: str) -> None:
        check_adapter(self.base, path)
        from peft import PeftModel

        try:
            if self.peft is None:
                self.peft = PeftModel.from_pretrained(self.base, path, adapter_name=name, is_trainable=False)
            else:
                self.peft.load_adapter(path, adapter_name=name, is_trainable=False)
        except Exception as e:  # noqa: BLE001 - report, then restore the model as it was
            self._undo(name)
            raise AdapterError(f"cannot load the adapter from {path}: {e}") from e
        self.model.eval()
        self.paths[name] = path
        self.batched.rebuild(self.peft)
        template = saved_chat_template(path)
        if template is not None:
            self.templates[name] = template
        log.info("adapter %s loaded from %s", name, path)

    def _undo(self, name: str) -> None:
        try:
            if self.peft is None or not self.paths:
                strip_lora(self.base)
                self.peft = None
            elif name in self.peft.peft_config:
                self.peft.delete_adapter(name)
        except Exception:  # pragma: no cover - best effort
            log.exception("cannot clean up after a failed adapter load")
        self.batched.rebuild(self.peft)

    def unload(self, name: str) -> None:
        if name not in self.paths:
            return
        if len(self.paths) == 1:
            self.base = self.peft.unload()
            self.peft = None
            forget_peft(self.base)
        else:
            self.peft.delete_adapter(name)
        del self.paths[name]
        self.templates.pop(name, None)
        self.batched.rebuild(self.peft)
        self.model.eval()
        log.info("adapter %s unloaded", name)
