"""The Python benchmark apps: plaintext hello and a JSON endpoint, the same
callable for every server (wsgi-rs, granian, gunicorn)."""
import json


def app(environ, start_response):
    if environ["PATH_INFO"] == "/json":
        body = json.dumps({"message": "Hello, World!"}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, World!"]
