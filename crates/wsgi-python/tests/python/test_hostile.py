"""Hostile input against a Python app: refused by the server before the
application runs (its call counter does not move), or answered without
harm; and graceful restarts with a Python app behind the server."""
import os
import signal
import socket
import tempfile
import threading
import time
import unittest

from server import Server


class HostileInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(
            "plain_app:router", "--max-request-body", "1000", "--max-header-size", "8192",
            "--header-read-timeout", "1",
        )

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def calls(self):
        return int(self.server.get("/count")[2])

    def status_of(self, raw):
        first = raw.split(b"\r\n", 1)[0]
        return int(first.split()[1]) if first.startswith(b"HTTP/") else None

    def assertRefused(self, request, status):
        before = self.calls()
        got = self.server.raw(request)
        self.assertEqual(self.status_of(got), status, got[:200])
        self.assertEqual(self.calls(), before, "the application ran for a refused request")

    def test_body_over_the_limit_is_413(self):
        self.assertRefused(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n", 413)

    def test_chunked_body_over_the_limit_fails_the_read(self):
        body = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
        got = self.server.raw(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body)
        self.assertEqual(self.status_of(got), 413, got[:200])

    def test_oversized_head_is_431(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\nConnection: close\r\n\r\n", 431)

    def test_smuggling_content_length_and_chunked_is_refused(self):
        got = self.server.raw(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"
        )
        self.assertEqual(self.status_of(got), 400, got[:200])

    def test_missing_host_is_400(self):
        self.assertRefused(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400)

    def test_bare_lf_and_control_characters_in_headers_are_refused(self):
        got = self.server.raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n")
        self.assertEqual(self.status_of(got), 400, got[:200])

    def test_slowloris_head_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            data = sock.recv(1024)
            # Closed (or answered 408) once header_read_timeout (1 s) passes.
            self.assertLess(time.monotonic() - started, 4)
            self.assertTrue(data == b"" or b" 408 " in data, data)

    def test_silent_body_times_out(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\nabc")
            data = sock.recv(4096)
            self.assertIn(b" 408 ", data.split(b"\r\n", 1)[0])

    def test_the_server_still_serves(self):
        self.assertEqual(self.server.get("/")[::2], (200, b"Hello, World!"))


class RestartTest(unittest.TestCase):
    def run_slow_requests(self, server, count):
        results = []

        def one():
            try:
                results.append(server.get("/slow?1", timeout=15)[:1])
            except OSError as e:
                results.append(("error", e))

        threads = [threading.Thread(target=one) for _ in range(count)]
        for t in threads:
            t.start()
        return threads, results

    @staticmethod
    def wait_for_workers(server, processes):
        # Worker processes log their own line once they serve (socket
        # activation): before that, one may still be importing the app.
        deadline = time.monotonic() + 30
        while server.log().count("(1 worker)") < processes and time.monotonic() < deadline:
            time.sleep(0.05)

    def check_graceful(self, *args):
        server = Server("plain_app:router", "--shutdown-timeout", "10", *args)
        # A signal before every worker serves finds one still importing.
        processes = int(args[1]) if args[:1] == ("--workers",) else 0
        self.wait_for_workers(server, processes)
        threads, results = self.run_slow_requests(server, 4)
        time.sleep(0.4)  # the requests are in flight
        code = server.stop(signal.SIGTERM)
        for t in threads:
            t.join()
        self.assertEqual(code, 0, server.log())
        self.assertEqual(results, [(200,)] * 4, server.log())
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()

    def test_worker_processes_share_a_unix_socket(self):
        path = os.path.join(tempfile.mkdtemp(), "wsgi.sock")
        server = Server("plain_app:router", "--bind", f"unix:{path}", "--workers", "2")
        try:
            self.wait_for_workers(server, 2)
            pids = set()
            for _ in range(200):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(10)
                    sock.connect(path)
                    sock.sendall(b"GET /slow?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    data = b""
                    while chunk := sock.recv(65536):
                        data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
                pids.add(data.split()[-1])
                if len(pids) == 2:
                    break
            # Which process accepts is the kernel's choice: one at least.
            self.assertGreaterEqual(len(pids), 1)
            self.assertEqual(server.get("/")[::2], (200, b"Hello, World!"))
        finally:
            code = server.stop()
        self.assertEqual(code, 0, server.log())
        self.assertFalse(os.path.exists(path), "the socket file is removed")

    def test_sigterm_lets_in_flight_requests_finish(self):
        self.check_graceful()

    def test_worker_processes_share_the_socket_and_stop_gracefully(self):
        server = Server("plain_app:router", "--workers", "2")
        try:
            self.wait_for_workers(server, 2)
            # Both processes answer (their pids differ). Which process
            # accepts a connection on the shared socket is the kernel's
            # choice, and sequential requests often go to the same one for
            # a while: ask until both have answered, up to a bound that a
            # socket only one process accepts from cannot pass.
            pids = set()
            for _ in range(500):
                pids.add(server.get("/slow?0")[2].split()[-1])
                if len(pids) == 2:
                    break
            self.assertEqual(len(pids), 2, pids)
        finally:
            server.stop()
        self.check_graceful("--workers", "2")


if __name__ == "__main__":
    unittest.main()
