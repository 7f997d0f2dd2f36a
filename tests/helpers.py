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

"""Small helpers shared by the test suites."""

import contextlib
import hashlib
import http.server
import io
import json
import os
import socket
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
import types


def payload(size, seed=None):
    """``size`` bytes of image data; random unless ``seed`` is given."""
    block = hashlib.sha512(seed or os.urandom(16)).digest() * 2048  # 128 KiB
    return (block * (size // len(block) + 1))[:size]


def sparse_disk(capacity_sectors, size=256 * 1024):
    """A hosted sparse VMDK: its header, and filler."""
    header = b'KDMV' + struct.pack('<IIQ', 1, 3, capacity_sectors)
    return header + payload(size - len(header), b'sparse')


def stream_optimized_disk(data):
    """``data`` (a raw disk, a multiple of 512 bytes) as a real
    streamOptimized VMDK, made by ``qemu-img`` (Debian's qemu-utils)."""
    with tempfile.TemporaryDirectory(prefix='gsv-vmdk-') as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        vmdk = os.path.join(tmp, 'disk.vmdk')
        with open(raw, 'wb') as f:
            f.write(data)
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk],
                       check=True, timeout=300)
        with open(vmdk, 'rb') as f:
            return f.read()


OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/\
CIM_ResourceAllocationSettingData">
  <References>
    <File ovf:href="%(disk)s" ovf:id="file1" ovf:size="%(size)d"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="%(capacity)d" ovf:capacityAllocationUnits="byte"
        ovf:diskId="vmdisk1" ovf:fileRef="file1"
        ovf:format="http://www.vmware.com/interfaces/specifications/\
vmdk.html#streamOptimized"/>
  </DiskSection>
  <VirtualSystem ovf:id="appliance">
    <Info>A virtual machine</Info>
  </VirtualSystem>
</Envelope>
"""


def ova(vmdk, capacity, disk_name='appliance-disk1.vmdk'):
    """An OVA (tar: OVF descriptor, manifest, then the disk) holding the
    streamOptimized ``vmdk`` of ``capacity`` bytes, as vSphere exports
    one."""
    ovf = (OVF % {'disk': disk_name, 'size': len(vmdk),
                  'capacity': capacity}).encode()
    manifest = ('SHA256(appliance.ovf)= %s\nSHA256(%s)= %s\n' % (
        hashlib.sha256(ovf).hexdigest(), disk_name,
        hashlib.sha256(vmdk).hexdigest())).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w',
                      format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (('appliance.ovf', ovf), ('appliance.mf', manifest),
                           (disk_name, vmdk)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def files_under(directory):
    """Every file below ``directory``, as sorted relative paths."""
    found = []
    for root, _dirs, names in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(root, n), directory)
                     for n in names)
    return sorted(found)


def free_port(host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def silent_listener(host='127.0.0.1'):
    """A TCP port that accepts connections and never answers (a server that
    hangs); yields it as ``.port``, with the connections it took as
    ``.accepted``."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield types.SimpleNamespace(port=listener.getsockname()[1],
                                    accepted=accepted)
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def wait_for(predicate, what, timeout=120, interval=0.2):
    """``predicate()``'s first true value, polling; AssertionError naming
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(interval)


class GlanceLocationsStub:
    """Glance's ``GET /v2/images/{id}/locations`` on 127.0.0.1, while in a
    ``with`` block.

    Answers ``answers[path]`` (``(status, body bytes)``) when set, else 200
    with ``locations[image_id]`` (a list of URLs); ``requests`` lists the
    paths asked for; ``url`` is the endpoint.
    """

    def __init__(self):
        self.locations = {}
        self.answers = {}
        self.requests = []
        self.url = None
        self._server = None
        self._thread = None

    def __enter__(self):
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append(self.path)
                status, body = stub.answers.get(self.path) or (
                    200, json.dumps([
                        {'url': u, 'metadata': {}} for u in
                        stub.locations.get(self.path.split('/')[3], [])
                    ]).encode())
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                       Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)
        self._thread.start()
        self.url = 'http://127.0.0.1:%d' % self._server.server_port
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
