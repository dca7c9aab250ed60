"""Plain WSGI callables, some wrapped in wsgiref.validate."""
import json
import os
import time
import warnings
import wsgiref.validate

# A validator warning is a failure, not a line on stderr.
warnings.simplefilter("error", wsgiref.validate.WSGIWarning)

calls = {"n": 0}


def hello(environ, start_response):
    calls["n"] += 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, World!"]


def json_app(environ, start_response):
    body = json.dumps({"message": "Hello, World!"}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ, start_response):
    calls["n"] += 1
    # read(size): wsgiref.validate insists on the size argument.
    # (-1: all of a chunked body).
    data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or -1))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [data]


def count(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(calls["n"]).encode()]


def slow(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "1"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slow done %d" % os.getpid()]


def router(environ, start_response):
    path = environ["PATH_INFO"]
    app = {"/echo": echo, "/count": count, "/slow": slow, "/json": json_app}.get(path, hello)
    return app(environ, start_response)


def streamed_file(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](open(__file__, "rb"), 1024)


validated = wsgiref.validate.validator(router)
validated_file = wsgiref.validate.validator(streamed_file)
