"""Reading and writing spreadsheets (.xlsx via openpyxl, .csv) for imports and exports.

Reading returns rows as ``{header: text}``; headers may be Chinese or English (callers map them).
Writing neutralises spreadsheet formulas (cells starting with ``= + - @`` get a leading ``'``) so
an exported hostile string cannot run in the clerk's Excel.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from central.errors import FieldError, ValidationFailed

MAX_ROWS = 50_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_xlsx_rows(data: bytes) -> list[dict[str, str]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise ValidationFailed(
            "无法读取Excel文件", f"cannot read .xlsx: {exc}", [FieldError("file", "corrupt")]
        ) from exc
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        return []
    keys = [_cell_text(h) for h in header]
    out: list[dict[str, str]] = []
    for r in rows:
        if len(out) >= MAX_ROWS:
            raise ValidationFailed(
                "行数过多", f"more than {MAX_ROWS} rows", [FieldError("file", "too many rows")]
            )
        vals = [_cell_text(v) for v in r]
        if not any(vals):
            continue
        out.append({k: (vals[i] if i < len(vals) else "") for i, k in enumerate(keys) if k})
    wb.close()
    return out


def read_csv_rows(data: bytes) -> list[dict[str, str]]:
    for enc in ("utf-8-sig", "gb18030"):  # Excel in zh-CN saves CSV as GBK
        try:
            text = data.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationFailed(
            "CSV编码无法识别", "CSV is neither UTF-8 nor GB18030", [FieldError("file", "encoding")]
        )
    if "\x00" in text:
        raise ValidationFailed("不是文本CSV文件", "binary data in CSV", [FieldError("file", "binary")])
    reader = csv.DictReader(io.StringIO(text))
    out: list[dict[str, str]] = []
    for r in reader:
        if len(out) >= MAX_ROWS:
            raise ValidationFailed(
                "行数过多", f"more than {MAX_ROWS} rows", [FieldError("file", "too many rows")]
            )
        row = {
            (k or "").strip(): (v or "").strip()
            for k, v in r.items()
            if k is not None and not isinstance(v, list)
        }
        if any(row.values()):
            out.append(row)
    return out


def read_table(data: bytes, filename: str) -> list[dict[str, str]]:
    """Rows of an uploaded .xlsx or .csv (by name, then by content)."""
    name = filename.lower()
    if name.endswith(".xlsx") or data[:2] == b"PK":
        return read_xlsx_rows(data)
    if name.endswith(".csv") or name.endswith(".txt") or not name:
        return read_csv_rows(data)
    raise ValidationFailed(
        "只支持 .xlsx 或 .csv", "only .xlsx or .csv", [FieldError("file", "unsupported type")]
    )


def normalise_headers(rows: list[dict[str, str]], aliases: dict[str, str]) -> list[dict[str, str]]:
    """Map Chinese/English header variants to field names; unknown columns are dropped."""
    return [
        {aliases.get(k.strip().lower(), aliases.get(k.strip(), "")): v for k, v in r.items()} for r in rows
    ]


def _safe(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(list(headers))
    for r in rows:
        ws.append([_safe(v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    for r in rows:
        w.writerow(["" if v is None else _safe(v if isinstance(v, str) else str(v)) for v in r])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel then reads UTF-8 correctly
