"""FastAPI + uvicorn (uvloop, httptools), one worker, no batching: one model call per request.

`async def` calls the model on the event loop: for a sub-millisecond model this beats the
thread pool that a plain `def` endpoint would use. Run:
  MODEL_DIR=... uvicorn benchmarks.peers.fastapi_app:app --port 8091 --workers 1
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers.common import answers, load_model, optional

fastapi = optional("fastapi")
responses = optional("fastapi.responses")

app = fastapi.FastAPI()
model = load_model()


@app.get("/ping")  # type: ignore[untyped-decorator]
async def ping() -> dict[str, Any]:
    return {}


async def invocations(request: Any) -> Any:  # a starlette Request; a JSONResponse
    body = await request.json()
    return responses.JSONResponse(answers(model, [body["features"]])[0])


# FastAPI injects the request by its annotation, which must be the class itself.
invocations.__annotations__["request"] = fastapi.Request
app.post("/invocations")(invocations)
