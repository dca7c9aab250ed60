"""A one-file Django project."""
import json

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="tests-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def hello(request):
    return HttpResponse("Hello, World!", content_type="text/plain")


def as_json(request):
    return JsonResponse({"method": request.method, "path": request.path, "query": request.GET.dict()})


@csrf_exempt
def echo(request):
    body = request.body
    return JsonResponse({"length": len(body), "json": json.loads(body) if body else None})


def stream(request):
    return StreamingHttpResponse((f"chunk {i}\n" for i in range(4)), content_type="text/plain")


def fail(request):
    raise ValueError("django view failed")


urlpatterns = [
    path("", hello),
    path("json", as_json),
    path("echo", echo),
    path("stream", stream),
    path("error", fail),
]

application = get_wsgi_application()
