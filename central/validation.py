"""Reusable pydantic field types for API input: names, labels, free text, phones, ID numbers.

Hostile input is handled in two ways: fields with a known shape (names, labels, phones, ID numbers)
reject characters outside it with a field-level message; free text is kept verbatim (it is only
ever bound as a SQL parameter and JSON-encoded; the console escapes it) but control characters
and overlong values are refused.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from central.idcard import IdNumberError, normalise, parse_id_number

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_NAME_PUNCT = set(" ·•.-'’")
_LABEL = re.compile(r"^[0-9A-Za-z\u4e00-\u9fff\-_#/ ]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")
_CODE = re.compile(r"^[0-9A-Za-z_\-]+$")


def _nfc(value: object) -> object:
    return unicodedata.normalize("NFC", value).strip() if isinstance(value, str) else value


def _name(value: str) -> str:
    for ch in value:
        if ch in _NAME_PUNCT:
            continue
        cat = unicodedata.category(ch)
        if not (cat.startswith("L") or cat.startswith("M")):
            raise ValueError(f"姓名/名称含有不允许的字符 {ch!r} / name contains a disallowed character")
    return value


def _label(value: str) -> str:
    if not _LABEL.match(value):
        raise ValueError("只能包含数字、字母、汉字和 -_#/ / only digits, letters, Chinese and -_#/")
    return value


def _free(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("含有控制字符 / contains control characters")
    return value


def _phone(value: str) -> str:
    if value and not _PHONE.match(value):
        raise ValueError("电话号码格式不正确 / not a phone number")
    return value


def _code(value: str) -> str:
    if not _CODE.match(value):
        raise ValueError("只能包含字母、数字、_ 和 - / only letters, digits, _ and -")
    return value


def _id_number(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return parse_id_number(normalise(value)).number
    except IdNumberError as exc:
        raise ValueError(str(exc)) from exc


PersonName = Annotated[
    str, BeforeValidator(_nfc), StringConstraints(min_length=1, max_length=64), AfterValidator(_name)
]
OrgName = Annotated[
    str, BeforeValidator(_nfc), StringConstraints(min_length=1, max_length=128), AfterValidator(_free)
]
Label = Annotated[
    str, BeforeValidator(_nfc), StringConstraints(min_length=1, max_length=32), AfterValidator(_label)
]
Code = Annotated[
    str, BeforeValidator(_nfc), StringConstraints(min_length=1, max_length=64), AfterValidator(_code)
]
ShortText = Annotated[str, BeforeValidator(_nfc), StringConstraints(max_length=128), AfterValidator(_free)]
LongText = Annotated[str, BeforeValidator(_nfc), StringConstraints(max_length=2000), AfterValidator(_free)]
Phone = Annotated[str, BeforeValidator(_nfc), StringConstraints(max_length=20), AfterValidator(_phone)]
IdNumber = Annotated[str | None, BeforeValidator(_nfc), AfterValidator(_id_number)]
DivisionCode = Annotated[str, StringConstraints(pattern=r"^(\d{6}|\d{9}|\d{12})?$")]
