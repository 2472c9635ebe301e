"""居民身份证号 (GB 11643-1999): validation, birth date and sex, and masking for display."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Province-level prefixes of GB/T 2260 (incl. 71 Taiwan, 81/82 HK/Macau residence permits, 83 HMT permit).
_PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
        "83",
    ]
)
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class IdNumberError(ValueError):
    """Why an ID number is invalid (zh-CN first, English after a slash)."""


@dataclass(frozen=True)
class IdInfo:
    number: str
    birth_date: date
    sex: str  # "male" | "female"
    division_code: str


def check_digit(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def normalise(number: str) -> str:
    """Strip spaces and upper-case the trailing x."""
    return number.strip().replace(" ", "").upper()


def parse_id_number(number: str, today: date | None = None) -> IdInfo:
    """Validate an 18-character ID number; raise :class:`IdNumberError` with the reason."""
    n = normalise(number)
    if not _SHAPE.match(n):
        raise IdNumberError(
            "身份证号应为18位（前17位数字，末位数字或X） / must be 17 digits and a digit or X"
        )
    if n[:2] not in _PROVINCES:
        raise IdNumberError("身份证号地区码无效 / unknown region code")
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError as exc:
        raise IdNumberError("身份证号出生日期无效 / birth date is not a real date") from exc
    if born.year < 1890 or (today is not None and born > today):
        raise IdNumberError("身份证号出生日期超出范围 / birth date out of range")
    if check_digit(n[:17]) != n[17]:
        raise IdNumberError("身份证号校验位错误 / check digit does not match (GB 11643)")
    return IdInfo(n, born, "male" if int(n[16]) % 2 else "female", n[:6])


def mask_id_number(number: str | None) -> str | None:
    """``110101********123X`` style: region code and last four kept."""
    if not number:
        return number
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """``张*`` / ``欧阳**``: first character kept (for QR codes and guard displays)."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
