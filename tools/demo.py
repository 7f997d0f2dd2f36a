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

"""The main job end to end on the embedded vCenter simulator.

Starts a vCenter simulator and a real glance-api with ``stores = vsphere``,
uploads an image, shows where it landed, downloads it back, then fills a
compute node's image cache with the Nova-side handler (a copy inside
vSphere) next to the HTTP path it replaces (Glance download + datastore
upload through the compute node).  "Bytes via this host" is what this
process sent and received on its sockets, SOAP calls included.
"""

import argparse
import hashlib
import logging
import os
import socket
import ssl
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from glance_store_vmware.nova import handler  # noqa: E402
from glance_store_vmware.vsphere import paths  # noqa: E402
from glance_store_vmware.vsphere import session as vs_session  # noqa: E402
from glance_store_vmware.vsphere import transfer  # noqa: E402
from tests.glance_functional import glance_api  # noqa: E402
from tests.vcsim import build  # noqa: E402
from tests.vcsim import harness  # noqa: E402

MiB = 1024 * 1024


class PatternReader:
    """An image of ``size`` bytes, generated as it is read."""

    def __init__(self, size):
        self._left = size
        self._block = os.urandom(MiB)
        self.md5 = hashlib.md5()

    def read(self, n=MiB):
        n = min(n, self._left, len(self._block))
        self._left -= n
        data = self._block[:n]
        self.md5.update(data)
        return data


class SocketBytes:
    """Counts the bytes this process sends and receives on its sockets.

    Wraps the socket methods that http.client, urllib3 and requests use,
    for plain and TLS sockets alike; SOAP calls count too.
    """

    total = 0

    @classmethod
    def install(cls):
        def counting(method, result_is_count):
            def wrapper(self, *args, **kwargs):
                result = method(self, *args, **kwargs)
                if result_is_count:
                    cls.total += result or 0
                elif isinstance(result, (bytes, bytearray)):
                    cls.total += len(result)
                return result
            return wrapper

        def counting_sendall(method):
            def wrapper(self, data, *args, **kwargs):
                cls.total += len(memoryview(data).cast('B'))
                return method(self, data, *args, **kwargs)
            return wrapper

        for kind in (socket.socket, ssl.SSLSocket):
            kind.send = counting(kind.send, True)
            kind.recv_into = counting(kind.recv_into, True)
            kind.recv = counting(kind.recv, False)
        # SSLSocket.sendall calls send, counted above; the plain socket's
        # is C code that does not.
        socket.socket.sendall = counting_sendall(socket.socket.sendall)


class Steps:
    def __init__(self):
        self.rows = []

    def run(self, name, func):
        before, started = SocketBytes.total, time.monotonic()
        result = func()
        self.rows.append((name, time.monotonic() - started,
                          SocketBytes.total - before))
        return result

    def print(self, image_size):
        print('\n%-58s %8s %16s' % ('step', 'seconds', 'MiB via this host'))
        print('-' * 84)
        for name, seconds, through in self.rows:
            print('%-58s %8.2f %16.1f' % (name, seconds, through / MiB))
        print('(image: %d MiB)' % (image_size // MiB))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size-mib', type=int, default=256)
    args = parser.parse_args()
    size = args.size_mib * MiB
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger('stevedore').setLevel(logging.CRITICAL)
    SocketBytes.install()

    print('Building (or reusing) the vCenter simulator ...', flush=True)
    sim_build = build.build()
    steps = Steps()
    with tempfile.TemporaryDirectory(prefix='gsv-demo-') as tmp:
        ca = harness.TestCA(tmp)
        with harness.Simulator(sim_build, ca, datastores=2) as sim, \
                glance_api.GlanceAPI() as api:
            print('vCenter simulator  %s (TLS verified with a private CA)'
                  % sim.url)
            print('Starting glance-api with stores = vsphere ...', flush=True)
            endpoint = api.start(sim)
            print('glance-api         %s  (config: etc/glance-api.conf)'
                  % endpoint)
            glance = api.client()
            # The image is the flat extent of a preallocated disk: raw
            # bytes, which is what Glance 33's format inspector calls it.
            image = glance.images.create(
                name='demo-disk', disk_format='raw', container_format='bare',
                vmware_disktype='preallocated')
            source = PatternReader(size)
            steps.run('upload through glance-api to datastore LocalDS_0',
                      lambda: glance.images.upload(image.id, source, size))
            image = glance.images.get(image.id)
            location = image.direct_url
            ds_file = os.path.join(sim.datastore_dir('LocalDS_0'),
                                   'openstack_glance', image.id)
            print('\nImage %s is %s' % (image.id, image.status))
            print('  location   %s' % location)
            print('  on disk    [LocalDS_0] openstack_glance/%s, %d bytes'
                  % (image.id, os.path.getsize(ds_file)))

            def download():
                digest = hashlib.md5()
                for chunk in glance.images.data(image.id):
                    digest.update(chunk)
                return digest.hexdigest()

            got = steps.run('download back through glance-api', download)
            same = got == source.md5.hexdigest() == image.checksum
            print('  md5        %s %s' % (got, 'identical' if same
                                          else 'DIFFERENT'))

            # A compute node's view: Nova's image cache on LocalDS_1.
            session = vs_session.Session(sim.host, sim.username,
                                         sim.password, port=sim.port,
                                         ca_file=sim.ca_file)
            http = transfer.DatastoreHTTP(session)

            def http_path():
                temp = paths.DatastoreFile(
                    'DC0', 'LocalDS_1', 'vmware_temp/%s/%s-flat.vmdk'
                    % (uuid.uuid4().hex, image.id))
                http.put(temp, glance.images.data(image.id), size=size)
                return temp

            temp = steps.run('cache fill, Nova default: Glance download + '
                             'HTTP upload', http_path)
            image_handler = handler.ImageHandler(
                session, handler.HandlerConfig(
                    host=sim.host, port=sim.port,
                    datastores=(('DC0', 'LocalDS_0'),)))
            result = steps.run(
                'cache fill, this project: copy inside vSphere',
                lambda: image_handler.fill_cache(
                    handler.Image(image.id, size, 'vmdk', 'preallocated'),
                    handler.CacheTarget('DC0', 'LocalDS_1', 'vmware_base'),
                    [location]))
            detail = (result.reason if result.fell_back
                      else 'from %s' % (result.copied_from,))
            print('  handler    %s: %s' % (result.source, detail))
            cached = os.path.join(sim.datastore_dir('LocalDS_1'),
                                  'vmware_base', image.id)
            print('  cache      [LocalDS_1] vmware_base/%s/: %s'
                  % (image.id, ', '.join(sorted(os.listdir(cached)))))
            steps.run('delete image', lambda: glance.images.delete(image.id))
            image_handler.close()
            http.close()
            session.close()
            print('  (the HTTP path wrote %s)' % (temp,))
    steps.print(size)
    print('Everything this demo started has been stopped.')
    return 0 if same and not result.fell_back else 1


if __name__ == '__main__':
    sys.exit(main())
