"""Numbers as a caller should hear them: order numbers digit by digit, amounts in words."""

from __future__ import annotations

ZH_DIGITS = "零一二三四五六七八九"
# On the phone Chinese speakers say 幺 for 1 in a digit string, so it is not heard as 七.
ZH_PHONE_DIGITS = "零幺二三四五六七八九"
_ZH_UNITS = ("", "十", "百", "千")
_ZH_GROUPS = ("", "万", "亿")


def _groups(digits: str) -> list[str]:
    """Split into groups of four from the left, the first group taking the remainder (>= 2)."""
    if len(digits) <= 4:
        return [digits]
    head = len(digits) % 4 or 4
    if head == 1:
        head = 5 if len(digits) > 5 else 4
    return [digits[:head], *(digits[i : i + 4] for i in range(head, len(digits), 4))]


def say_digits(reference: str, language: str) -> str:
    """A reference number spoken digit by digit in short groups: '2611 0500 01'."""
    digits = "".join(ch for ch in reference if ch.isdigit())
    if language == "zh":
        return "，".join("".join(ZH_PHONE_DIGITS[int(d)] for d in g) for g in _groups(digits))
    return ", ".join(" ".join(g) for g in _groups(digits))


def _zh_below_10000(n: int) -> str:
    out: list[str] = []
    zero = False
    for power in range(3, -1, -1):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(ZH_DIGITS[d] + _ZH_UNITS[power])
    return "".join(out)


def zh_number(n: int) -> str:
    """An integer in Chinese numerals: 2588 → 二千五百八十八, 10 → 十, 20005 → 二万零五."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + zh_number(-n)
    parts: list[str] = []
    group = 0
    pending_zero = False
    while n:
        n, chunk = divmod(n, 10000)
        if chunk:
            text = _zh_below_10000(chunk) + _ZH_GROUPS[group]
            if pending_zero:
                text += "零"
            parts.insert(0, text)
            pending_zero = chunk < 1000 and n > 0
        elif parts:
            pending_zero = True
        group += 1
    text = "".join(parts)
    if text.startswith("一十"):
        text = text[1:]
    return text.replace("二千", "两千").replace("二万", "两万").replace("二亿", "两亿")


def say_count(n: int, language: str) -> str:
    """A count of people or minutes as spoken: 2 → 两 (两位客户, 两分钟), 12 → 十二 / "12"."""
    if language != "zh":
        return str(n)
    return "两" if n == 2 else zh_number(n)


def say_amount(fen: int, language: str) -> str:
    """A CNY amount in words: 258850 fen → 两千五百八十八元五角 / 2,588 yuan and 50 fen."""
    yuan, rest = divmod(fen, 100)
    jiao, fen_part = divmod(rest, 10)
    if language == "zh":
        text = zh_number(yuan) + "元" if yuan or not rest else ""
        if jiao:
            text += ZH_DIGITS[jiao] + "角"
        elif fen_part and yuan:
            text += "零"
        if fen_part:
            text += ZH_DIGITS[fen_part] + "分"
        if not rest:
            text += "整"
        return text.replace("二元", "两元") if text.startswith("二元") else text
    if not yuan and rest:
        return f"{rest} fen"
    return f"{yuan:,} yuan" + (f" and {rest} fen" if rest else "")
