# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Streaming HTTP access to datastore files (vCenter's ``/folder`` URLs).

One pooled ``requests.Session`` per vCenter; connections are reused across
requests.  TLS verification comes from the vSphere session and is passed
with every request, so the environment cannot override it.

Two limits apply: connecting and waiting for an answer's headers take at
most the session's ``timeout`` (an outage fails fast); once data flows, a
transfer is aborted only when no byte moved for ``timeout`` seconds given
here (``vmware_http_timeout``), since a datastore may pause while it
allocates or flushes.
"""

import logging
import urllib.parse

import requests
from requests import adapters
from urllib3 import exceptions as urllib3_exceptions

from glance_store_vmware.vsphere import errors

LOG = logging.getLogger(__name__)

READ_CHUNK_SIZE = 1024 * 1024


def netloc(host, port):
    """``host[:port]`` for a URL: IPv6 in brackets, port 443 left out."""
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host
    return host if port == 443 else '%s:%d' % (host, port)


def folder_url(host, port, dsfile):
    """The ``https://host:port/folder/<path>?dcPath=&dsName=`` URL."""
    query = urllib.parse.urlencode(
        [('dcPath', dsfile.datacenter), ('dsName', dsfile.datastore)],
        quote_via=urllib.parse.quote)
    return 'https://%s/folder/%s?%s' % (
        netloc(host, port), urllib.parse.quote(dsfile.path, safe='/'), query)


class SizedStream:
    """An iterable body of known length, sent without chunked encoding."""

    def __init__(self, chunks, length):
        self._chunks = chunks
        self._length = length

    def __len__(self):
        return self._length

    def __iter__(self):
        return iter(self._chunks)


class DatastoreHTTP:
    """GET, HEAD and PUT of datastore files through vCenter."""

    def __init__(self, session, *, pool_size=10, timeout=120):
        self._session = session
        self._timeout = timeout
        self._http = requests.Session()
        adapter = adapters.HTTPAdapter(pool_connections=1,
                                       pool_maxsize=pool_size)
        self._http.mount('https://', adapter)

    def close(self):
        self._http.close()

    def url(self, dsfile):
        return folder_url(self._session.host, self._session.port, dsfile)

    def _request(self, method, dsfile, *, headers=None, retry=True,
                 read_timeout=None, **kw):
        url = self.url(dsfile)
        cookie = self._session.cookie()
        all_headers = {'Cookie': cookie}
        all_headers.update(headers or {})
        timeout = (self._session.timeout,
                   read_timeout or self._session.timeout)
        with self._session.gate():
            resp = self._send(method, dsfile, url, all_headers, timeout, kw)
        if resp.status_code == 401:
            resp.close()
            if not retry:
                raise errors.NotAuthenticated(
                    'vCenter %s refused the session for %s %s'
                    % (self._session.host, method, dsfile))
            self._session.relogin(cookie)
            return self._request(method, dsfile, headers=headers,
                                 retry=False, read_timeout=read_timeout,
                                 **kw)
        return resp

    def _send(self, method, dsfile, url, headers, timeout, kw):
        where = 'vCenter %s:%s' % (self._session.host, self._session.port)
        try:
            return self._http.request(
                method, url, headers=headers, verify=self._session.verify,
                timeout=timeout, allow_redirects=False, **kw)
        except requests.exceptions.SSLError as e:
            if 'certificate verify failed' not in str(e).lower():
                # A connection cut during the handshake or the body (e.g.
                # "EOF occurred in violation of protocol"): not settings.
                raise errors.ConnectionLost(
                    '%s %s through %s failed: %s'
                    % (method, dsfile, where, _describe(e))) from None
            raise errors.ConfigurationError(
                'TLS with %s failed for %s %s: %s; check the CA file setting '
                '(or the insecure setting)' % (where, method, dsfile,
                                               _describe(e))) from None
        except requests.exceptions.ReadTimeout:
            if timeout[1] == self._session.timeout and method != 'PUT':
                raise errors.Unreachable(
                    '%s did not answer %s %s within %s s'
                    % (where, method, dsfile, timeout[1])) from None
            raise errors.TransferError(
                '%s %s through %s stalled for %s s'
                % (method, dsfile, where, timeout[1])) from None
        except requests.ConnectionError as e:
            if isinstance(e, requests.exceptions.ConnectTimeout) or _refused(
                    e):
                raise errors.Unreachable(
                    'cannot connect to %s for %s %s: %s'
                    % (where, method, dsfile, _describe(e))) from None
            if 'timed out' in str(e):
                # vCenter stopped taking the body: a stall, not a drop.
                raise errors.TransferError(
                    '%s %s through %s stalled for %s s: %s'
                    % (method, dsfile, where, timeout[1],
                       _describe(e))) from None
            raise errors.ConnectionLost(
                '%s %s through %s failed: %s'
                % (method, dsfile, where, _describe(e))) from None
        except requests.RequestException as e:
            raise errors.TransferError(
                '%s %s through %s failed: %s'
                % (method, dsfile, where, _describe(e))) from None

    def size(self, dsfile):
        """Size of a file in bytes, or ``None`` if it does not exist."""
        resp = self._request('HEAD', dsfile)
        resp.close()
        if resp.status_code == 404:
            return None
        _check_status(resp, 'HEAD', dsfile, (200,))
        return int(resp.headers.get('Content-Length', 0))

    def get(self, dsfile, offset=0, length=None,
            chunk_size=READ_CHUNK_SIZE):
        """Stream a file, or the byte range ``[offset, offset+length)``.

        Returns ``(iterator, size)`` where ``size`` is the number of bytes
        the iterator yields.
        """
        headers = {}
        if offset or length is not None:
            end = '' if length is None else str(offset + length - 1)
            headers['Range'] = 'bytes=%d-%s' % (offset, end)
        resp = self._request('GET', dsfile, headers=headers, stream=True)
        if resp.status_code == 404:
            resp.close()
            raise errors.NotFound('%s does not exist' % (dsfile,))
        if resp.status_code == 416:
            resp.close()
            raise errors.TransferError(
                'range starting at byte %d is outside %s' % (offset, dsfile))
        _check_status(resp, 'GET', dsfile, (206,) if headers else (200,))
        _set_read_timeout(resp, self._timeout)
        size = int(resp.headers.get('Content-Length', 0))
        return _iter_body(resp, dsfile, size, chunk_size), size

    def put(self, dsfile, chunks, size=None):
        """Upload an iterable of byte strings; chunked if size is unknown.

        The caller makes sure the session is fresh (any cheap request
        does): an upload body cannot be replayed after a 401.
        """
        # iter(): requests would form-encode a list or tuple body.
        body = iter(chunks) if size is None else SizedStream(chunks, size)
        resp = self._request('PUT', dsfile, data=body, retry=False,
                             read_timeout=self._timeout)
        resp.close()
        _check_status(resp, 'PUT', dsfile, (200, 201, 204))


def _iter_body(resp, dsfile, size, chunk_size):
    received = 0
    try:
        while True:
            try:
                data = resp.raw.read(chunk_size)
            except Exception as e:
                raise errors.TransferError(
                    'reading %s failed after %d bytes: %s'
                    % (dsfile, received, _describe(e))) from None
            if not data:
                break
            received += len(data)
            yield data
        if received != size:
            raise errors.TransferError(
                '%s ended after %d of %d bytes' % (dsfile, received, size))
    finally:
        resp.close()


def _set_read_timeout(resp, seconds):
    """Give the body of a streamed response its own stall limit."""
    connection = getattr(resp.raw, 'connection', None)
    sock = getattr(connection, 'sock', None)
    if sock is not None:
        sock.settimeout(seconds)


def _check_status(resp, method, dsfile, expected):
    if resp.status_code not in expected:
        resp.close()
        raise errors.TransferError(
            '%s %s answered HTTP %d %s' % (method, dsfile, resp.status_code,
                                           resp.reason))


def _refused(exc):
    """Whether requests could not even connect (nothing was sent)."""
    reason = getattr(exc.args[0], 'reason', None) if exc.args else None
    return isinstance(reason, urllib3_exceptions.NewConnectionError)


def _describe(exc):
    # requests' messages can embed the URL and, for some errors, headers;
    # the exception class and its first argument are enough here.
    return '%s: %s' % (type(exc).__name__, str(exc).split('\n')[0][:300])
