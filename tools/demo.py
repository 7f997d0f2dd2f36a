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

Starts a simulator, stores an image on a datastore with the ``vsphere``
glance_store driver, shows where it landed, reads it back, and prints what
each step cost.
"""

import hashlib
import logging
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.functional import glance_setup  # noqa: E402
from tests.vcsim import build  # noqa: E402
from tests.vcsim import harness  # noqa: E402
from tests.vcsim import wsdl_cache  # noqa: E402

MiB = 1024 * 1024
IMAGE_SIZE = 256 * MiB


class PatternReader:
    """An image of ``size`` bytes, generated as it is read."""

    def __init__(self, size):
        self._left = size
        self._block = os.urandom(MiB)

    def read(self, n=MiB):
        n = min(n, self._left, len(self._block))
        self._left -= n
        return self._block[:n]


def step(rows, name, func, bytes_through_host):
    started = time.monotonic()
    result = func()
    rows.append((name, time.monotonic() - started, bytes_through_host))
    return result


def main():
    # glance_store loads every installed driver to register options; some
    # (cinder without os-brick) log errors that say nothing about this demo.
    logging.getLogger('stevedore').setLevel(logging.CRITICAL)
    wsdl_cache.install()
    print('Building (or reusing) the vCenter simulator ...', flush=True)
    sim_build = build.build()
    rows = []
    with tempfile.TemporaryDirectory(prefix='gsv-demo-') as tmp:
        ca = harness.TestCA(tmp)
        with harness.Simulator(sim_build, ca, datastores=2) as sim:
            print('vCenter simulator at %s (TLS verified with a private CA)'
                  % sim.url)
            _conf, store = glance_setup.single_store(
                sim, glance_setup.datastore_entries(sim, 'LocalDS_0',
                                                    'LocalDS_1'))
            image_id = str(uuid.uuid4())
            uri, size, checksum, multihash, _meta = step(
                rows, 'upload image to datastore (Glance add)',
                lambda: store.add(image_id, PatternReader(IMAGE_SIZE),
                                  IMAGE_SIZE, 'sha512'), IMAGE_SIZE)
            ds = uri.rsplit('dsName=', 1)[1]
            on_disk = os.path.join(sim.datastore_dir(ds), 'openstack_glance',
                                   image_id)
            print('\nImage %s stored:' % image_id)
            print('  location   %s' % uri)
            print('  datastore  [%s] openstack_glance/%s (%d bytes on the '
                  'datastore)' % (ds, image_id, os.path.getsize(on_disk)))
            print('  md5        %s' % checksum)

            def download():
                digest = hashlib.md5()
                loc = glance_setup.location_of(store.conf, uri)
                chunks, _size = store.get(loc)
                for chunk in chunks:
                    digest.update(chunk)
                return digest.hexdigest()

            got = step(rows, 'download image back (Glance get)', download,
                       IMAGE_SIZE)
            print('  read back  md5 %s: %s' % (
                got, 'identical' if got == checksum else 'DIFFERENT'))
            step(rows, 'delete image', lambda: store.delete(
                glance_setup.location_of(store.conf, uri)), 0)

    print('\n%-44s %9s %14s' % ('step', 'seconds', 'MiB via host'))
    print('-' * 69)
    for name, seconds, through in rows:
        print('%-44s %9.2f %14.0f' % (name, seconds, through / MiB))
    print('\nImage size %d MiB. Everything started was stopped.'
          % (IMAGE_SIZE // MiB))
    return 0 if got == checksum else 1


if __name__ == '__main__':
    sys.exit(main())
