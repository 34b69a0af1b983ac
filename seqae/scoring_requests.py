"""What seqae's scoring server reads from a request, and how it answers one it cannot use.

Two ASGI middlewares wrap the scoring app (`seqae.serving.scoring_app`):

- `BodyLimit` reads a request's body up to a size (`--max-request-mb`) and refuses a larger one
  with 413: at once when its Content-Length says so, before a byte of it is kept, and as soon as
  a chunked body passes the limit. The rest of a refused body is read and dropped as it comes, so
  the server's memory stays flat whatever a client sends and the connection stays usable.
- `OneLineErrors` makes every error answer one line of JSON, `{"error_code", "message"}`: MLflow's
  plain-text refusals and FastAPI's `{"detail"}` take that shape, a stack trace goes to the
  server's log, and an exception no one answered becomes a 500 with one line instead of a dropped
  connection (the traceback in the log).

`json_request` and `split_frame` parse a JSON request (`dataframe_split`, `dataframe_records`,
`instances` or `inputs`, and `params`) and refuse a malformed one with a `RequestError` saying what
was expected and what was found: invalid or too deeply nested JSON, another shape, unknown fields
or params, non-finite param values, rows that do not match the columns.
"""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pandas as pd

from seqae.errors import name_list

# A day of 1-second readings (86,400 rows) of SKAB's 8 sensors with full-precision numbers is 24 MB
# as dataframe_records (the column names repeated on every row) and 13 MB as dataframe_split: the
# default holds it 2.7 times over (about 20 such sensors as records).
DEFAULT_MAX_REQUEST_MB = 64
MAX_MESSAGE = 500  # characters of an error message sent back
INPUT_FIELDS = ("dataframe_split", "dataframe_records", "instances", "inputs")  # MLflow's, one per request
CONTENT_TYPES = "application/json (dataframe_split or dataframe_records), text/csv or application/vnd.apache.parquet"
# The error code of an answer whose body did not say (MLflow's names of these statuses).
ERROR_CODES = {404: "ENDPOINT_NOT_FOUND", 500: "INTERNAL_ERROR", 504: "DEADLINE_EXCEEDED"}
_logger = logging.getLogger("seqae.serving")


class RequestError(Exception):
    """A request the server cannot use: answered with `status` and the one-line `message`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")


def error_body(status: int, message: str) -> bytes:
    """The JSON body of an error answer: its code and the message in one line."""
    return json.dumps({"error_code": error_code(status), "message": one_line(message)}).encode()


async def send_error(send, status: int, message: str, more_body: bool = False) -> None:
    """Answer with `status` and `error_body` (an ASGI `send`); with `more_body`, the answer is not
    over until an empty body follows (its length is sent: the client has it all already)."""
    body = error_body(status, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body, "more_body": more_body})


# ---- the body ----------------------------------------------------------------------------------

class BodyLimit:
    """ASGI middleware: the app gets a request's body whole and at most `max_bytes` long; a longer
    one is answered 413 and dropped (see the module's docstring)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            return await self.refuse(receive, send, f"{declared / 2**20:.1f} MB, ", more_body=True)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                del chunks
                return await self.refuse(receive, send, "", message.get("more_body", False))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = [b"".join(chunks)]
        del chunks

        async def replay():
            if body:  # the whole body once (then let go of), then what the server says next (a disconnect)
                return {"type": "http.request", "body": body.pop(), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def refuse(self, receive, send, size: str, more_body: bool) -> None:
        """Answer 413 at once, then read and drop the rest of the body (when `more_body` is coming)
        before the answer ends: a client that sends all of it before it reads (urllib, one that asked
        to close the connection) reads the answer instead of a reset connection. One that waits for
        "100 Continue" sends none and closes the connection."""
        await send_error(send, 413, f"the request body is {size}over this server's limit of "
                                    f"{self.max_bytes / 2**20:g} MB; send fewer rows per request, or start seqae "
                                    "serve with a larger --max-request-mb", more_body=True)
        while more_body:
            more_body = (await receive()).get("more_body", False)  # a disconnect ends it too
        await send({"type": "http.response.body", "body": b""})


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses such a request before the app sees it
    return None


# ---- error answers -----------------------------------------------------------------------------

class OneLineErrors:
    """ASGI middleware: an error answer (status >= 400) goes out as one line of JSON (`cleaned_error`),
    and an exception that escapes the app before it answered becomes a 500 of one line, its
    traceback logged, the connection kept. Successful answers pass through untouched. A plain ASGI
    middleware, not Starlette's `BaseHTTPMiddleware`, whose task group and streams cost every
    request, the successful ones too."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope.get("method", ""), scope.get("path", "")
        held, chunks, started = None, [], False

        async def send_cleaned(message):
            nonlocal held, started
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held = message  # sent with the cleaned body
                return
            if message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                content_type = dict(held.get("headers", [])).get(b"content-type", b"").decode("latin-1")
                body = cleaned_error(b"".join(chunks), method, path, held["status"], content_type)
                started = True
                headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": held["status"], "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            started = True
            await send(message)

        try:
            await self.app(scope, receive, send_cleaned)
        except Exception as exc:
            if started:
                raise
            _logger.exception("%s %s failed", method, path)
            await send_error(send, 500, f"the server failed on this request ({type(exc).__name__}); "
                                        "its log has the traceback")


def cleaned_error(body: bytes, method: str, path: str, status: int = 400,
                  content_type: str = "application/json") -> bytes:
    """An error answer's body as `{"error_code", "message", ...}` with a one-line message and no stack
    trace (logged): a JSON error keeps its other fields; a text one, or FastAPI's `{"detail"}`,
    becomes the message under the status's error code."""
    error = None
    if "json" in content_type:
        try:
            error = json.loads(body)
        except ValueError:
            pass
    if not isinstance(error, dict):
        return error_body(status, body.decode("utf-8", "replace"))
    trace = error.pop("stack_trace", None)
    if trace:
        _logger.error("%s %s failed:\n%s", method, path, trace)
    if "message" not in error and isinstance(error.get("detail"), str):
        return error_body(status, error["detail"])
    if isinstance(error.get("message"), str):
        error["message"] = one_line(error["message"])
    return json.dumps(error).encode()


def one_line(message: str) -> str:
    """The first non-empty line of `message`, at most MAX_MESSAGE characters. MLflow's "Failed to
    predict data '<the whole request>'. Error: <why>" is cut down to <why>."""
    if message.startswith("Failed to predict data") and "Error: " in message:
        message = message.rpartition("Error: ")[2]
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


# ---- the JSON request --------------------------------------------------------------------------

def is_json(content_type: str | None) -> bool:
    """Whether a request with this Content-Type is JSON in UTF-8 (read by `json_request`); a request
    without one is refused (415): the server would have to guess."""
    if not content_type or not content_type.strip():
        raise RequestError(f"the request has no Content-Type header; send {CONTENT_TYPES}", status=415)
    mime, *parameters = [part.strip().lower() for part in content_type.split(";")]
    return mime == "application/json" and all(p.replace(" ", "") == "charset=utf-8" for p in parameters)


def json_request(data: bytes, param_names: list[str] | None = None) -> dict:
    """The body of a JSON scoring request: a dictionary with exactly one of the `INPUT_FIELDS` and
    optionally `params`, a dictionary of `param_names` (the model's signature declares them; None:
    any) whose numbers are finite. `RequestError` otherwise."""
    try:
        body = json.loads(data)
    except RecursionError:
        raise RequestError("the request's JSON nests deeper than this server reads; send rows of "
                           "numbers") from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise RequestError(f"the request is not valid JSON ({exc}); send a JSON dictionary such as "
                           '{"dataframe_split": {"columns": [...], "data": [[...], ...]}}') from None
    found = [str(key) for key in body] if isinstance(body, dict) else None
    fields = [key for key in found or [] if key in INPUT_FIELDS]
    unknown = [key for key in found or [] if key not in INPUT_FIELDS and key != "params"]
    if found is None or len(fields) != 1 or unknown:
        got = f"a JSON {json_kind(body)}" if found is None else (
            f"the fields {name_list(found)}" if found else "an empty dictionary")
        raise RequestError(f"the request must be a JSON dictionary with exactly one of the input fields "
                           f"{', '.join(INPUT_FIELDS)} (and optionally params); got {got}")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise RequestError(f"params must be a JSON dictionary of names and values, got a JSON {json_kind(params)} "
                           '(e.g. "params": {"threshold": 2.5})')
    unknown_params = [name for name in params or {} if param_names is not None and name not in param_names]
    if unknown_params:
        raise RequestError(f"unknown param {unknown_params[0]!r}; the model takes {', '.join(param_names) or 'none'}")
    for name, value in (params or {}).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"param {name!r} is {value}, not a finite number; send a number such as 2.5")
    return body


def json_kind(value) -> str:
    """What a parsed JSON value is, in JSON's words: dictionary, list, string, number, boolean or null."""
    kinds = {dict: "dictionary", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def split_frame(split) -> pd.DataFrame:
    """The frame of a `dataframe_split` (`{"columns": [...], "data": [[...], ...]}`, an `index` is
    ignored): each row a list of one value per column. `RequestError` otherwise."""
    if not isinstance(split, dict) or not {"columns", "data"} <= set(split) <= {"columns", "data", "index"}:
        found = f"the fields {name_list(split)}" if isinstance(split, dict) else f"a JSON {json_kind(split)}"
        raise RequestError(f'dataframe_split must be {{"columns": [names], "data": [rows]}}; got {found}')
    columns, data = split["columns"], split["data"]
    if not isinstance(columns, list) or not isinstance(data, list):
        wrong = "columns" if not isinstance(columns, list) else "data"
        raise RequestError(f"dataframe_split's {wrong} must be a list, got a JSON {json_kind(split[wrong])}")
    try:
        # Rows of numbers (what clients send) become one array at once; anything else (text, nulls)
        # is left to pandas, so that the model's check says which column and row is wrong.
        values = np.asarray(data)
        if values.ndim == 2 and values.dtype.kind in "if" and values.shape[1] == len(columns):
            return pd.DataFrame(values, columns=columns)
    except (ValueError, TypeError, OverflowError):
        pass
    unnamed = [name for name in columns if not isinstance(name, (str, int, float))]
    if unnamed:
        raise RequestError(f"dataframe_split's columns must be names, got a JSON {json_kind(unnamed[0])}")
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            found = f"{len(values)} values" if isinstance(values, list) else f"a JSON {json_kind(values)}"
            raise RequestError(f"dataframe_split's row {row} has {found}, the columns are {len(columns)}; "
                               "send each row as a list of one value per column")
    return pd.DataFrame(data, columns=columns)
