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

"""What the copy needs to know about a Glance image."""

import dataclasses

FLAT_DISK_TYPES = frozenset(('thin', 'preallocated', 'thick',
                             'eagerZeroedThick'))
SPARSE = 'sparse'
STREAM_OPTIMIZED = 'streamOptimized'


@dataclasses.dataclass(frozen=True)
class Image:
    """A Glance image, as its record describes it."""

    id: str
    size: int | None = None
    disk_format: str = 'vmdk'
    disk_type: str = 'preallocated'
    container_format: str = 'bare'
    adapter_type: str = 'lsiLogic'
    virtual_size: int | None = None

    @property
    def extent_size(self):
        """The size the image's ``-flat.vmdk`` (or ``.iso``) must have on
        a datastore, or None if it cannot be known.

        Flat disks are kept as Glance holds them: Glance's size.  Sparse,
        stream-optimized and OVA images are converted by vSphere into a
        preallocated disk whose extent has the disk's capacity, which is
        Glance's ``virtual_size`` (Glance computes it at upload for VMDK),
        not the size of the file Glance stores.
        """
        if self.file_type == 'iso' or self.disk_type in FLAT_DISK_TYPES:
            return self.size or None
        return self.virtual_size or None

    @property
    def file_type(self):
        return 'iso' if self.disk_format == 'iso' else 'vmdk'

    @property
    def extent_name(self):
        return '%s-flat.vmdk' % self.id

    def location_copy_unsupported(self):
        """Why a location of this image cannot be copied inside vSphere,
        or None."""
        if self.container_format == 'ova':
            return ('OVA images are imported through an NFC lease, which '
                    'needs the data on this node')
        if self.file_type == 'iso':
            return None
        if self.disk_type == STREAM_OPTIMIZED:
            return ('streamOptimized disks must be imported through an NFC '
                    'lease; vSphere cannot convert them server-side')
        if self.disk_type != SPARSE and self.disk_type not in FLAT_DISK_TYPES:
            return 'disk type %r is not supported' % (self.disk_type,)
        if not self.size:
            return 'Glance does not know the image size'
        return None

    @property
    def imported(self):
        """Whether vSphere must import the image through an NFC lease
        (an OVA or a streamOptimized disk) rather than copy it."""
        return (self.container_format == 'ova'
                or (self.file_type == 'vmdk'
                    and self.disk_type == STREAM_OPTIMIZED))

    def location_pull_unsupported(self):
        """Why the host cannot pull this image from its location into an
        import lease, or None."""
        if not self.imported:
            return ('only OVA and streamOptimized images are imported '
                    'through a lease')
        if not self.size:
            return 'Glance does not know the image size'
        return None
