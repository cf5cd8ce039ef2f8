"""``llm bench``'s tables, on the real base model with the tiny adapters."""

from __future__ import annotations

import pytest

from services.llm_worker.bench import analyse_table, explain_table

pytestmark = pytest.mark.slow


def _rows(text: str) -> list[list[str]]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    return [cells for cells in lines if cells[0].isdigit()]


def test_the_analyses_table_times_each_batch_size_and_scores_the_labels(llm_engine, llm_data):
    pool = llm_data.analyse_test[:3]
    rows = _rows(analyse_table(llm_engine, pool, [1, 3]))
    assert [row[:2] for row in rows] == [["1", "3"], ["3", "3"]]
    for row in rows:
        p50, p99, rate = float(row[2]), float(row[3]), float(row[4])
        assert 0 < p50 <= p99 and rate > 0
        assert row[5].endswith("%") and 0 <= int(row[5][:-1]) <= 100


def test_the_explanations_table_times_each_batch_size(llm_engine, llm_data):
    rows = _rows(explain_table(llm_engine, llm_data.explain_test[:2], [2]))
    assert [row[:2] for row in rows] == [["2", "2"]]
    assert float(rows[0][2]) > 0 and float(rows[0][5]) > 0
