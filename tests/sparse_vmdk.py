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

"""A real monolithic sparse VMDK ("hosted sparse extent", VMware Virtual
Disk Format 1.1), generated as it is read: header, embedded descriptor,
grain directory and tables, then the allocated grains.  Its first
``data_size`` bytes are allocated with random data, the rest of
``capacity`` reads as zeros.  Glance's format inspector accepts it as
``disk_format=vmdk``.
"""

import hashlib
import os
import struct

SECTOR = 512
GRAIN_SECTORS = 128            # 64 KiB grains
GTES_PER_GT = 512
DESCRIPTOR_SECTORS = 20
HEADER = struct.Struct('<4sIIQQQQIQQQ?ccccH433s')

DESCRIPTOR = '''# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicSparse"

# Extent description
RW %(sectors)d SPARSE "%(name)s"

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.geometry.cylinders = "%(cylinders)d"
ddb.geometry.heads = "16"
ddb.geometry.sectors = "63"
ddb.adapterType = "lsilogic"
'''


def _sectors(size):
    return -(-size // SECTOR)


class MonolithicSparseReader:
    """The VMDK as a file-like ``read``; ``size`` is its length and
    ``md5`` the digest of what was read so far."""

    def __init__(self, capacity, data_size, name='disk.vmdk'):
        grain = GRAIN_SECTORS * SECTOR
        if capacity % grain or data_size % grain or data_size > capacity:
            raise ValueError('capacity and data size must be whole grains')
        capacity_sectors = capacity // SECTOR
        grains = capacity_sectors // GRAIN_SECTORS
        tables = -(-grains // GTES_PER_GT)
        gd_offset = 1 + DESCRIPTOR_SECTORS
        gt_offset = gd_offset + _sectors(tables * 4)
        gt_sectors = _sectors(GTES_PER_GT * 4)
        overhead = gt_offset + tables * gt_sectors
        overhead = -(-overhead // GRAIN_SECTORS) * GRAIN_SECTORS
        allocated = data_size // grain

        header = HEADER.pack(
            b'KDMV', 1, 1, capacity_sectors, GRAIN_SECTORS, 1,
            DESCRIPTOR_SECTORS, GTES_PER_GT, 0, gd_offset, overhead, False,
            b'\n', b' ', b'\r', b'\n', 0, b'\0' * 433)
        descriptor = (DESCRIPTOR % dict(
            sectors=capacity_sectors, name=name,
            cylinders=min(16383, capacity_sectors // (16 * 63)))).encode()
        descriptor = descriptor.ljust(DESCRIPTOR_SECTORS * SECTOR, b'\0')
        directory = struct.pack('<%dI' % tables, *(
            gt_offset + i * gt_sectors for i in range(tables)))
        directory = directory.ljust((gt_offset - gd_offset) * SECTOR, b'\0')
        entries = [overhead + i * GRAIN_SECTORS if i < allocated else 0
                   for i in range(tables * GTES_PER_GT)]
        metadata = (header + descriptor + directory +
                    struct.pack('<%dI' % len(entries), *entries))
        self._metadata = metadata.ljust(overhead * SECTOR, b'\0')
        self._block = os.urandom(grain)
        self._data_left = data_size
        self.size = len(self._metadata) + data_size
        self.md5 = hashlib.md5()

    def read(self, n=1024 * 1024):
        if self._metadata:
            data, self._metadata = self._metadata[:n], self._metadata[n:]
        else:
            n = min(n, self._data_left, len(self._block))
            self._data_left -= n
            data = self._block[:n]
        self.md5.update(data)
        return data
