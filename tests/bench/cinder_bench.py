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

"""A volume from an image: Cinder 29's VMDK driver as shipped against ours.

    python -m tests.bench.cinder_bench [--size-mib 1024]  (tox -e bench-cinder)

Both runs create one volume, as Cinder's volume manager does
(``clone_image``), with the real Cinder 29 VMDK driver against a fresh
simulator, from the same flat image laid out as our Glance store writes
it, with Cinder's default volume type (a thin disk) and Glance's
locations API (Cinder 27 and later ask it first, so ``direct_url`` is
None):

- ``cinder-29``: ``VMwareVcVmdkDriver`` as shipped: the image is
  downloaded from Glance and uploaded to the datastore over HTTP by the
  volume node;
- ``ours``: ``VSphereImagesVmdkDriver``: the image is copied inside
  vSphere.

for two kinds of images (``--kind``): a flat disk of ``--size-mib``, and
a streamOptimized VMDK of a disk that size (made by ``qemu-img`` from
random data, so about as big), which Cinder imports through an NFC lease:
pushed by the volume node with Cinder's driver, pulled by the ESXi host
from the datastore with ours (the simulator as vCenter 8.0 in both runs).

Timed: ``clone_image``.  Counted: image bytes through the volume node
(read from Glance, plus written to a datastore or an import lease over
HTTP).  The image
service stand-in streams the image from the datastore file.  No timed
assertion: the numbers are printed.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid

from tests.bench import transfer_counts

MiB = 1024 * 1024
GiB = 1024 * MiB
VARIANTS = ('cinder-29', 'ours')


def run(variant, kind, size, build, ca, workdir):
    from cinder.volume import volume_types

    from tests.cinder_functional import cinder_env
    from tests.vcsim import harness

    driver_class = {'cinder-29': cinder_env.STOCK_DRIVER,
                    'ours': cinder_env.OUR_DRIVER}[variant]
    types = cinder_env.VolumeTypes()
    volume_types.get_volume_type = types.get_volume_type
    stream = kind == 'streamOptimized'
    sim = harness.Simulator(build, ca, tmp_root=workdir,
                            api_version='8.0.3.0' if stream else None)
    with sim:
        image_id = str(uuid.uuid4())
        path, location = transfer_counts.store_layout(sim, sim.port,
                                                      image_id)
        file_size = transfer_counts.write_kind(path, kind, size)
        glance = cinder_env.ImageService(location_api=True)
        glance.add(image_id, file_size, [location], path=path,
                   vmware_disktype=kind if stream else 'preallocated')
        settings = cinder_env.backend_settings(sim, documented_defaults=True)
        driver = cinder_env.volume_driver(driver_class, settings)
        try:
            transfer_counts.UploadCounter.reset()
            volume = cinder_env.new_volume(max(1, -(-size // GiB)))
            started = time.monotonic()
            cinder_env.create_volume_from_image(driver, glance, image_id,
                                                volume)
            seconds = time.monotonic() - started
        finally:
            cinder_env.clear_backend_settings(settings)
        disk = cinder_env.backing_disk(
            cinder_env.virtual_machines(sim)[volume.name])
        extent = os.path.join(
            sim.datastore_dir(disk['file'][1:].split(']', 1)[0]),
            disk['file'].split('] ', 1)[1][:-len('.vmdk')] + '-flat.vmdk')
        if not stream:
            with open(path, 'rb') as image, \
                    open(extent, 'rb') as volume_data:
                if image.read(MiB) != volume_data.read(MiB):
                    raise RuntimeError('%s: the volume does not start with '
                                       'the image' % variant)
        return dict(seconds=seconds, file_size=file_size,
                    glance=glance.bytes_served,
                    upload=transfer_counts.UploadCounter.bytes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    transfer_counts.add_image_options(parser)
    args = parser.parse_args(argv)
    kinds = transfer_counts.chosen_kinds(args)
    size = args.size_mib * MiB

    from tests.cinder_functional import cinder_env
    from tests.vcsim import build as vcsim_build
    from tests.vcsim import harness

    logging.basicConfig(level=logging.WARNING)
    build = vcsim_build.build()
    transfer_counts.UploadCounter.install()
    with tempfile.TemporaryDirectory(prefix='gsv-cinder-bench-') as workdir:
        ca = harness.TestCA(os.path.join(workdir, 'ca'))
        cinder_env.configure(os.path.join(workdir, 'locks'))
        results = {(k, v): run(v, k, size, build, ca, workdir)
                   for k in kinds for v in VARIANTS}

    print('\nA %d MiB volume from a %d MiB disk image (simulator, %s, '
          'Glance locations API)' % (-(-size // GiB) * 1024, args.size_mib,
                                     os.uname().machine))
    transfer_counts.print_table(
        [('image', -16), ('driver', -10), ('file (MiB)', 11),
         ('seconds', 10), ('bytes from Glance', 18),
         ('bytes to /folder, NFC', 22)],
        [(kind, variant, r['file_size'] // MiB, r['seconds'], r['glance'],
          r['upload']) for (kind, variant), r in results.items()])
    through = {}
    for kind in kinds:
        ours = results[kind, 'ours']
        through[kind] = ours['glance'] + ours['upload']
        print('%s: speed-up %.1fx; image bytes through the volume node with '
              'ours: %d' % (kind, results[kind, 'cinder-29']['seconds']
                            / ours['seconds'], through[kind]))
    # The simulator's copy is a file copy on this machine's disk, its host
    # pull reads over loopback, and its HTTP path is loopback: the ratio
    # says little about a real vCenter, the byte count says everything.
    return 0 if not any(through.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
