"""Live alert feed for consoles: WebSocket ``/ws/alerts?token=…`` and SSE ``/alerts/stream``.

Each connection subscribes to the app's :class:`~central.services.notify.AlertHub`
for the sites its user may see (admin: all); notices arrive as JSON
(:class:`~central.services.notify.AlertMessage`) as soon as the ingest
transaction that raised them commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from central.app import SHUTDOWN_HOOKS, STARTUP_HOOKS
from central.deps import CurrentUser, websocket_user
from central.errors import CentralError
from central.ingest import ops_runtime, start_ops, stop_ops
from central.models.users import User
from central.security import ADMIN

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

if start_ops not in STARTUP_HOOKS:
    STARTUP_HOOKS.append(start_ops)
    SHUTDOWN_HOOKS.append(stop_ops)

KEEPALIVE_S = 15.0


def _sites(user: User) -> list[str] | None:
    return None if user.role == ADMIN else user.site_ids


@router.websocket("/ws/alerts")
async def alerts_ws(websocket: WebSocket, token: str = "") -> None:
    try:
        user = websocket_user(websocket, token)
    except CentralError:
        await websocket.close(code=4401, reason="unauthenticated")
        return
    hub = ops_runtime(websocket.app).hub
    sub = hub.subscribe(_sites(user))
    await websocket.accept()
    await websocket.send_json({"notice": "hello", "user": user.username, "sites": _sites(user)})
    try:
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await websocket.send_json({"notice": "keepalive"})
                continue
            if message is None:
                break
            await websocket.send_text(message.model_dump_json())
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(sub)


@router.get("/alerts/stream")
async def alerts_sse(request: Request, user: CurrentUser) -> StreamingResponse:
    hub = ops_runtime(request.app).hub
    sub = hub.subscribe(_sites(user))

    async def stream() -> AsyncIterator[str]:
        try:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(sub.queue.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if message is None:
                    break
                yield f"event: {message.notice}\nid: {message.id}\ndata: {message.model_dump_json()}\n\n"
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
