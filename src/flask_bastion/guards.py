"""The one wrapper of the view decorators that check a request before the view runs
(``login_required``, ``fresh_login_required``, ``require_scope``, the role and permission
decorators, ``validate``), for a sync view and an ``async def`` view alike.

Flask awaits a view only when the function it routes to is a coroutine function. A plain
wrapper around an ``async def`` view is not one: it hands Flask the view's coroutine as
its response, and Flask answers 500 with the view never run. :func:`guard_view` gives an
``async def`` view an ``async def`` wrapper, so a decorator writes its check once and the
check runs before the view, with the same refusals, either way.
"""

from __future__ import annotations

import functools
import inspect
import typing as t
from collections.abc import Callable

F = t.TypeVar("F", bound=Callable[..., t.Any])

#: A check of a guarded view: called with the view's keyword arguments, which it may add
#: to, before the view. It returns ``None`` to let the request through, or the response
#: to answer instead; or it raises (``abort``, ``refuse``).
Check = Callable[[dict[str, t.Any]], t.Any]


def guard_view(view: F, check: Check) -> F:
    """Wrap ``view`` so ``check`` runs before it; awaited when ``view`` is ``async def``
    (Flask needs ``asgiref`` for those views, ``pip install flask[async]``).

    :param view: the view function.
    :param check: runs first with the view's keyword arguments; a result other than
        ``None`` is the response, and the view does not run.
    """
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def awaited(*args: t.Any, **kwargs: t.Any) -> t.Any:
            refused = check(kwargs)
            if refused is not None:
                return refused
            return await view(*args, **kwargs)

        return t.cast(F, awaited)

    @functools.wraps(view)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        refused = check(kwargs)
        if refused is not None:
            return refused
        return view(*args, **kwargs)

    return t.cast(F, wrapper)
