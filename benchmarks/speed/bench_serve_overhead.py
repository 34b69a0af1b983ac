"""Where a served 200-row request's time goes beyond `detect`, in process and in one run: a POST to
/invocations through FastAPI's test client (no sockets: the app's own work) on the app `seqae
serve` runs now and on the app as it was before (MLflow's handler: JSON parsing, the frame, seqae's
input check, MLflow's PyFuncModel.predict with its schema enforcement, the model's own check again,
the answer as a frame, the pure-Python JSON encoder, Starlette's BaseHTTPMiddleware), taking turns
with `detect` on the same rows. Both answer the same bytes.

    python -m benchmarks.speed.bench_serve_overhead [--requests 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

from benchmarks.speed.bench_memory import fitted_model, rows
from benchmarks.speed.common import interleaved, machine, median, save, table

from seqae import scoring_requests, serving, tracking


class CheckedBefore:
    """The served model before: seqae's check, then MLflow's PyFuncModel.predict (schema enforcement,
    then the model's predict, which checks its input again)."""

    def __init__(self, model):
        self._model, self.metadata = model, model.metadata
        self._check = model.unwrap_python_model().check_input

    def predict(self, data, params=None):
        if isinstance(data, (dict, list)):
            data = pd.DataFrame(data)
        return self._model.predict(self._check(data), params=params)


async def without_stack_traces_before(request, call_next):
    """The error-cleaning middleware as it was: a Starlette `BaseHTTPMiddleware` (a task group and
    streams around every request)."""
    from fastapi.responses import Response

    response = await call_next(request)
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return response
    body = b"".join([chunk async for chunk in response.body_iterator])
    body = scoring_requests.cleaned_error(body, request.method, request.url.path)
    return Response(content=body, status_code=response.status_code, media_type="application/json")


class Client:
    """POST to an ASGI app in this process, as uvicorn would call it (no sockets)."""

    def __init__(self, app):
        self.app, self.loop = app, asyncio.new_event_loop()

    def post(self, path: str, content: bytes, headers: dict) -> tuple[int, bytes]:
        return self.loop.run_until_complete(self._post(path, content, headers))

    async def _post(self, path, content, headers):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
        messages = [{"type": "http.request", "body": content, "more_body": False}]
        status, chunks = [0], []

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status[0], b"".join(chunks)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    from mlflow.pyfunc import scoring_server

    torch.set_num_threads(1)
    tracking.quiet_mlflow()
    detector = fitted_model()
    with tempfile.TemporaryDirectory() as tmp:
        model = tracking.load_pyfunc_model(str(detector.save(Path(tmp) / "model")))
        now = Client(serving.scoring_app(str(Path(tmp) / "model")))
        old_app = scoring_server.init(CheckedBefore(model))
        old_app.middleware("http")(without_stack_traces_before)
        before = Client(old_app)
    frame = rows(10_000, 200)
    body = json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}).encode()
    headers = {"Content-Type": "application/json"}
    answers = [client.post("/invocations", content=body, headers=headers) for client in (now, before)]
    assert answers[0][0] == answers[1][0] == 200, answers
    assert answers[0][1] == answers[1][1], "the two servers answer differently"
    variants = {
        "detect()": lambda: detector.detect(frame),
        "POST /invocations, before": lambda: before.post("/invocations", content=body, headers=headers),
        "POST /invocations, now": lambda: now.post("/invocations", content=body, headers=headers),
    }
    seconds = interleaved({k: (lambda f=f: [f() for _ in range(5)]) for k, f in variants.items()}, args.requests // 5)
    ms = {k: median(v) / 5 * 1e3 for k, v in seconds.items()}
    rows_ = [{"what": k, "ms per request (median)": v, "vs detect": v / ms["detect()"]} for k, v in ms.items()]
    print(table(rows_, ["what", "ms per request (median)", "vs detect"]))
    print("saved", save("serve_overhead", {"machine": machine(), "ms": ms, "identical_answers": True}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
