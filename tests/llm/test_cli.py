"""The ``llm`` commands and ``run llm-worker``: help, and the template path without a model."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from contracts.codec import encode
from services.cli.main import cli
from tests.llm.helpers import make_decision


@pytest.mark.parametrize(
    "args",
    [
        ["llm", "--help"],
        ["llm", "prepare", "--help"],
        ["llm", "train", "--help"],
        ["llm", "eval", "--help"],
        ["llm", "bench", "--help"],
        ["llm", "explain", "--help"],
        ["llm", "analyse", "--help"],
        ["llm", "coverage", "--help"],
        ["run", "llm-worker", "--help"],
    ],
)
def test_every_command_has_help(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "Show this message and exit." in result.output


def test_explain_template_needs_no_model(tmp_path):
    path = tmp_path / "decision.json"
    path.write_bytes(encode(make_decision(reasons=["R_NEW_DEVICE_HIGH_AMOUNT"])))
    result = CliRunner().invoke(cli, ["llm", "explain", str(path), "--template"])
    assert result.exit_code == 0, result.output
    assert "Score: 0.91" in result.output
    assert "template: High risk: flagged for review at score 0.91." in result.output
    assert "R_NEW_DEVICE_HIGH_AMOUNT" in result.output


def test_a_bad_decision_is_one_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["llm", "explain", '{"type": "decision"}', "--template"])
    assert result.exit_code != 0
    assert "missing required field" in str(result.exception)
