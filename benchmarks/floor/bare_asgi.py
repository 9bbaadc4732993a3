"""The ceiling for `seatctl serve` on this machine: a bare ASGI app under the same uvicorn
(httptools, uvloop), answering GET /seats with the same JSON from memory and POST /lock with a
fixed answer, touching no database and no framework.

    python benchmarks/floor/bare_asgi.py PORT
"""

import json
import sys

import uvicorn

SEATS = json.dumps(
    {str(n): {"status": "available", "lockedBy": None} for n in range(1, 6)},
    separators=(",", ":"),
).encode()
LOCKED = b'{"message":"Seat 1 locked by alice","seat":{"status":"locked","lockedBy":"alice"}}'
HEADERS = [(b"content-type", b"application/json")]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = SEATS if scope["method"] == "GET" else LOCKED
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    print("listening", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="error", access_log=False)
