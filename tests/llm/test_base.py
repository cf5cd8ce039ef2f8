"""The base model's tokenizer, read directly, against the one transformers builds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.llm.base import BASE_MARKER, load_tokenizer
from models.llm.exceptions import BaseModelError
from models.llm.tokens import answer_ids, prompt_ids
from services.llm_worker.training import training_pairs
from tests.llm.test_engine import INJECTIONS, MESSAGES

pytestmark = pytest.mark.slow


def test_the_tokenizer_read_directly_is_the_one_transformers_builds(llm_base, llm_data):
    from transformers import AutoTokenizer

    built = AutoTokenizer.from_pretrained(str(llm_base))
    read = load_tokenizer(llm_base)

    assert json.loads(read.backend_tokenizer.to_str()) == json.loads(
        built.backend_tokenizer.to_str()
    )
    assert read.all_special_tokens == built.all_special_tokens
    assert read.all_special_ids == built.all_special_ids
    for name in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(read, name) == getattr(built, name), name
    assert read.get_vocab() == built.get_vocab()

    pairs = training_pairs("explain", llm_data, 1) + training_pairs("analyse", llm_data, 1)
    texts = [*MESSAGES, *INJECTIONS, "  two  spaces\n\nand a tab\t", "<start_of_turn>user"]
    for prompt, answer in [*pairs, *((text, text) for text in texts)]:
        assert prompt_ids(read, prompt) == prompt_ids(built, prompt)
        for eos in (True, False):
            assert answer_ids(read, answer, eos=eos) == answer_ids(built, answer, eos=eos)
    # Batched and left-padded, as the engine generates.
    prompts = [prompt for prompt, _ in pairs[:6]]
    read.padding_side = built.padding_side = "left"
    batch_read = read(prompts, padding=True)
    batch_built = built(prompts, padding=True)
    assert batch_read["input_ids"] == batch_built["input_ids"]
    assert batch_read["attention_mask"] == batch_built["attention_mask"]
    ids = batch_built["input_ids"]
    assert read.batch_decode(ids, skip_special_tokens=True) == built.batch_decode(
        ids, skip_special_tokens=True
    )
    sample = [token for row in ids for token in row][:400]
    assert read.convert_ids_to_tokens(sample) == built.convert_ids_to_tokens(sample)


def test_an_unreadable_tokenizer_is_a_base_model_error(llm_base, tmp_path: Path):
    for name in (BASE_MARKER, "tokenizer_config.json"):
        shutil.copy(llm_base / name, tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json", encoding="utf-8")

    with pytest.raises(BaseModelError, match="cannot load the tokenizer"):
        load_tokenizer(tmp_path)
