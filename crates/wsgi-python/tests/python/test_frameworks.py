"""Flask and Django applications behind `wsgi-rs`, over real sockets."""
import json
import time
import unittest
import uuid

from server import Server


class FlaskTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("flask_app:app", "--workers", "1")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_hello(self):
        status, headers, body = self.server.get("/")
        self.assertEqual((status, body), (200, b"Hello, World!"))
        self.assertEqual(headers["content-length"], "13")

    def test_json(self):
        status, _, body = self.server.get("/json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"message": "Hello, World!", "items": [1, 2, 3]})

    def test_form_post(self):
        status, _, body = self.server.request(
            "POST", "/echo?x=1", body="a=1&b=caf%C3%A9",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"form": {"a": "1", "b": "café"}, "args": {"x": "1"}, "length": 15})

    def test_json_post(self):
        status, _, body = self.server.request(
            "POST", "/json", body=json.dumps({"k": [1, "v"]}), headers={"Content-Type": "application/json"}
        )
        self.assertEqual((status, json.loads(body)), (200, {"received": {"k": [1, "v"]}}))

    def test_multipart_upload(self):
        boundary = uuid.uuid4().hex
        payload = b"x" * 200_000
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        status, _, response = self.server.request(
            "POST", "/upload", body=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        self.assertEqual(status, 200, response)
        self.assertEqual(json.loads(response), {"name": "a.bin", "size": 200_000})

    def test_streaming(self):
        status, headers, body = self.server.get("/stream")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"".join(b"line %d\n" % i for i in range(5)))
        self.assertEqual(headers.get("transfer-encoding"), "chunked")

    def test_error_is_a_500_logged_through_wsgi_errors(self):
        status, _, _ = self.server.get("/error")
        self.assertEqual(status, 500)
        # Flask answers its own 500 and logs the traceback to wsgi.errors,
        # which the server logs at ERROR (target wsgi.errors).
        for _ in range(50):
            if "flask view failed" in self.server.log():
                break
            time.sleep(0.02)
        self.assertIn("wsgi.errors", self.server.log())
        self.assertIn("RuntimeError: flask view failed", self.server.log())

    def test_unicode_path(self):
        status, _, body = self.server.get("/path/caf%C3%A9")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["name"], "café")

    def test_not_found(self):
        status, _, _ = self.server.get("/missing")
        self.assertEqual(status, 404)


class DjangoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("django_app:application", "--workers", "1")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_hello(self):
        self.assertEqual(self.server.get("/")[::2], (200, b"Hello, World!"))

    def test_json_with_query(self):
        status, _, body = self.server.get("/json?a=b")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"method": "GET", "path": "/json", "query": {"a": "b"}})

    def test_post_body(self):
        status, _, body = self.server.request("POST", "/echo", body=json.dumps({"n": 1}),
                                              headers={"Content-Type": "application/json"})
        self.assertEqual((status, json.loads(body)), (200, {"length": 8, "json": {"n": 1}}))

    def test_streaming_response(self):
        status, _, body = self.server.get("/stream")
        self.assertEqual((status, body), (200, b"".join(b"chunk %d\n" % i for i in range(4))))

    def test_error(self):
        status, _, _ = self.server.get("/error")
        self.assertEqual(status, 500)

    def test_404(self):
        self.assertEqual(self.server.get("/nope")[0], 404)


if __name__ == "__main__":
    unittest.main()
