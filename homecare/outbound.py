"""One POST to another service (an organization's push gateway, the SMS gateway):
a timeout on the connect and every read, no redirects, failures as two exceptions.

The stdlib's urllib, not an HTTP library: one POST with a timeout is all the
service sends, and no HTTP client is among its dependencies. Neither exception's
text ever quotes the URL (a token may sit in its query), the body or the answer.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request

# The most of an answer read: what we need of it (a status code, a short JSON
# Code) is at its start, and a gateway answering megabytes must not fill memory.
ANSWER_READ_MAX = 64 * 1024


class PostRefused(Exception):
    """The service answered with a status other than 2xx (a redirect included).
    ``answer`` is the start of its body, None when that stalled or broke off."""

    def __init__(self, status: int, answer: bytes | None) -> None:
        super().__init__(f"answered {status}")
        self.status = status
        self.answer = answer


class PostUnreachable(Exception):
    """No answer: refused or failed connection, a timeout, a broken answer. The text
    is the cause's type name only (``TimeoutError``)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302/303 by turning the POST into a body-less GET
    # elsewhere (replaying a signed form, or counting a 200 there as delivered): a
    # redirect is a failure instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def opener() -> urllib.request.OpenerDirector:
    """An opener that follows no redirect; build one per sender, reuse it for its posts."""
    return urllib.request.build_opener(_NoRedirects)


def post(director: urllib.request.OpenerDirector, url: str, body: bytes,
         headers: dict[str, str], *, timeout: float, read_refusal: bool = False) -> bytes:
    """POST ``body`` to ``url``; returns the start of a 2xx answer.

    :raises PostRefused: any other status; its ``answer`` is read only when
        ``read_refusal`` (under the same timeout).
    :raises PostUnreachable: no (complete) answer.
    """
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with director.open(request, timeout=timeout) as response:
            return response.read(ANSWER_READ_MAX)
    except urllib.error.HTTPError as exc:
        answer = None
        try:
            if read_refusal:
                answer = exc.read(ANSWER_READ_MAX)
        except (http.client.HTTPException, OSError):
            answer = None  # the status says enough
        finally:
            exc.close()
        raise PostRefused(exc.code, answer) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        # TimeoutError and refused connections are OSErrors; URLError wraps them.
        reason = getattr(exc, "reason", None)
        cause = reason if isinstance(reason, BaseException) else exc
        raise PostUnreachable(type(cause).__name__) from None
