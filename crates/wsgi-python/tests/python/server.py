"""Starts the `wsgi-rs` command of the installed wheel on a free port."""
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")


def command():
    """The console script next to this Python (the venv's bin/)."""
    path = os.path.join(os.path.dirname(sys.executable), "wsgi-rs")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: install the wsgi-rs wheel into this environment")
    return path


class Server:
    """A `wsgi-rs APP ARGS...` process; stopped (SIGTERM) on exit."""

    def __init__(self, app, *args, env=None, cwd=APPS):
        full_env = dict(os.environ, NO_COLOR="1", RUST_LOG="info,wsgi::access=off")
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [command(), app, "--bind", "127.0.0.1:0", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines = []
        self.port = None
        deadline = time.monotonic() + 30
        while self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the server exited before listening:\n" + "".join(self.lines))
            self.lines.append(line)
            found = re.search(r"listening on http://[\d.]+:(\d+)", line)
            if found:
                self.port = int(found.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in 30 s")
        # Keep draining the log so the server never blocks on a full pipe.
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def log(self):
        return "".join(self.lines)

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            # Header names lower-cased: HTTP/1.1 names are case-insensitive.
            headers = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers, response.read()
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def raw(self, data, timeout=5):
        """Sends bytes verbatim; returns everything until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            chunks = []
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except socket.timeout:
                pass
            return b"".join(chunks)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.reader.join(5)
        self.proc.stdout.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
