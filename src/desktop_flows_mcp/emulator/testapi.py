"""HTTP test hooks under ``/_emulator/`` (only mounted with ``test_api=True``).

``POST /_emulator/faults`` arms a fault (JSON fields as ``Faults.add``, ``creates_run_after`` too),
``POST /_emulator/advance`` ``{"seconds": n}`` moves the clock, ``POST /_emulator/reset`` restores the seed,
``GET /_emulator/callbacks`` lists callback deliveries, ``GET /_emulator/requests`` counts API calls,
``GET /_emulator/starts`` lists RunDesktopFlow calls that reached the run limit check (connection, time, accepted),
``GET /_emulator/late`` the runs a fault's ``creates_run_after`` will still create (flow, when).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .runs import iso

if TYPE_CHECKING:
    from .app import Emulator

_FAULT_FIELDS = {
    "path",
    "method",
    "times",
    "status",
    "code",
    "message",
    "retry_after",
    "delay",
    "body",
    "creates_run_after",
}


def test_routes(emulator: Emulator) -> list[Route]:
    async def arm_fault(request: Request) -> Response:
        fields: Any = await _json(request)
        if not isinstance(fields, dict) or not set(fields) <= _FAULT_FIELDS:  # pyright: ignore[reportUnknownArgumentType]
            return JSONResponse({"error": f"Expected an object with fields {sorted(_FAULT_FIELDS)}"}, 400)
        try:
            fault = emulator.faults.add(**cast(dict[str, Any], fields))
        except (TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"armed": fault.path, "times": fault.times}, 201)

    async def advance(request: Request) -> Response:
        fields: Any = await _json(request)
        seconds: object = cast(dict[str, Any], fields).get("seconds") if isinstance(fields, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            return JSONResponse({"error": 'Expected {"seconds": <non-negative number>}'}, 400)
        await emulator.advance(float(seconds))
        return JSONResponse({"now": iso(emulator.now()), "offset": emulator.offset})

    async def reset(request: Request) -> Response:
        emulator.reset()
        return Response(status_code=204)

    async def callbacks(request: Request) -> Response:
        deliveries = [
            {
                "url": d.url,
                "headers": d.headers,
                "body": d.body,
                "attempts": d.attempts,
                "delivered": d.delivered,
            }
            for d in emulator.callbacks.deliveries
        ]
        return JSONResponse({"value": deliveries})

    async def requests(request: Request) -> Response:
        return JSONResponse({"count": emulator.request_count})

    async def starts(request: Request) -> Response:
        log = emulator.store.start_log
        return JSONResponse({"value": [{"connection": c, "at": at, "accepted": ok} for c, at, ok in log]})

    async def late(request: Request) -> Response:
        pending = [{"flow": late.flow_id, "at": late.at} for late in emulator.late_starts]
        return JSONResponse({"value": pending})

    return [
        Route("/_emulator/starts", starts, methods=["GET"]),
        Route("/_emulator/late", late, methods=["GET"]),
        Route("/_emulator/faults", arm_fault, methods=["POST"]),
        Route("/_emulator/advance", advance, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/callbacks", callbacks, methods=["GET"]),
        Route("/_emulator/requests", requests, methods=["GET"]),
    ]


async def _json(request: Request) -> object:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None
