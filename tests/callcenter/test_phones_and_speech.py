"""Pure helpers: E.164 normalisation, masking, and numbers as a caller hears them."""

from __future__ import annotations

import pytest

from core.phones import mask, national, to_e164
from core.speech import say_amount, say_digits, zh_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+8613800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("01065138000", "+861065138000"),
        ("+14155550100", "+14155550100"),
        ("anonymous", None),
        ("", None),
        ("Restricted", None),
        ("+266696687", None),
        ("client:alice", None),
        ("sip:a@b", None),
        ("12ab", None),
        ("+0123456789", None),
        ("+1234567890123456", None),
    ],
)
def test_to_e164(raw: str, expected: str | None) -> None:
    assert to_e164(raw, "86") == expected


def test_national_drops_only_the_centres_own_country_code() -> None:
    assert national("+8613800138000") == "13800138000"
    assert national("+14155550100") == "+14155550100"
    assert national("+85291234567", "852") == "91234567"


def test_mask_keeps_country_code_and_last_digits() -> None:
    assert mask("+8613800138000") == "+86*********00"
    assert mask(None) == "(none)"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "零"),
        (10, "十"),
        (12, "十二"),
        (105, "一百零五"),
        (1001, "一千零一"),
        (2588, "两千五百八十八"),
        (20005, "两万零五"),
        (100010, "十万零一十"),
        (123456789, "一亿两千三百四十五万六千七百八十九"),
    ],
)
def test_zh_number(n: int, text: str) -> None:
    assert zh_number(n) == text


@pytest.mark.parametrize(
    ("fen", "zh", "en"),
    [
        (258850, "两千五百八十八元五角", "2,588 yuan and 50 fen"),
        (200000, "两千元整", "2,000 yuan"),
        (5, "五分", "5 fen"),
        (1005, "十元零五分", "10 yuan and 5 fen"),
    ],
)
def test_say_amount(fen: int, zh: str, en: str) -> None:
    assert (say_amount(fen, "zh"), say_amount(fen, "en")) == (zh, en)


def test_say_digits_groups_and_uses_yao_for_one() -> None:
    assert say_digits("2611050001", "zh") == "二六，幺幺零五，零零零幺"
    assert say_digits("2611050001", "en") == "2 6, 1 1 0 5, 0 0 0 1"
