"""``generate``: answers a file of chat prompts with a model (optionally with a LoRA adapter),
greedily, one JSON line per prompt in the output file. The evaluation issue builds on it; the
end-to-end test uses it to show that a fine-tuned model answers in the trained format."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .errors import RuntimeFailure
from .spec import GenerateSpec

log = logging.getLogger("tunery_runtime")


def _prompts(path: str) -> list[list[dict[str, Any]]]:
    prompts = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                messages = json.loads(line)["messages"]
            except (ValueError, KeyError, TypeError) as e:
                raise RuntimeFailure("invalid_data", f"{path}:{number}: expected {{\"messages\": [...]}} ({e})") from e
            prompts.append(messages)
    return prompts


def run_generate(spec: GenerateSpec, workdir: str, emitter: Any) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .model import pick_device

    if spec.threads:
        torch.set_num_threads(spec.threads)
    device = pick_device(spec.device, 0)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.adapter_path or spec.model_path)
        model = AutoModelForCausalLM.from_pretrained(spec.model_path, dtype=torch.float32)
        if spec.adapter_path:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, spec.adapter_path)
    except Exception as e:
        raise RuntimeFailure("model_load_failed", f"cannot load the model: {e}") from e
    model.to(device).eval()
    prompts = _prompts(spec.prompts_path)
    started = time.monotonic()
    tokens = 0
    with open(spec.output_path, "w", encoding="utf-8") as out, torch.no_grad():
        for index, messages in enumerate(prompts):
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            ids = {k: v.to(device) for k, v in ids.items()}
            generated = model.generate(
                **ids, max_new_tokens=spec.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id
            )
            new = generated[0, ids["input_ids"].shape[1] :]
            tokens += int(new.shape[0])
            text = tokenizer.decode(new, skip_special_tokens=True)
            out.write(json.dumps({"index": index, "output": text}, ensure_ascii=False) + "\n")
    seconds = time.monotonic() - started
    emitter.emit("finished", status="completed", summary={"prompts": len(prompts), "tokens": tokens, "seconds": round(seconds, 3)})
    return 0
