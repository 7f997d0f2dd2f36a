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

"""What vCenter looks like to its clients during an outage.

``Gate``: a plain TCP forwarder on a fixed port, in front of the simulator
(TLS stays end to end).  Its mode is what a client connecting to the port
meets:

- ``forward``: the simulator (or whatever ``upstream`` is).
- ``refuse``: nothing listens (a killed vCenter): connection refused.
- ``blackhole``: SYNs are dropped (an unreachable host or a firewall): the
  client's connect never completes.  A listening socket whose accept queue
  is full, which the kernel answers by dropping new SYNs.
- ``silent``: connections are accepted and never answered (a hung vCenter);
  open connections stop moving too.

``HoldProxy``: the functional tests' TLS proxy, which also holds a SOAP
call whose body names a given method (e.g. ``MoveDatastoreFile_Task``)
until released.
"""

import errno
import selectors
import socket
import threading
import time

from tests.functional import fault_proxy

MODES = ('forward', 'refuse', 'blackhole', 'silent')


class Gate:

    def __init__(self, upstream, host='127.0.0.1', port=0):
        self.upstream = upstream
        self.host = host
        self.port = port
        self.mode = None
        self.accepted = 0
        self._lock = threading.Lock()
        self._listener = None
        self._filler = []
        self._conns = []        # (client, upstream or None)
        self._frozen = threading.Event()
        self._thread = None
        self._closing = threading.Event()

    def start(self, mode='forward'):
        self.set_mode(mode)
        return self

    def stop(self):
        self._close_listener()
        self._cut_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def set_mode(self, mode, upstream=None):
        """Switch mode; connections of the old mode are cut, except that
        ``silent`` freezes them (they stay open and never move)."""
        if mode not in MODES:
            raise ValueError(mode)
        if upstream is not None:
            self.upstream = upstream
        if mode == 'silent':
            self._frozen.set()
        else:
            self._cut_all()
            self._frozen.clear()
        self._close_listener()
        self.mode = mode
        if mode == 'refuse':
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                sock.bind((self.host, self.port))
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or \
                        time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = sock.getsockname()[1]
        if mode == 'blackhole':
            sock.listen(0)
            # Fill the accept queue; the kernel then drops further SYNs.
            for _ in range(3):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.setblocking(False)
                c.connect_ex((self.host, self.port))
                self._filler.append(c)
            self._listener = sock
            return
        sock.listen(128)
        self._listener = sock
        self._closing.clear()
        self._thread = threading.Thread(target=self._accept, args=(sock,),
                                        name='gate-accept', daemon=True)
        self._thread.start()

    def _close_listener(self):
        self._closing.set()
        sock, self._listener = self._listener, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for c in self._filler:
            c.close()
        self._filler = []

    def _cut_all(self):
        with self._lock:
            conns, self._conns = self._conns, []
        for pair in conns:
            for s in pair:
                if s is None:
                    continue
                try:
                    # RST, as from a dead server.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b'\x01\x00\x00\x00\x00\x00\x00\x00')
                    s.close()
                except OSError:
                    pass

    def _accept(self, listener):
        listener.settimeout(0.1)
        while not self._closing.is_set():
            try:
                client, _addr = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            if self.mode == 'silent':
                with self._lock:
                    self._conns.append((client, None))
                continue
            threading.Thread(target=self._pump, args=(client,),
                             name='gate-pump', daemon=True).start()

    def _pump(self, client):
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        # A stalled peer stalls the forwarding, as on a real network.
        up.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self._conns.append((client, up))
        sel = selectors.DefaultSelector()
        try:
            sel.register(client, selectors.EVENT_READ, up)
            sel.register(up, selectors.EVENT_READ, client)
            while True:
                if self._frozen.is_set():
                    time.sleep(0.2)
                    if client.fileno() < 0:
                        return
                    continue
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass


class HoldProxy(fault_proxy.FaultProxy):
    """A FaultProxy that holds the SOAP call whose body contains
    ``hold`` (bytes) until ``release()`` (or ``stop()``); ``held`` is set
    when one arrives.  ``release(drop=True)`` then drops it unanswered."""

    def reset(self):
        super().reset()
        self.hold = None
        self.held = threading.Event()
        self._release = threading.Event()
        self._drop = False

    def release(self, drop=False):
        self._drop = drop
        self._release.set()

    def start(self):
        self._stopping.clear()
        self._server = fault_proxy._Server((self.host, 0), _HoldHandler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
            name='hold-proxy', daemon=True)
        self._thread.start()
        return self


class _HoldHandler(fault_proxy._Handler):

    def _body(self, chunked):
        proxy = self.proxy
        if not (self.command == 'POST' and proxy.hold):
            yield from super()._body(chunked)
            return
        data = b''.join(super()._body(chunked))
        if proxy.hold in data:
            proxy.held.set()
            while not (proxy._release.is_set() or proxy._stopping.is_set()):
                proxy._release.wait(0.1)
            if proxy._drop or proxy._stopping.is_set():
                self._abort()
                raise ConnectionError('held call dropped')
        yield data
