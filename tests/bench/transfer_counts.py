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

"""What the Nova and Cinder benchmarks share: an image file placed where
our Glance store keeps it, and a count of the bytes a client uploads to a
datastore over vCenter's ``/folder`` or into an import lease (oslo.vmware's
write handles, which both Nova's and Cinder's HTTP paths use)."""

import os
import subprocess

MiB = 1024 * 1024
# The images the benchmarks make: a flat disk, and the same disk as a
# streamOptimized VMDK (imported through an NFC lease).
KINDS = ('flat', 'streamOptimized')


def add_image_options(parser):
    """``--size-mib`` and ``--kind`` of the image to benchmark."""
    parser.add_argument('--size-mib', type=int, default=1024,
                        help='size of the disk (default: %(default)s)')
    parser.add_argument('--kind', choices=KINDS + ('all',), default='all',
                        help='which image kinds (default: %(default)s)')


def chosen_kinds(args):
    return KINDS if args.kind == 'all' else (args.kind,)


def print_table(columns, rows):
    """Rows of values under ``columns`` (``(title, width)``; a negative
    width left-aligns): floats with two decimals, others as they are."""
    def cell(value, width):
        text = '%.2f' % value if isinstance(value, float) else str(value)
        return text.ljust(-width) if width < 0 else text.rjust(width)
    print(' '.join(cell(title, width) for title, width in columns))
    for row in rows:
        print(' '.join(cell(value, width)
                       for value, (_title, width) in zip(row, columns,
                                                          strict=True)))


def write_image(path, size):
    """``size`` random bytes at ``path`` (a datastore's local file)."""
    block = os.urandom(MiB)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        for i in range(0, size, MiB):
            f.write(block[:min(MiB, size - i)])


def write_stream_optimized_image(path, size):
    """A streamOptimized VMDK of a ``size``-byte random disk at ``path``
    (made by ``qemu-img``, as an OVF export would hold it); returns its
    size in bytes."""
    raw = path + '.raw'
    write_image(raw, size)
    try:
        subprocess.run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O',
                        'vmdk', '-o', 'subformat=streamOptimized', raw, path],
                       check=True, timeout=3600)
    finally:
        os.unlink(raw)
    return os.path.getsize(path)


def write_kind(path, kind, size):
    """The image of ``kind`` (``KINDS``) of a ``size``-byte disk at
    ``path``; returns the file's size."""
    if kind == 'streamOptimized':
        return write_stream_optimized_image(path, size)
    write_image(path, size)
    return size


def store_layout(sim, port, image_id, datastore='LocalDS_0',
                 image_dir='openstack_glance'):
    """(local path, ``vsphere://`` location) of ``image_id`` as our Glance
    store writes it on ``datastore`` of simulator ``sim``."""
    path = os.path.join(sim.datastore_dir(datastore), image_dir, image_id)
    location = ('vsphere://127.0.0.1:%d/folder/%s/%s?dcPath=DC0&dsName=%s'
                % (port, image_dir, image_id, datastore))
    return path, location


class UploadCounter:
    """Counts the bytes written through oslo.vmware's ``FileWriteHandle``
    (datastore files) and ``VmdkWriteHandle`` (import leases) from
    ``install()`` on; ``bytes`` is reset by ``reset()``."""

    bytes = 0

    @classmethod
    def install(cls):
        from oslo_vmware import rw_handles

        for handle in (rw_handles.FileWriteHandle,
                       rw_handles.VmdkWriteHandle):
            cls._count(handle)
        return cls

    @classmethod
    def _count(cls, handle):
        real_write = handle.write
        if getattr(real_write, 'counted', False):
            return

        def counting_write(self, data):
            cls.bytes += len(data)
            return real_write(self, data)
        counting_write.counted = True
        handle.write = counting_write

    @classmethod
    def reset(cls):
        cls.bytes = 0
