"""Domain errors of the central service and their single HTTP mapping.

Services raise these; routers stay thin and never build HTTP errors themselves. The handler
installed by :func:`install_error_handlers` turns each into JSON::

    {"code": "not_found", "message": "…(zh-CN)", "message_en": "…", "fields": [{"field", "message"}]}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from anju.errors import AnjuError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path (``rows.3.id_number``)."""

    field: str
    message: str


class CentralError(AnjuError):
    """Base of central's domain errors: an HTTP status, a stable code and zh-CN + English text."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self, message_zh: str, message_en: str | None = None, fields: list[FieldError] | None = None
    ):
        super().__init__(message_en or message_zh)
        self.message_zh = message_zh
        self.message_en = message_en or message_zh
        self.fields = fields or []


class NotFound(CentralError):
    status_code = 404
    code = "not_found"


class Conflict(CentralError):
    status_code = 409
    code = "conflict"


class PermissionDenied(CentralError):
    status_code = 403
    code = "forbidden"


class AuthenticationFailed(CentralError):
    status_code = 401
    code = "unauthenticated"


class ValidationFailed(CentralError):
    """Input is invalid; ``fields`` lists each field and why."""

    status_code = 422
    code = "validation_failed"


class PayloadTooLarge(CentralError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMedia(CentralError):
    status_code = 415
    code = "unsupported_media"


def _body(code: str, zh: str, en: str, fields: list[FieldError]) -> dict[str, object]:
    return {
        "code": code,
        "message": zh,
        "message_en": en,
        "fields": [{"field": f.field, "message": f.message} for f in fields],
    }


def install_error_handlers(app: FastAPI) -> None:
    """Register the one handler for :class:`CentralError` plus request-validation and HTTP errors."""

    async def central_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CentralError)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else None
        return JSONResponse(
            _body(exc.code, exc.message_zh, exc.message_en, exc.fields),
            status_code=exc.status_code,
            headers=headers,
        )

    async def request_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = []
        for item in exc.errors():
            loc = [str(p) for p in item.get("loc", ())]
            if loc and loc[0] in ("body", "query", "path", "header", "form"):
                loc = loc[1:] or loc
            fields.append(FieldError(".".join(loc) or "(root)", str(item.get("msg", "invalid"))))
        return JSONResponse(_body("validation_failed", "输入有误", "invalid input", fields), status_code=422)

    async def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            _body(f"http_{exc.status_code}", str(exc.detail), str(exc.detail), []),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def data_error(_request: Request, exc: Exception) -> JSONResponse:
        # The database refused a value the API let through (NUL bytes on PostgreSQL, numbers out of
        # a column's range): the caller's input, so 422, not a server error.
        log.info("database refused input: %s", exc)
        return JSONResponse(
            _body(
                "validation_failed",
                "输入含有数据库不接受的字符或数值",
                "input contains a value the database refuses",
                [],
            ),
            status_code=422,
        )

    from sqlalchemy.exc import DataError

    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(CentralError, central_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
