"""The README is the kit's front page (issue #21): short, and its commands are the real ones."""

from __future__ import annotations

import re

from swtwo_tf import config

README = config.REPO_ROOT / "README.md"


def test_readme_stays_under_10_kb():
    size = len(README.read_bytes())
    assert size <= 10_000, f"README.md is {size:,} bytes; keep it at most 10,000 (results and " \
                           "experiments belong in docs/)"


def test_readme_states_no_result_numbers():
    # numbers have one source: docs/results.md, generated from benchmarks/results/*.json
    percentages = re.findall(r"\d+(?:\.\d+)? ?%", README.read_text())
    assert not percentages, f"README.md states results {percentages}: link docs/results.md"


def test_ci_runs_exactly_the_readmes_test_command():
    ci = (config.REPO_ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "make test" and "make test " in README.read_text()
