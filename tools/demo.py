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
upload through the compute node).  Last, the real Cinder 29 VMDK driver
(ours, configured from etc/cinder.conf) makes a volume from an image
held by the store.  "Bytes via this host" is what this process sent and
received on its sockets, SOAP calls included.
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
import warnings

# The demo prints only the demo: the libraries' own warnings (eventlet's
# deprecation banner, for one) are not part of its story.  python -W, or
# PYTHONWARNINGS, brings them back.
if not sys.warnoptions:
    warnings.simplefilter('ignore')

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from glance_store_vmware.nova import handler  # noqa: E402
from glance_store_vmware.vsphere import paths  # noqa: E402
from glance_store_vmware.vsphere import session as vs_session  # noqa: E402
from glance_store_vmware.vsphere import transfer  # noqa: E402
from tests import sparse_vmdk  # noqa: E402
from tests.bench import transfer_counts  # noqa: E402
from tests.cinder_functional import cinder_env  # noqa: E402
from tests.glance_functional import glance_api  # noqa: E402
from tests.vcsim import build  # noqa: E402
from tests.vcsim import harness  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
SPARSE_DATA = 64 * MiB  # allocated in the volume's 1 GiB image


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


class GlanceImages(cinder_env.ImageService):
    """Cinder's image service on the volume node, answering from the
    demo's glance-api: the image record, its ``direct_url`` as the
    location, and the image bytes downloaded (and counted) if the driver
    asks for them."""

    def __init__(self, glance):
        super().__init__(location_api=False)
        self._glance = glance

    def add_image(self, image):
        self.add(image.id, image.size, [image.direct_url],
                 disk_format=image.disk_format,
                 container_format=image.container_format,
                 vmware_disktype=image.vmware_disktype)

    def _chunks(self, image_id):
        for chunk in self._glance.images.data(image_id):
            yield self._served(chunk)


class Messages(logging.Handler):
    """What a logger says, kept instead of printed."""

    def __init__(self, name):
        super().__init__(logging.INFO)
        self.messages = []
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)

    def emit(self, record):
        self.messages.append(record.getMessage())


class Steps:
    def __init__(self):
        self.rows = []

    def run(self, name, func):
        before, started = SocketBytes.total, time.monotonic()
        result = func()
        self.rows.append((name, time.monotonic() - started,
                          SocketBytes.total - before))
        return result

    def print(self, note):
        print('\n%-58s %8s %16s' % ('step', 'seconds', 'MiB via this host'))
        print('-' * 84)
        for name, seconds, through in self.rows:
            print('%-58s %8.2f %16.1f' % (name, seconds, through / MiB))
        print(note)


def volume_from_image(sim, glance, steps, workdir):
    """A 1 GiB volume made by the real Cinder 29 VMDK driver (ours) from
    an image our store holds; True if no image byte went through the
    volume node."""
    # Cinder's VMDK driver takes only disk_format=vmdk images, and Glance
    # 33's format inspector refuses the flat extent above declared as
    # vmdk: this image is a monolithic sparse VMDK, which it accepts.
    image = glance.images.create(
        name='demo-volume-image', disk_format='vmdk',
        container_format='bare', vmware_disktype='sparse')
    source = sparse_vmdk.MonolithicSparseReader(GiB, SPARSE_DATA)
    steps.run('upload a sparse VMDK through glance-api (for Cinder)',
              lambda: glance.images.upload(image.id, source, source.size))
    image = glance.images.get(image.id)
    print('\nImage %s is %s: a monolithic sparse VMDK (disk_format=vmdk, '
          'vmware_disktype=sparse),\n  %d bytes for a 1 GiB disk, %s'
          % (image.id, image.status, image.size, image.direct_url))

    cinder_env.configure(os.path.join(workdir, 'cinder-locks'))
    images = GlanceImages(glance)
    images.add_image(image)
    said = Messages('glance_store_vmware.cinder.driver')
    files_before = cinder_env.datastore_files(sim)
    settings = cinder_env.backend_settings(sim, documented_defaults=True)
    try:
        driver = cinder_env.volume_driver(cinder_env.OUR_DRIVER, settings)
        print('Cinder 29 volume driver %s\n  (config: etc/cinder.conf, '
              'backend [%s])' % (cinder_env.OUR_DRIVER, cinder_env.BACKEND))
        volume = cinder_env.new_volume(1)
        transfer_counts.UploadCounter.install().reset()
        steps.run('volume from the image, this project: Cinder 29 VMDK '
                  'driver',
                  lambda: cinder_env.create_volume_from_image(
                      driver, images, image.id, volume))
        through = images.bytes_served + transfer_counts.UploadCounter.bytes
        for message in said.messages:
            print('  driver     %s' % message)
        disk = cinder_env.backing_disk(
            cinder_env.virtual_machines(sim)[volume.name])
        print('  volume     %s: backing %s, %s, %d MiB'
              % (volume.id, disk['file'], disk['vmdk_type'],
                 disk['capacity'] // MiB))
        print('  image bytes through the volume node: %d from Glance, %d '
              'to /folder' % (images.bytes_served,
                              transfer_counts.UploadCounter.bytes))
        driver.delete_volume(volume)
        left = sorted('[%s] %s' % f for f in
                      set(cinder_env.datastore_files(sim)) - set(files_before))
        print('  left on the datastores once the volume is deleted: %s'
              % (', '.join(left) or 'nothing'))
    finally:
        cinder_env.clear_backend_settings(settings)
    glance.images.delete(image.id)
    return through == 0 and not left


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
            copied = volume_from_image(sim, glance, steps, tmp)
    steps.print('(image: %d MiB; the volume\'s: a sparse VMDK, %d MiB of a '
                '1 GiB disk)' % (size // MiB, SPARSE_DATA // MiB))
    print('Everything this demo started has been stopped.')
    return 0 if same and not result.fell_back and copied else 1


if __name__ == '__main__':
    sys.exit(main())
