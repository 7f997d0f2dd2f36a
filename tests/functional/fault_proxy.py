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

"""A TLS reverse proxy in front of the simulator that injects faults into
datastore uploads (``PUT /folder/...``) and counts connections and requests.

    with FaultProxy(sim.host, sim.port, ca) as proxy:
        proxy.cut_after = 1024 * 1024      # drop the client after 1 MiB
        ...                                # talk to proxy.host, proxy.port

Faults (set one at a time; each applies to every /folder PUT until reset):

- ``cut_after = N``: after forwarding N body bytes, close the client
  connection without a response.
- ``status_after = (N, code)``: after N body bytes, answer ``code`` and
  close.  A body of N bytes or fewer is forwarded completely first, so the
  simulator stores it and the client is still told it failed.
- ``stall_after = N``: after N body bytes (or the whole body, if shorter)
  stop reading and never answer, until the proxy stops.
- ``on_put``: a callable, called with the path of each /folder PUT before
  its body is read (e.g. a ``threading.Barrier.wait``).

Faults of any request:

- ``silent = True``: read each new request's headers, then never answer
  (a vCenter that accepts connections and hangs), until reset or stop.
- ``busy = N``: answer the next N SOAP requests (``/sdk``) with HTTP 503,
  as vCenter's reverse proxy does while its services start.
- ``lose_answer = {method: N}``: forward the next N SOAP calls of
  ``method`` (e.g. ``'CopyDatastoreFile_Task'``), so that vCenter carries
  them out, then answer the client with a SOAP fault instead (the answer
  lost on the way).

Faults of the requests an ESXi host makes with a generic service ticket
(``Cookie: vmware_cgi_ticket=...``, a host's pull through the proxy):

- ``cut_pull_after = N``: forward the first N bytes of the answer's body,
  then drop the connection (a pull failing midway).

Counted: ``folder_bytes``, the body bytes of ``/folder`` and ``/nfc``
requests and responses in both directions (file data through the
client: datastore files and disks uploaded into import leases), but for
those of requests made with a service ticket, counted in
``ticket_bytes`` (file data a host pulled through vCenter, not through
the client); ``ticket_requests``, those requests as ``(method, path,
status)``.
"""

import collections
import http.client
import http.server
import re
import socket
import socketserver
import ssl
import threading

# Headers that describe one hop, not the message; never forwarded as is.
HOP_BY_HOP = {'connection', 'keep-alive', 'proxy-connection',
              'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect'}
BLOCK = 64 * 1024
# Paths whose bodies are file data: datastore files, and NFC (import and
# export leases' disks, at https://<host>/nfc/...).
FILE_PARTS = ('folder', 'nfc')


class FaultProxy:

    def __init__(self, upstream_host, upstream_port, ca,
                 host='127.0.0.1'):
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = None
        self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_tls.load_cert_chain(ca.cert_file, ca.key_file)
        self._client_tls = ssl.create_default_context(cafile=ca.ca_file)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets = set()
        self._server = None
        self._thread = None
        self.reset()

    def reset(self):
        """Clear faults and counters."""
        self.cut_after = None
        self.status_after = None
        self.stall_after = None
        self.on_put = None
        self.silent = False
        self.busy = 0
        self.lose_answer = {}
        self.cut_pull_after = None
        with self._lock:
            self.accepted = 0                       # TLS connections
            self.connections = collections.Counter()  # by first path part
            self.requests = collections.Counter()     # by (part, method)
            self.folder_bytes = 0
            self.ticket_bytes = 0
            self.ticket_requests = []
            self.lost_answers = collections.Counter()  # by SOAP method

    def start(self):
        """Start listening; a restart after ``stop`` keeps the port, so
        clients configured with it reach the proxy again."""
        self._stopping.clear()
        self._server = _Server((self.host, self.port or 0), _Handler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
            name='fault-proxy', daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop accepting, drop every open connection, join all threads."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            _shutdown(sock)
        self._server.server_close()  # joins the connection threads
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _fault(self):
        """``(kind, after, status)`` of the fault to apply, or None."""
        if self.cut_after is not None:
            return 'cut', self.cut_after, None
        if self.status_after is not None:
            return 'status', self.status_after[0], self.status_after[1]
        if self.stall_after is not None:
            return 'stall', self.stall_after, None
        return None


SOAP_FAULT = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
    b'envelope/"><soapenv:Body><soapenv:Fault>'
    b'<faultcode>ServerFaultCode</faultcode>'
    b'<faultstring>fault proxy: the answer to %s was lost</faultstring>'
    b'<detail><SystemErrorFault xmlns="urn:vim25" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    b'xsi:type="SystemError"><reason>answer lost</reason>'
    b'</SystemErrorFault></detail>'
    b'</soapenv:Fault></soapenv:Body></soapenv:Envelope>')


def _soap_method(body):
    """The vim method a SOAP request calls: the Body's first element."""
    match = re.search(rb'<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?([\w]+)',
                      body)
    return match.group(1).decode() if match else ''


def _shutdown(sock):
    try:
        # The plain socket's shutdown: it wakes a thread blocked in a TLS
        # read without touching the TLS object that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = False  # server_close() joins only non-daemon threads
    block_on_close = True

    def handle_error(self, request, client_address):
        pass  # broken connections are what this proxy is for


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def setup(self):
        self.proxy = self.server.proxy
        self._upstream = None
        self._first = True
        self.request = self.proxy._server_tls.wrap_socket(
            self.request, server_side=True)
        with self.proxy._lock:
            self.proxy.accepted += 1
            self.proxy._sockets.add(self.request)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self._close_upstream()
            with self.proxy._lock:
                self.proxy._sockets.discard(self.request)
            self.request.close()

    def log_message(self, format, *args):
        pass

    def _close_upstream(self):
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _abort(self):
        """Drop both sides without an answer."""
        self._close_upstream()
        self.close_connection = True
        _shutdown(self.request)

    def _forward(self):
        proxy = self.proxy
        part = self.path.lstrip('/').split('/', 1)[0].split('?', 1)[0]
        with proxy._lock:
            if self._first:
                proxy.connections[part] += 1
                self._first = False
            proxy.requests[(part, self.command)] += 1
            busy = part == 'sdk' and proxy.busy > 0
            if busy:
                proxy.busy -= 1
        while proxy.silent and not proxy._stopping.wait(0.05):
            pass
        if proxy._stopping.is_set():
            return self._abort()
        if busy:
            for _ in self._body('chunked' in self.headers.get(
                    'Transfer-Encoding', '')):
                pass
            self.send_response_only(503)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        fault = None
        if self.command == 'PUT' and part == 'folder':
            if proxy.on_put is not None:
                proxy.on_put(self.path)
            fault = proxy._fault()

        chunked = 'chunked' in self.headers.get('Transfer-Encoding', '')
        if part == 'sdk' and proxy.lose_answer:
            return self._forward_soap(part, chunked)

        up = self._open_upstream(chunked)
        complete = self._send_body(up, chunked, fault[1] if fault else None,
                                   count=part in FILE_PARTS)

        if fault and fault[0] == 'stall':
            proxy._stopping.wait()
            return self._abort()
        if fault and fault[0] == 'cut' and not complete:
            return self._abort()
        if fault and fault[0] == 'status':
            if complete:
                up.getresponse().read()
            self._close_upstream()
            self.send_response_only(fault[2])
            self.send_header('Content-Length', '0')
            self.send_header('Connection', 'close')
            self.end_headers()
            self.close_connection = True
            return
        self._send_response(up.getresponse(), count=part in FILE_PARTS)

    def _open_upstream(self, chunked, length=None):
        proxy = self.proxy
        if self._upstream is None:
            self._upstream = http.client.HTTPSConnection(
                *proxy.upstream, context=proxy._client_tls, timeout=60)
        up = self._upstream
        up.putrequest(self.command, self.path, skip_host=True,
                      skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and not (
                    length is not None and name.lower() == 'content-length'):
                up.putheader(name, value)
        if length is not None:
            up.putheader('Content-Length', str(length))
        elif chunked:
            up.putheader('Transfer-Encoding', 'chunked')
        up.endheaders()
        return up

    def _forward_soap(self, part, chunked):
        body = b''.join(self._body(chunked))
        up = self._open_upstream(chunked, length=len(body))
        up.send(body)
        resp = up.getresponse()
        method = _soap_method(body)
        with self.proxy._lock:
            lose = self.proxy.lose_answer.get(method, 0) > 0
            if lose:
                self.proxy.lose_answer[method] -= 1
                self.proxy.lost_answers[method] += 1
        if not lose:
            return self._send_response(resp)
        resp.read()
        fault = SOAP_FAULT % method.encode()
        self.send_response_only(500)
        self.send_header('Content-Type', 'text/xml; charset=utf-8')
        self.send_header('Content-Length', str(len(fault)))
        self.end_headers()
        self.wfile.write(fault)
        self.wfile.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _forward

    def _ticketed(self):
        return 'vmware_cgi_ticket=' in self.headers.get('Cookie', '')

    def _count(self, data):
        with self.proxy._lock:
            if self._ticketed():
                self.proxy.ticket_bytes += len(data)
            else:
                self.proxy.folder_bytes += len(data)

    def _send_body(self, up, chunked, limit, count=False):
        """Forward the request body, at most ``limit`` bytes of it.

        Returns whether the whole body was forwarded.
        """
        sent = 0
        for data in self._body(chunked):
            if limit is not None and sent + len(data) >= limit:
                data = data[:limit - sent]
                self._write(up, data, chunked)
                if count:
                    self._count(data)
                return False
            self._write(up, data, chunked)
            if count:
                self._count(data)
            sent += len(data)
        if chunked:
            up.send(b'0\r\n\r\n')
        return True

    @staticmethod
    def _write(up, data, chunked):
        if data and chunked:
            up.send(b'%x\r\n%s\r\n' % (len(data), data))
        elif data:
            up.send(data)

    def _body(self, chunked):
        if not chunked:
            left = int(self.headers.get('Content-Length') or 0)
            while left:
                data = self.rfile.read(min(left, BLOCK))
                if not data:
                    raise ConnectionError('request body cut short')
                left -= len(data)
                yield data
            return
        while True:
            size = int(self.rfile.readline().split(b';')[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _send_response(self, resp, count=False):
        cut = None
        if count and self._ticketed():
            with self.proxy._lock:
                self.proxy.ticket_requests.append(
                    (self.command, self.path, resp.status))
                cut = self.proxy.cut_pull_after
        self.send_response_only(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        bodiless = (self.command == 'HEAD' or resp.status in (204, 304)
                    or 100 <= resp.status < 200)
        rechunk = not bodiless and resp.getheader('Content-Length') is None
        if rechunk:
            self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        sent = 0
        while not bodiless:
            data = resp.read1(BLOCK)
            if cut is not None and sent + len(data) > cut:
                data = data[:cut - sent]
                self.wfile.write(data)
                self.wfile.flush()
                self._count(data)
                return self._abort()
            sent += len(data)
            if count:
                self._count(data)
            if rechunk:
                self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
            elif data:
                self.wfile.write(data)
            if not data:
                break
        self.wfile.flush()
        resp.close()
        if resp.will_close:
            self._close_upstream()
