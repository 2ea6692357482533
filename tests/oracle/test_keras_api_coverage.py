"""Coverage made visible (issue 9): every public name of Keras 3's main namespaces is
either provided by graphc at the matching namespace or listed, with its reason, in
``keras_api_missing.MISSING``. ``python tests/oracle/keras_api_coverage.py`` prints the
table README.md shows."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from keras_api_coverage import NAMESPACES, coverage, graphc_has, table  # noqa: E402
from keras_api_missing import MISSING  # noqa: E402

ROWS = coverage()


@pytest.mark.parametrize("row", ROWS, ids=[r["keras"] for r in ROWS])
def test_every_missing_name_is_listed_with_a_reason(row):
    listed = MISSING.get(row["keras"], {})
    unlisted = [n for n in row["missing"] if n not in listed]
    assert not unlisted, (
        f"{row['graphc']} lacks {unlisted} of {row['keras']}: provide them or list them in "
        f"tests/oracle/keras_api_missing.py with a reason"
    )


@pytest.mark.parametrize("row", ROWS, ids=[r["keras"] for r in ROWS])
def test_no_listed_name_is_present(row):
    """The list stays true: a name graphc now provides comes off it."""
    listed = MISSING.get(row["keras"], {})
    stale = [n for n in listed if graphc_has(row["graphc"], n) or n not in row["names"]]
    assert not stale, (
        f"{stale} are listed as missing from {row['graphc']} but graphc has "
        f"them (or Keras no longer does): take them off keras_api_missing.py"
    )


def test_reasons_are_framework_or_not_yet():
    assert set(MISSING) <= set(NAMESPACES)
    for namespace, names in MISSING.items():
        for name, reason in names.items():
            assert isinstance(reason, str) and "\n" not in reason, (namespace, name)
            assert reason.startswith(("framework: ", "not yet")), (namespace, name, reason)


def test_table_counts_every_name():
    text = table(ROWS)
    total = sum(len(r["names"]) for r in ROWS)
    assert f"**{total}**" in text
    assert all(f"`{r['keras']}`" in text for r in ROWS)
