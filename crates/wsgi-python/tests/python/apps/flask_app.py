"""A Flask application with the usual kinds of endpoints."""
from flask import Flask, Response, jsonify, request, stream_with_context

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"


@app.get("/json")
def json_endpoint():
    return jsonify(message="Hello, World!", items=[1, 2, 3])


@app.post("/echo")
def echo():
    return jsonify(form=request.form.to_dict(), args=request.args.to_dict(), length=request.content_length)


@app.post("/json")
def post_json():
    return jsonify(received=request.get_json())


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(name=f.filename, size=len(data))


@app.get("/stream")
def stream():
    def generate():
        for i in range(5):
            yield f"line {i}\n"
    return Response(stream_with_context(generate()), mimetype="text/plain")


@app.get("/error")
def error():
    raise RuntimeError("flask view failed")


@app.get("/path/<name>")
def path(name):
    return jsonify(name=name, path=request.path, script_root=request.script_root)
