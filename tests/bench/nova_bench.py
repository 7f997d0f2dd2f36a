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

"""Filling Nova's image cache: Nova's default path against ours.

    python -m tests.bench.nova_bench [--size-mib 1024]      (tox -e bench-nova)

Both runs spawn one instance with the real Nova 34 VMware driver against a
fresh simulator, from the same flat image stored by our Glance store:

- ``nova-default``: ``vmwareapi.VMwareVCDriver`` as shipped, with Glance not
  exposing locations (its default): the image is downloaded from Glance
  and uploaded to the datastore over HTTP by the compute node;
- ``ours``: ``vsphere_images.VSphereImagesVCDriver``, Glance exposing the
  location: the image is copied inside vSphere.

Timed: the image-cache fill (``_fetch_image_if_missing``) and the whole
``spawn()``.  Counted: image bytes that crossed the compute node (read
from Glance plus written to a datastore over HTTP).  The Glance stand-in
streams the image from the datastore file the store wrote.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid

from tests import helpers
from tests.bench import transfer_counts

MiB = 1024 * 1024
TARGET_RATIO = 10.0


class Counters:
    glance_bytes = 0


def _install_counters(nova_env):
    transfer_counts.UploadCounter.install()

    class FileGlance(nova_env.FakeGlance):
        """Serves images from files instead of memory."""

        def add_file(self, image_id, path, locations):
            self.add(image_id, b'', locations=locations)
            self.images[image_id][0]['size'] = os.path.getsize(path)
            self.images[image_id] = (self.images[image_id][0], path)

        def download(self, context, image_id, **kwargs):
            self.calls.append(('download', image_id))
            path = self.images[image_id][1]

            def chunks():
                with open(path, 'rb') as f:
                    while True:
                        chunk = f.read(MiB)
                        if not chunk:
                            return
                        Counters.glance_bytes += len(chunk)
                        yield chunk
            return chunks()
    return FileGlance


def _timed_fill(driver):
    vmops = driver._vmops
    real = vmops._fetch_image_if_missing
    spent = []

    def timed(context, vi):
        started = time.monotonic()
        try:
            return real(context, vi)
        finally:
            spent.append(time.monotonic() - started)
    vmops._fetch_image_if_missing = timed
    return spent


def run(variant, size, build, ca, port, workdir, glance_cls):
    from nova.virt.vmwareapi import images

    from tests.nova_functional import nova_env
    from tests.vcsim import harness

    sim = harness.Simulator(build, ca, port=port, username=nova_env.SIM_USER,
                            password=nova_env.SIM_PASSWORD,
                            host_name='127.0.0.1', tmp_root=workdir)
    with sim:
        from nova.virt.vmwareapi import ds_util
        from nova.virt.vmwareapi import vm_util
        ds_util._DS_DC_MAPPING.clear()
        vm_util._FOLDER_PATH_REF_MAPPING.clear()
        vm_util._VM_REFS_CACHE.clear()

        image_id = str(uuid.uuid4())
        path, location = transfer_counts.store_layout(sim, port, image_id)
        transfer_counts.write_image(path, size)
        glance = glance_cls()
        glance.add_file(image_id, path,
                        [location] if variant == 'ours' else [])
        images.IMAGE_API = glance
        Counters.glance_bytes = 0
        transfer_counts.UploadCounter.reset()

        driver = nova_env.compute_driver(
            'vsphere_images.VSphereImagesVCDriver' if variant == 'ours'
            else 'vmwareapi.VMwareVCDriver')
        fill = _timed_fill(driver)
        started = time.monotonic()
        nova_env.spawn(driver, image_id,
                       {'disk_format': 'vmdk', 'container_format': 'bare',
                        'size': size,
                        'properties': {'vmware_disktype': 'preallocated'}},
                       flavor_root_gb=max(1, -(-size // 1024 ** 3)))
        spawn_seconds = time.monotonic() - started
        cached = os.path.join(sim.datastore_dir('LocalDS_0'),
                              '127.0.0.1_base', image_id,
                              image_id + '-flat.vmdk')
        if os.path.getsize(cached) != size:
            raise RuntimeError('%s: cache has %d bytes, expected %d'
                               % (variant, os.path.getsize(cached), size))
        return dict(fill=fill[0], spawn=spawn_seconds,
                    through=(Counters.glance_bytes
                             + transfer_counts.UploadCounter.bytes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mib', type=int, default=1024)
    args = parser.parse_args(argv)
    size = args.size_mib * MiB

    from glance_store_vmware.nova import shim
    from tests.nova_functional import nova_env
    from tests.vcsim import build as vcsim_build
    from tests.vcsim import harness

    # Nova logs its expected "file not found" on quiet deletes as errors.
    logging.getLogger('oslo.service').setLevel(logging.CRITICAL)
    logging.getLogger('oslo_service').setLevel(logging.CRITICAL)
    build = vcsim_build.build()
    port = helpers.free_port()
    with tempfile.TemporaryDirectory(prefix='gsv-nova-bench-') as workdir:
        ca = harness.TestCA(os.path.join(workdir, 'ca'))
        nova_env.configure(port, ca.ca_file, os.path.join(workdir, 'locks'))
        shim.install()
        glance_cls = _install_counters(nova_env)
        results = {}
        for variant in ('nova-default', 'ours'):
            results[variant] = run(variant, size, build, ca, port, workdir,
                                   glance_cls)

    print('\nFilling Nova\'s image cache with a %d MiB flat image '
          '(simulator, %s)' % (args.size_mib, os.uname().machine))
    print('%-14s %12s %12s %22s' % ('path', 'fill (s)', 'spawn (s)',
                                    'bytes via compute node'))
    for variant, r in results.items():
        print('%-14s %12.2f %12.2f %22d' % (variant, r['fill'], r['spawn'],
                                            r['through']))
    ratio = results['nova-default']['fill'] / results['ours']['fill']
    print('cache fill speed-up: %.1fx (target >= %.0fx: %s); image bytes '
          'via the compute node with ours: %d'
          % (ratio, TARGET_RATIO,
             'met' if ratio >= TARGET_RATIO else 'NOT MET',
             results['ours']['through']))
    # The simulator's server-side copy is a real file copy on this
    # machine's disk, and its HTTP path is loopback: the ratio says little
    # about a real vCenter, the byte count says everything.
    return 0 if results['ours']['through'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
