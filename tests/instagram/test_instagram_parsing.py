"""Tests for parsing Instagram timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.instagram.parsing import parse_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05T10:35:40+0000", datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)),
        ("2024-03-05T10:35:40Z", datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)),
        (
            "2024-03-05T10:35:40+05:30",
            datetime(2024, 3, 5, 10, 35, 40, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("2024-03-05T10:35:40.250+0000", datetime(2024, 3, 5, 10, 35, 40, 250000, tzinfo=UTC)),
        ("2024-3-5T10:35:40+0000", datetime(2024, 3, 5, 10, 35, 40, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_reads_offsets(value: str, expected: datetime) -> None:
    parsed = parse_timestamp(value)

    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("value", ["2024-03-05T10:35:40", "yesterday", "", None, 1709634940])
def test_parse_timestamp_rejects_unusable(value: object) -> None:
    assert parse_timestamp(value) is None
