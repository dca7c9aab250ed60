"""pulsar-style asynchronous WSGI: awaitables as results and body items."""
import asyncio
import json


def simple_async(environ, start_response):
    """pulsar's simple_async: bytes, a future resolving to bytes, bytes."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    loop = asyncio.get_event_loop()
    future = loop.create_future()
    loop.call_later(0.01, future.set_result, b" ")
    return [b"hello", future, b"World!"]


async def later(value, delay=0.01):
    await asyncio.sleep(delay)
    return value


async def async_app(environ, start_response):
    """A handler that awaits, then returns a body with an awaitable."""
    await asyncio.sleep(0.01)
    cfg = environ["pulsar.cfg"]
    conn = environ["pulsar.connection"]
    start_response("200 OK", [("Content-Type", "application/json")])
    head = json.dumps({"workers": cfg.workers, "connection": conn.id}).encode()
    return [head, later(b"\n")]


def streaming(environ, start_response):
    """An async generator body: each item awaited on the event loop."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    async def body():
        for i in range(int(environ.get("QUERY_STRING") or 3)):
            await asyncio.sleep(0.001)
            yield b"%d\n" % i

    return body()


async def body_reader(environ, start_response):
    """Reads wsgi.input with awaits, as pulsar's HttpBodyReader is read;
    GET answers at once (to show the loop is free while a body waits)."""
    inp = environ["wsgi.input"]
    path = environ["PATH_INFO"]
    if environ["REQUEST_METHOD"] == "GET":
        body = [b"quick"]
    elif path == "/read":
        first = await inp.readline()
        rest = await inp.read()
        body = [b"first=" + first + b"rest=" + rest]
    elif path == "/readlines":
        body = [b"|".join(await inp.readlines())]
    else:
        body = [b"|".join([line async for line in inp])]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return body
