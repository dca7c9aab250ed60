# Helpers the Rust side of wsgi-rs calls. Compiled once per process as the
# module `wsgi_rs_support`; nothing here is public API.
import inspect
import traceback

# What `_next` returns at the end of an iterator: a unique object, so that a
# body yielding None is still told apart from its end.
END = object()


def format_exception(exc, tb=None):
    """The traceback of `exc` as one string, as `traceback` prints it."""
    tb = tb if tb is not None else exc.__traceback__
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def is_awaitable(obj):
    # Coroutines, asyncio futures and tasks, and any object with __await__.
    return inspect.isawaitable(obj)


def _run(context, function, *args):
    # The request's contextvars.Context, shared by its call, its iteration
    # and its close(), as in threads mode.
    if context is None:
        return function(*args)
    return context.run(function, *args)


async def call(app, environ, start_response, context=None):
    """Calls a WSGI app on the event loop (asyncio mode); awaits what it
    returns when that is awaitable, as pulsar's server did."""
    result = _run(context, app, environ, start_response)
    while inspect.isawaitable(result):
        result = await result
    return result


async def next_item(iterator, context=None):
    """The next item of a synchronous iterator, on the event loop (asyncio
    mode: a generator may create futures on the running loop)."""
    return _run(context, next, iterator, END)


async def anext_item(iterator, context=None):
    """The next item of an asynchronous iterator, or END."""
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return END


async def close_method(method, context=None):
    """Calls a close() (or aclose()) method on the event loop; awaits what it
    returns when that is awaitable."""
    result = _run(context, method)
    if inspect.isawaitable(result):
        await result


def resolve(future, ok, value):
    """Completes an awaitable read of wsgi.input (called on its loop);
    nothing when the reader gave up on it (cancelled)."""
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
