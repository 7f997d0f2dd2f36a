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
fresh simulator, from the same image stored by our Glance store:

- ``nova-default``: ``vmwareapi.VMwareVCDriver`` as shipped, with Glance not
  exposing locations (its default): the image is downloaded from Glance
  and uploaded to the datastore over HTTP by the compute node;
- ``ours``: ``vsphere_images.VSphereImagesVCDriver``, Glance exposing the
  location: the image is copied inside vSphere.

for two kinds of images (``--kind``): a flat disk of ``--size-mib``, and
a streamOptimized VMDK of a disk that size (made by ``qemu-img`` from
random data, so about as big), which Nova imports through an NFC lease:
pushed by the compute node with Nova's driver, pulled by the ESXi host
from the datastore with ours (the simulator as vCenter 8.0 in both runs).

Timed: the image-cache fill (``_fetch_image_if_missing``) and the whole
``spawn()``.  Counted: image bytes that crossed the compute node (read
from Glance plus written to a datastore or an import lease over HTTP).
The Glance stand-in streams the image from the datastore file the store
wrote.
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


def run(variant, kind, size, build, ca, port, workdir, glance_cls):
    from nova.virt.vmwareapi import images

    from tests.nova_functional import nova_env
    from tests.vcsim import harness

    stream = kind == 'streamOptimized'
    sim = harness.Simulator(build, ca, port=port, username=nova_env.SIM_USER,
                            password=nova_env.SIM_PASSWORD,
                            host_name='127.0.0.1', tmp_root=workdir,
                            api_version='8.0.3.0' if stream else None)
    with sim:
        from nova.virt.vmwareapi import ds_util
        from nova.virt.vmwareapi import vm_util
        ds_util._DS_DC_MAPPING.clear()
        vm_util._FOLDER_PATH_REF_MAPPING.clear()
        vm_util._VM_REFS_CACHE.clear()

        image_id = str(uuid.uuid4())
        path, location = transfer_counts.store_layout(sim, port, image_id)
        file_size = transfer_counts.write_kind(path, kind, size)
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
                        'size': file_size,
                        'properties': {'vmware_disktype': kind if stream
                                       else 'preallocated'}},
                       flavor_root_gb=max(1, -(-file_size // 1024 ** 3)))
        spawn_seconds = time.monotonic() - started
        cache = os.path.join(sim.datastore_dir('LocalDS_0'),
                             '127.0.0.1_base', image_id)
        if stream:
            if not os.path.exists(os.path.join(cache, image_id + '.vmdk')):
                raise RuntimeError('%s: no cached disk' % variant)
        elif os.path.getsize(os.path.join(
                cache, image_id + '-flat.vmdk')) != size:
            raise RuntimeError('%s: the cached disk has not %d bytes'
                               % (variant, size))
        return dict(fill=fill[0], spawn=spawn_seconds, file_size=file_size,
                    through=(Counters.glance_bytes
                             + transfer_counts.UploadCounter.bytes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    transfer_counts.add_image_options(parser)
    args = parser.parse_args(argv)
    kinds = transfer_counts.chosen_kinds(args)
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
        for kind in kinds:
            for variant in ('nova-default', 'ours'):
                results[kind, variant] = run(variant, kind, size, build, ca,
                                             port, workdir, glance_cls)

    print('\nFilling Nova\'s image cache with a %d MiB disk image '
          '(simulator, %s)' % (args.size_mib, os.uname().machine))
    transfer_counts.print_table(
        [('image', -16), ('path', -14), ('file (MiB)', 12), ('fill (s)', 12),
         ('spawn (s)', 12), ('bytes via compute node', 22)],
        [(kind, variant, r['file_size'] // MiB, r['fill'], r['spawn'],
          r['through']) for (kind, variant), r in results.items()])
    for kind in kinds:
        ratio = (results[kind, 'nova-default']['fill']
                 / results[kind, 'ours']['fill'])
        print('%s: cache fill speed-up %.1fx (target >= %.0fx: %s); image '
              'bytes via the compute node with ours: %d'
              % (kind, ratio, TARGET_RATIO,
                 'met' if ratio >= TARGET_RATIO else 'NOT MET',
                 results[kind, 'ours']['through']))
    # The simulator's server-side copy is a real file copy on this
    # machine's disk, its host pull reads over loopback, and its HTTP path
    # is loopback: the ratio says little about a real vCenter, the byte
    # count says everything.
    return 0 if all(results[kind, 'ours']['through'] == 0
                    for kind in kinds) else 1


if __name__ == '__main__':
    sys.exit(main())
