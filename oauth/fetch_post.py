"""POSTing a form to a URL a client registered, by the rules of ``oauth.fetch``: the OpenID
Connect Back-Channel Logout 1.0 §2.5 logout request (``logout_token=...``) to a client's
``backchannel_logout_uri``.

The same SSRF rules as ``oauth.fetch``, for the same reason (a client names the URL and this
server makes the request): the host is resolved once and every address checked (loopback only
with ``GATEHOUSE["DOCUMENT_FETCH"]["ALLOW_LOOPBACK"]``, for development and tests); the
connection goes to the checked address itself, with TLS verifying the certificate for the host
name, so DNS rebinding cannot swap in another address; redirects are never followed (a 3xx is
the answer, not an instruction); one short timeout; at most ``MAX_ANSWER_BYTES`` of the answer
are read (only its status matters, §2.8). Plain http is accepted only for a loopback host and
only with that development allowance, as ``ClientMetadata`` registers it.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import urllib3

from oauth.fetch import (
    FetchError,
    _addresses,
    _check_url,
    _options,
    host_header_for,
    https_pool,
)

#: The answer body is read only to free the connection (§2.8: the status is the answer).
MAX_ANSWER_BYTES = 4096
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def _target(url: str, *, allow_loopback: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path and query) of ``url``, or ``FetchError``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise FetchError("the URL is not valid") from None
    if parts.scheme == "http" and allow_loopback and parts.hostname in _LOOPBACK_NAMES:
        https_form = _check_url("https" + url[len("http") :])
        return "http", https_form[0], parts.port or 80, https_form[2]
    host, port, target = _check_url(url)
    return "https", host, port, target


def _pool(scheme: str, address: str, port: int, host: str, timeout: float, options: dict):
    if scheme == "http":
        timeouts = urllib3.Timeout(connect=timeout, read=timeout)
        return urllib3.HTTPConnectionPool(address, port, timeout=timeouts, retries=False, maxsize=1)
    return https_pool(address, port, host, timeout, options)


def post_form(url: str, fields: dict[str, str], *, timeout: float) -> int:
    """POST ``fields`` as ``application/x-www-form-urlencoded`` to ``url``; the HTTP status
    of the answer. ``FetchError`` when the URL is refused or no address answered (the
    message says why and never holds ``fields``)."""
    options = _options()
    scheme, host, port, target = _target(url, allow_loopback=options["ALLOW_LOOPBACK"])
    addresses = _addresses(host, port, allow_loopback=options["ALLOW_LOOPBACK"])
    host_header = host_header_for(host, port, 443 if scheme == "https" else 80)
    body = urlencode(fields)
    headers = {
        "Host": host_header,
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    last_error = "no address answered"
    for address in addresses:
        pool = _pool(scheme, address, port, host, float(timeout), options)
        try:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.SSLError:
            pool.close()
            raise FetchError(f"the TLS certificate of {host} is not valid") from None
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError):
            pool.close()  # nothing was sent: the next address may answer
            last_error = "connection refused or timed out"
            continue
        except urllib3.exceptions.HTTPError as error:
            pool.close()  # the request may have arrived: not sent again to another address
            raise FetchError(f"{host} did not answer ({type(error).__name__})") from None
        try:
            response.read(MAX_ANSWER_BYTES)
        except urllib3.exceptions.HTTPError:
            pass  # the status line arrived; a slow or broken body does not change it
        finally:
            response.release_conn()
            pool.close()
        return response.status
    raise FetchError(f"{host} could not be reached ({last_error})")
