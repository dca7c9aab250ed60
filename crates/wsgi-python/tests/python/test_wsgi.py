"""pulsar-style asynchronous apps, wsgiref.validate, the command line."""
import concurrent.futures
import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

from server import APPS, Server, command


@contextlib.contextmanager
def serving_one_worker(name, source):
    """A server of one worker process for `source`, written as module
    `name` in a temporary directory."""
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, name + ".py"), "w") as module:
            module.write(source)
        with Server(name + ":app", "--pythonpath", directory, "--workers", "1") as server:
            yield server


def answer_alike(test, server, marked, expected):
    """300 requests, every third to `marked` and the others to `/`, each
    answered 200 with `expected`: enough for the calls to run inline too,
    and for a value one request left to reach another if the server
    handed it on."""
    for i in range(300):
        path = marked if i % 3 == 0 else "/"
        test.assertEqual(server.get(path)[::2], (200, expected), (i, path))


class PulsarAsyncTest(unittest.TestCase):
    def test_simple_async_serves_hello_world(self):
        with Server("pulsar_app:simple_async", "--asyncio") as server:
            self.assertEqual(server.get("/")[::2], (200, b"hello World!"))

    def test_coroutine_function_app_with_pulsar_objects(self):
        with Server("pulsar_app:async_app", "--workers", "1") as server:
            status, _, body = server.get("/")
            self.assertEqual(status, 200)
            data = json.loads(body)
            self.assertEqual(data["workers"], 1)
            self.assertIsInstance(data["connection"], int)

    def test_awaitable_input_reads_do_not_block_the_event_loop(self):
        with Server("pulsar_app:body_reader") as server:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            with sock:
                sock.sendall(
                    b"POST /read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    b"Connection: close\r\n\r\n5\r\nline\n\r\n"
                )
                time.sleep(0.2)  # the app now awaits the rest of the body
                # The loop serves other requests meanwhile.
                self.assertEqual(server.get("/", timeout=5)[::2], (200, b"quick"))
                sock.sendall(b"4\r\nmore\r\n4\r\n end\r\n0\r\n\r\n")
                response = b""
                while chunk := sock.recv(65536):
                    response += chunk
            self.assertTrue(response.startswith(b"HTTP/1.1 200"), response)
            self.assertTrue(response.endswith(b"first=line\nrest=more end"), response)
            body = b"a\nbb\nccc"
            self.assertEqual(server.request("POST", "/readlines", body=body)[::2], (200, b"a\n|bb\n|ccc"))
            self.assertEqual(server.request("POST", "/lines", body=body)[::2], (200, b"a\n|bb\n|ccc"))

    def test_a_synchronous_app_reads_bytes(self):
        with Server("plain_app:validated") as server:
            status, _, body = server.request("POST", "/echo", body=b"y" * 1000)
            self.assertEqual((status, body), (200, b"y" * 1000))

    def test_async_generator_body(self):
        with Server("pulsar_app:streaming") as server:
            self.assertEqual(server.get("/?5")[::2], (200, b"0\n1\n2\n3\n4\n"))


class ContextVarsTest(unittest.TestCase):
    def test_a_variable_set_by_one_request_is_not_seen_by_the_next(self):
        # Each request runs in a fresh contextvars.Context; the server
        # reuses one that a request left empty, never one that it set a
        # variable in. Enough requests for the calls to run inline too.
        source = (
            "import contextvars\n"
            "seen = contextvars.ContextVar('seen')\n"
            "def app(environ, start_response):\n"
            "    before = seen.get('unset')\n"
            "    if environ['PATH_INFO'] == '/set':\n"
            "        seen.set('set')\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    return [before.encode()]\n"
        )
        with serving_one_worker("ctxapp", source) as server:
            answer_alike(self, server, "/set", b"unset")


class RecycledStartResponseTest(unittest.TestCase):
    def test_a_start_response_the_app_keeps_is_never_another_requests(self):
        # The server reuses a start_response object that nothing holds
        # after its request; one the application keeps stays its own.
        source = (
            "kept = []\n"
            "def app(environ, start_response):\n"
            "    seen = any(start_response is k for k in kept)\n"
            "    if environ['PATH_INFO'] == '/keep':\n"
            "        kept.append(start_response)\n"
            "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    if environ['PATH_INFO'] == '/old' and kept:\n"
            "        try:\n"
            "            kept[0]('200 OK', [])\n"
            "        except Exception as e:\n"
            "            return [type(e).__name__.encode()]\n"
            "    return [b'reused' if seen else b'fresh']\n"
        )
        with serving_one_worker("keepapp", source) as server:
            answer_alike(self, server, "/keep", b"fresh")
            # A kept one still belongs to its own (finished) request.
            self.assertEqual(server.get("/old")[::2], (200, b"ValueError"))

    def test_a_write_callable_the_app_keeps_is_never_another_requests(self):
        source = (
            "kept = []\n"
            "def app(environ, start_response):\n"
            "    write = start_response('200 OK', [('Content-Type', 'text/plain')])\n"
            "    seen = any(write is k for k in kept)\n"
            "    if environ['PATH_INFO'] == '/keep':\n"
            "        kept.append(write)\n"
            "    write(b'w:')\n"
            "    return [b'reused' if seen else b'fresh']\n"
        )
        with serving_one_worker("writeapp", source) as server:
            answer_alike(self, server, "/keep", b"w:fresh")


class ColdStartTest(unittest.TestCase):
    def test_concurrent_first_requests_all_answer(self):
        # The first requests of a fresh process run on the pool, several at
        # once, while the environ template is first built (an import): none
        # may wait forever (a lock held across a GIL switch once did).
        with tempfile.TemporaryDirectory() as directory:
            # A module importing nothing: the server's own first imports
            # then happen while the requests race.
            with open(os.path.join(directory, "bare.py"), "w") as module:
                module.write(
                    "def app(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'Hello, World!']\n"
                )
            for _ in range(3):
                self.race(directory)

    def race(self, directory):
        with Server("bare:app", "--pythonpath", directory) as server:
            # Every connection open first, then every request sent at once.
            socks = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(16)]
            for sock in socks:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            for sock in socks:
                with sock:
                    response = b""
                    while chunk := sock.recv(65536):
                        response += chunk
                self.assertTrue(response.startswith(b"HTTP/1.1 200"), response)
                self.assertTrue(response.endswith(b"Hello, World!"), response)


class ValidateTest(unittest.TestCase):
    """wsgiref.validate around the apps: any PEP 3333 breach on either side
    raises inside the app (warnings are errors there) and shows as a 500."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server("plain_app:validated", "--debug")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_get(self):
        status, _, body = self.server.get("/")
        self.assertEqual(status, 200, body)

    def test_post_body(self):
        status, _, body = self.server.request("POST", "/echo", body=b"x" * 100_000)
        self.assertEqual((status, len(body)), (200, 100_000))

    def test_json_with_content_length(self):
        self.assertEqual(self.server.get("/json")[0], 200)

    def test_head(self):
        status, _, body = self.server.request("HEAD", "/")
        self.assertEqual((status, body), (200, b""))

    def test_file_wrapper(self):
        with Server("plain_app:validated_file", "--debug") as server:
            status, _, body = server.get("/")
            self.assertEqual(status, 200, body)
            with open(os.path.join(APPS, "plain_app.py"), "rb") as f:
                self.assertEqual(body, f.read())


class CommandTest(unittest.TestCase):
    def test_help_lists_python_and_server_options(self):
        out = subprocess.run([command(), "--help"], capture_output=True, text=True, check=True).stdout
        for flag in ("--threads", "--asyncio", "--bind", "--workers", "--max-requests"):
            self.assertIn(flag, out)

    def test_a_missing_app_is_a_clear_error(self):
        run = subprocess.run([command(), "nosuchmodule:app"], capture_output=True, text=True, cwd=APPS)
        self.assertEqual(run.returncode, 2)
        self.assertIn("cannot import", run.stderr)

    def test_app_and_settings_from_environment_and_toml(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('server_software = "from-toml"\n')
        try:
            with Server("--config=" + f.name, env={"WSGI_APP": "plain_app:hello"}) as server:
                _, headers, body = server.get("/")
                self.assertEqual(body, b"Hello, World!")
                self.assertEqual(headers["server"], "from-toml")
        finally:
            os.unlink(f.name)

    def toml(self, text):
        f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        with f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_python_settings_from_the_toml_app_table(self):
        # The app lives in a directory only `pythonpath` (from the file) adds.
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "tomlmod.py"), "w") as module:
                module.write(
                    "def app(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                    "    return [b'from the toml file']\n"
                )
            config = self.toml(
                f'workers = 2\n[app]\napp = "tomlmod:app"\nthreads = 2\ninline = false\npythonpath = ["{directory}"]\n'
            )
            with Server("--config=" + config) as server:
                self.assertEqual(server.get("/")[::2], (200, b"from the toml file"))

    def test_flags_win_over_the_environment_which_wins_over_the_file(self):
        config = self.toml('[app]\napp = "nosuchmodule:app"\nthreads = 0\n')
        # The file alone: its (invalid) threads setting is refused by name.
        run = subprocess.run(
            [command(), "--config=" + config], capture_output=True, text=True, cwd=APPS
        )
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertIn("threads", run.stderr)
        # The environment overrides the file, a flag the environment.
        env = dict(os.environ, WSGI_THREADS="2", WSGI_APP="nosuchmodule:other")
        with Server("plain_app:hello", "--config=" + config, env=env) as server:
            self.assertEqual(server.get("/")[::2], (200, b"Hello, World!"))

    def test_bad_python_settings_in_the_file_or_environment_are_clear_errors(self):
        config = self.toml('[app]\napp = "plain_app:hello"\nthread = 2\n')
        run = subprocess.run([command(), "--config=" + config], capture_output=True, text=True, cwd=APPS)
        self.assertEqual(run.returncode, 2)
        self.assertIn("unknown key `thread`", run.stderr)
        env = dict(os.environ, WSGI_INLINE="maybe")
        run = subprocess.run([command(), "plain_app:hello"], capture_output=True, text=True, cwd=APPS, env=env)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("maybe", run.stderr)
        self.assertIn("--inline", run.stderr)


if __name__ == "__main__":
    unittest.main()
