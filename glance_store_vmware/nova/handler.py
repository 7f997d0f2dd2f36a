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

"""Fill Nova's VMware image cache by copies inside vSphere.

The cache layout is Nova's: ``[ds] <cache_dir>/<image_id>/<image_id>.vmdk``
(with its ``-flat.vmdk`` extent) or ``<image_id>.iso``.  An image is built
in a private temporary directory and moved into place in one step, so
compute nodes sharing a datastore never see a partial cache entry; if
another node moved its copy in first, that copy is used.

Sources, cheapest first: the cache entry already exists; the image is
cached on another datastore of the datacenter; the image's ``vsphere://``
location, if the location policy allows it.  Otherwise the result says to
fall back to Nova's Glance download, with the reason.

Verification is by size: every copy, from a location or from another
datastore's cache, must have the size Glance recorded before it enters the
cache (see ``Image.extent_size`` for disks that vSphere converted).  The
location policy, the copies and their checks are shared with Cinder
(``glance_store_vmware.image_copy``); this module adds Nova's cache.

``entry_problem`` tells why an existing cache entry is incomplete (a crash
left an extent without descriptor, a descriptor without extent, or a
truncated file), so that the caller, under Nova's image lock, can delete
and refill it.
"""

import dataclasses
import logging
import posixpath

from glance_store_vmware.image_copy import engine as engine_mod
from glance_store_vmware.image_copy import image as image_mod
from glance_store_vmware.image_copy import policy
from glance_store_vmware.image_copy import pull
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import files as files_mod
from glance_store_vmware.vsphere import inventory as inventory_mod
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import transfer

LOG = logging.getLogger(__name__)

# The image description is shared with Cinder; Nova's callers name it here.
Image = image_mod.Image
FLAT_DISK_TYPES = image_mod.FLAT_DISK_TYPES
SPARSE = image_mod.SPARSE

CACHED = 'cached'
PEER_CACHE = 'peer-cache'
LOCATION = 'location'
FALLBACK = 'fallback'


def cache_name(image):
    """The name of the image's file in its cache folder."""
    return '%s.%s' % (image.id, image.file_type)


def descriptor_only_ok(image):
    """A cached disk may lack a ``-flat.vmdk`` extent: only
    stream-optimized and OVA images, the only ones Nova places on vSAN,
    whose disks are objects without a flat file."""
    return (image.container_format == 'ova'
            or image.disk_type == image_mod.STREAM_OPTIMIZED)


@dataclasses.dataclass(frozen=True)
class CacheTarget:
    """Where the image must be cached: Nova's image cache on a datastore."""

    datacenter: str
    datastore: str
    cache_dir: str
    tmp_dir: str = 'vmware_temp'

    def image_dir(self, image):
        return paths.DatastoreFile(self.datacenter, self.datastore,
                                   posixpath.join(self.cache_dir, image.id))

    def image_file(self, image):
        return self.image_dir(image).child(cache_name(image))


@dataclasses.dataclass(frozen=True)
class Result:
    """How the cache was filled, or why it was not."""

    source: str
    reason: str = ''
    copied_from: paths.DatastoreFile | None = None

    @property
    def fell_back(self):
        return self.source == FALLBACK


@dataclasses.dataclass(frozen=True)
class HandlerConfig(policy.PolicyConfig):
    """The location policy, whether other datastores' caches are
    searched, and how long a host's pull of an image may take."""

    search_peer_caches: bool = True
    pull_timeout: int = pull.DEFAULT_TIMEOUT


class ImageHandler:
    """Copies images into Nova's image cache on one vCenter."""

    def __init__(self, session, config, *, inventory=None, files=None,
                 http=None):
        self._session = session
        self._config = config
        self._inventory = inventory or inventory_mod.Inventory(session)
        self._files = files or files_mod.DatastoreFiles(session,
                                                        self._inventory)
        self._http = http or transfer.DatastoreHTTP(session)
        self._engine = engine_mod.CopyEngine(self._files, self._http)
        self._locations = policy.LocationChooser(config, self._inventory,
                                                 self._engine.size)
        self._puller = pull.ImagePuller(
            connection.VCenter(session, self._inventory, self._files,
                               self._http),
            self._locations, timeout=config.pull_timeout)

    def close(self):
        self._http.close()

    # The state of a cache entry.

    def entry_problem(self, image, target):
        """Why the cache entry of ``image``, whose descriptor (or ISO)
        exists, is incomplete; None if it is complete or its size cannot
        be known.  Raises ``VSphereError`` if it cannot be looked at.

        A missing extent, or a file whose size differs from what the cache
        must hold, is a copy that a crash or an unchecked copy left behind;
        no complete entry is ever reported.
        """
        cached = target.image_file(image)
        size_problem = self._engine.size_problem
        if image.file_type == 'iso':
            return size_problem(cached, self._size(cached),
                                image.extent_size)
        extent = cached.sibling(image.extent_name)
        size = self._size(extent)
        if size is None:
            if descriptor_only_ok(image):
                return None
            return '%s has no extent %s' % (cached, image.extent_name)
        return size_problem(extent, size, image.extent_size)

    def folder_problem(self, image, target):
        """Why an existing cache folder is incomplete (no descriptor, or
        ``entry_problem``); None if it is complete."""
        if self._size(target.image_file(image)) is None:
            return 'it holds no %s' % cache_name(image)
        return self.entry_problem(image, target)

    # Importing streamOptimized and OVA images.

    def import_by_pull(self, image, locations, target, finish=None):
        """Import ``image`` into the lease ``target`` (a
        ``pull.ImportTarget``) by the host's pull from its location: see
        ``pull.ImagePuller.import_image``; ``NotPulled`` with the reason."""
        return self._puller.import_image(image, locations, target, finish)

    # Filling the cache.

    def fill_cache(self, image, target, locations=()):
        """Put ``image`` into the cache at ``target`` by a vSphere copy.

        ``locations`` is an iterable of location URLs or a callable that
        returns one; it is called only when the image is not cached on
        any datastore.  Never raises for a copy that cannot be done: the
        result then says to fall back, and why.
        """
        try:
            if self._size(target.image_file(image)) is not None:
                return Result(CACHED)
        except errors.VSphereError as e:
            return self._fall_back(image, 'cannot check the cache: %s' % e)
        reasons = []
        for kind, find in ((PEER_CACHE, self._find_peer_cache),
                           (LOCATION, self._find_location)):
            source = find(image, target, locations, reasons)
            if source is None:
                continue
            try:
                self._copy_into_cache(image, target, kind, source)
            except Exception as e:
                LOG.warning('Copying image %s from %s failed',
                            image.id, source, exc_info=True)
                reasons.append('copying from %s failed: %s' % (source, e))
                continue
            LOG.info('Cached image %s on %s by a vSphere copy from %s',
                     image.id, target.datastore, source)
            return Result(kind, copied_from=source)
        return self._fall_back(image, '; '.join(reasons))

    @staticmethod
    def _fall_back(image, reason):
        LOG.info('Image %s: using the Glance download: %s', image.id,
                 reason)
        return Result(FALLBACK, reason)

    def _find_peer_cache(self, image, target, _locations, reasons):
        if not self._config.search_peer_caches:
            return None
        try:
            names = sorted(self._inventory.datastores(target.datacenter))
        except errors.VSphereError as e:
            reasons.append('cannot list the datastores: %s' % e)
            return None
        problems = []
        for name in names:
            if name == target.datastore:
                continue
            candidate = dataclasses.replace(target.image_file(image),
                                            datastore=name)
            try:
                if self._size(candidate) is None:
                    continue
                problem = self._peer_problem(image, candidate)
            except errors.VSphereError as e:
                LOG.debug('Cannot look at %s: %s', candidate, e)
                continue
            if problem is None:
                return candidate
            problem, damaged = problem
            # A damaged entry is worth an operator's look; an entry that
            # cannot be checked is normal for some images.
            LOG.log(logging.WARNING if damaged else logging.INFO,
                    'Image %s: not copying the cache entry %s: %s',
                    image.id, candidate, problem)
            problems.append(problem)
        reasons.append('; '.join(problems) if problems
                       else 'not cached on another datastore')
        return None

    def _peer_problem(self, image, candidate):
        """Why another datastore's cache entry must not be copied, as
        ``(reason, damaged)``; None if it may be."""
        expected = image.extent_size
        if expected is None:
            # A converted disk whose capacity Glance did not record: its
            # size cannot be checked, so it is not spread.
            checked_by = ('size' if image.file_type == 'iso'
                          or image.disk_type in FLAT_DISK_TYPES
                          else 'virtual_size')
            return ('cached on %s, but Glance records no %s to check it '
                    'against' % (candidate.datastore, checked_by), False)
        source = (candidate if image.file_type == 'iso'
                  else candidate.sibling(image.extent_name))
        size = self._size(source)
        if size is None:
            if image.file_type == 'iso':
                return ('%s is gone' % (candidate,), False)
            # e.g. a vSAN object: no flat file whose size could be checked.
            return ('%s has no extent to check' % (candidate,), False)
        problem = self._engine.size_problem(source, size, expected)
        return (problem, True) if problem else None

    def _find_location(self, image, _target, locations, reasons):
        return self._locations.choose(image, locations, reasons)

    def _copy_into_cache(self, image, target, kind, source):
        # Built in a private directory and moved into place in one step:
        # compute nodes sharing the datastore never see a partial entry.
        engine = self._engine
        with engine.work_directory(target.datacenter, target.datastore,
                                   target.tmp_dir) as work:
            staged_dir = work.child(image.id)
            staged = staged_dir.child(cache_name(image))
            final_dir = target.image_dir(image)
            self._files.make_directory(staged_dir)
            if kind == PEER_CACHE:
                self._copy_cached(image, source, staged)
            elif image.file_type == 'iso':
                engine.copy_file(source, staged, image.size)
            elif image.disk_type == SPARSE:
                engine.copy_sparse(image, source, staged)
            else:
                engine.copy_flat(image, source, staged, image.size,
                                 image.disk_type)
            self._files.make_directory(final_dir.parent())
            try:
                self._files.move(staged_dir, final_dir)
            except errors.AlreadyExists:
                problem = self.folder_problem(image, target)
                if problem is None:
                    LOG.info('Another compute node cached image %s on %s '
                             'first; using its copy', image.id,
                             target.datastore)
                    return
                # The caller holds Nova's image lock: an incomplete entry
                # (a crash's leftover) is nobody's work in progress.
                LOG.warning('Image %s: the cache entry %s is incomplete '
                            '(%s); replacing it', image.id, final_dir,
                            problem)
                self._files.delete(final_dir)
                self._files.move(staged_dir, final_dir)

    def _copy_cached(self, image, source, dest):
        # The peer entry was checked (_peer_problem); the copy is checked
        # against the same size: Glance's size, or Glance's virtual_size
        # for a disk vSphere converted (sparse, stream-optimized, OVA).
        expected = image.extent_size
        if image.file_type == 'iso':
            self._engine.copy_file(source, dest, expected)
            return
        disk_type = (image.disk_type if image.disk_type in FLAT_DISK_TYPES
                     else 'preallocated')
        self._engine.copy_flat(image, source.sibling(image.extent_name),
                               dest, expected, disk_type)

    def _size(self, dsfile):
        return self._engine.size(dsfile)
