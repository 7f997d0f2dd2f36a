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

"""Copies of image files between datastores, checked by size.

Every copy is checked against the size the destination must have before
anyone uses it, and a copy that fails or comes out wrong is removed.
Multi-file results (a disk: descriptor and extent) are built in a private
work directory (``work_directory``) that is removed whatever happens.
"""

import contextlib
import math
import posixpath
import uuid

from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths


class CopyEngine:
    """Datastore copies on one vCenter: ``files`` is a ``DatastoreFiles``,
    ``http`` a ``DatastoreHTTP`` (for sizes)."""

    def __init__(self, files, http):
        self._files = files
        self._http = http

    def size(self, dsfile):
        """The size of a datastore file; None if it does not exist."""
        return self._http.size(dsfile)

    @staticmethod
    def size_problem(dsfile, size, expected):
        """Why a file of ``size`` bytes (None: missing) is not what is
        expected (None: any size); None if it is."""
        if size is None:
            return '%s is gone' % (dsfile,)
        if expected is not None and size != expected:
            return '%s has %d bytes, expected %d' % (dsfile, size, expected)
        return None

    def check_size(self, dsfile, expected):
        size = self.size(dsfile)
        if size != expected:
            raise errors.VSphereError(
                '%s has %s bytes after the copy, expected %d'
                % (dsfile, 'no' if size is None else size, expected))

    @contextlib.contextmanager
    def work_directory(self, datacenter, datastore, tmp_dir):
        """A fresh directory path under ``tmp_dir`` (not yet created),
        removed with everything in it when the block ends."""
        work = paths.DatastoreFile(datacenter, datastore,
                                   posixpath.join(tmp_dir, uuid.uuid4().hex))
        try:
            yield work
        finally:
            self._files.delete_quietly(work)

    def copy_file(self, source, dest, size):
        """Copy one file and check it has ``size`` bytes.  On failure the
        destination is removed, unless it existed before (AlreadyExists)."""
        try:
            self._files.copy(source, dest)
            self.check_size(dest, size)
        except errors.AlreadyExists:
            raise
        except Exception:
            self._files.delete_quietly(dest)
            raise

    def copy_flat(self, image, source, descriptor, size, disk_type):
        """A disk at ``descriptor`` whose extent is a copy of ``source``
        (a flat image of ``size`` bytes)."""
        # vSphere writes the descriptor that fits the adapter and disk
        # type; its extent is then replaced by the image data.
        self._files.create_virtual_disk(
            descriptor, math.ceil(size / 1024), image.adapter_type,
            disk_type)
        extent = descriptor.sibling(image.extent_name)
        self._files.delete(extent)
        self.copy_file(source, extent, size)

    def copy_sparse(self, image, source, descriptor):
        """A preallocated disk at ``descriptor`` converted by vSphere from
        ``source`` (a monolithic sparse image)."""
        sparse = descriptor.sibling('tmp-sparse.vmdk')
        self.copy_file(source, sparse, image.size)
        self._files.copy_virtual_disk(sparse, descriptor)
        self._files.delete(sparse)
        if self.size(descriptor) is None:
            raise errors.VSphereError('converting %s left no %s'
                                      % (sparse, descriptor))
        # The converted extent has the disk's capacity; checked when Glance
        # recorded it (virtual_size), else only its presence.
        extent = descriptor.sibling(image.extent_name)
        problem = self.size_problem(extent, self.size(extent),
                                    image.extent_size)
        if problem:
            raise errors.VSphereError('converting %s: %s' % (sparse, problem))
