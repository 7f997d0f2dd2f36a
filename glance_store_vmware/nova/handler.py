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
cache (see ``cached_extent_size`` for disks that vSphere converted).
Hashing would read every byte through this process and defeat the
purpose; the policy instead only accepts files that Glance's store wrote
under the image's own id (see ``check_location``).

``entry_problem`` tells why an existing cache entry is incomplete (a crash
left an extent without descriptor, a descriptor without extent, or a
truncated file), so that the caller, under Nova's image lock, can delete
and refill it.
"""

import dataclasses
import logging
import math
import posixpath
import uuid

from glance_store_vmware import location as loc_mod
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import files as files_mod
from glance_store_vmware.vsphere import inventory as inventory_mod
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import transfer

LOG = logging.getLogger(__name__)

FLAT_DISK_TYPES = frozenset(('thin', 'preallocated', 'thick',
                             'eagerZeroedThick'))
SPARSE = 'sparse'
STREAM_OPTIMIZED = 'streamOptimized'

CACHED = 'cached'
PEER_CACHE = 'peer-cache'
LOCATION = 'location'
FALLBACK = 'fallback'


@dataclasses.dataclass(frozen=True)
class Image:
    """What the handler needs to know about a Glance image."""

    id: str
    size: int | None = None
    disk_format: str = 'vmdk'
    disk_type: str = 'preallocated'
    container_format: str = 'bare'
    adapter_type: str = 'lsiLogic'
    virtual_size: int | None = None

    @property
    def descriptor_only_ok(self):
        """A cached disk may lack a ``-flat.vmdk`` extent: only
        stream-optimized and OVA images, the only ones Nova places on vSAN,
        whose disks are objects without a flat file."""
        return (self.container_format == 'ova'
                or self.disk_type == STREAM_OPTIMIZED)

    @property
    def cached_extent_size(self):
        """The size the cached ``-flat.vmdk`` (or ``.iso``) must have, or
        None if it cannot be known.

        Flat disks are cached as Glance holds them: Glance's size.  Sparse,
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
    def cache_name(self):
        return '%s.%s' % (self.id, self.file_type)

    @property
    def extent_name(self):
        return '%s-flat.vmdk' % self.id

    def location_copy_unsupported(self):
        """Why a location cannot be copied into the cache, or None."""
        if self.container_format == 'ova':
            return ('OVA images are imported through an NFC lease, which '
                    'needs the data on the compute node')
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
        return self.image_dir(image).child(image.cache_name)


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
class HandlerConfig:
    """Which locations may be copied.

    ``host``/``port`` are the vCenter the session is connected to;
    ``host_aliases`` are other ``(host, port)`` names of that same vCenter
    as Glance may have written them.  ``datastores`` are allowed
    ``(datacenter, datastore or datastore cluster)`` pairs; empty allows
    every datastore of this vCenter.
    """

    host: str
    port: int = 443
    host_aliases: tuple = ()
    image_dir: str = '/openstack_glance'
    datastores: tuple = ()
    require_image_id_name: bool = True
    search_peer_caches: bool = True


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

    def close(self):
        self._http.close()

    # Policy.

    def check_location(self, image, url):
        """The datastore file a location may be copied from.

        Raises ``InvalidLocation`` with the reason otherwise.
        """
        location = loc_mod.ImageLocation.parse(url)
        cfg = self._config
        if cfg.datastores:
            allowed = self._allowed_datastores
        else:
            def allowed():
                return {(location.file.datacenter, location.file.datastore)}
        policy = loc_mod.LocationPolicy(
            cfg.host, cfg.port, cfg.image_dir, allowed,
            aliases=tuple(tuple(a) for a in cfg.host_aliases))
        dsfile = policy.check(location)
        if cfg.require_image_id_name and dsfile.name != image.id:
            # Glance lets image owners add locations: a location naming
            # another image's file would copy data its owner never shared.
            raise loc_mod.InvalidLocation(
                'file %r is not named after image %s' % (dsfile.path,
                                                         image.id))
        return dsfile

    def _allowed_datastores(self):
        allowed = set()
        for dc_path, name in self._config.datastores:
            try:
                members = self._inventory.resolve(dc_path, name)
            except errors.VSphereError as e:
                LOG.warning('Allowed image datastore %s:%s: %s', dc_path,
                            name, e)
                continue
            allowed.update((dc_path, member) for member in members)
        return allowed

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
        if image.file_type == 'iso':
            return self._size_problem(cached, self._size(cached),
                                      image.cached_extent_size)
        extent = cached.sibling(image.extent_name)
        size = self._size(extent)
        if size is None:
            if image.descriptor_only_ok:
                return None
            return '%s has no extent %s' % (cached, image.extent_name)
        return self._size_problem(extent, size, image.cached_extent_size)

    @staticmethod
    def _size_problem(dsfile, size, expected):
        if size is None:
            return '%s is gone' % (dsfile,)
        if expected is not None and size != expected:
            return '%s has %d bytes, expected %d' % (dsfile, size, expected)
        return None

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
        expected = image.cached_extent_size
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
        problem = self._size_problem(source, size, expected)
        return (problem, True) if problem else None

    def _find_location(self, image, _target, locations, reasons):
        unsupported = image.location_copy_unsupported()
        if unsupported:
            reasons.append(unsupported)
            return None
        try:
            urls = list(locations() if callable(locations) else locations)
        except Exception as e:
            LOG.warning('Finding the locations of image %s failed: %s',
                        image.id, e)
            reasons.append('finding the locations failed: %s' % e)
            return None
        candidates = [u for u in urls
                      if isinstance(u, str)
                      and u.startswith(loc_mod.SCHEME + '://')]
        if not candidates:
            reasons.append('no vsphere:// location')
            return None
        for url in candidates:
            try:
                dsfile = self.check_location(image, url)
            except loc_mod.InvalidLocation as e:
                LOG.warning('Image %s: refusing location %s: %s', image.id,
                            url, e)
                reasons.append('refused %s: %s' % (url, e))
                continue
            try:
                size = self._size(dsfile)
            except errors.VSphereError as e:
                reasons.append('cannot read %s: %s' % (dsfile, e))
                continue
            if size is None:
                reasons.append('%s does not exist' % (dsfile,))
            elif size != image.size:
                reasons.append('%s has %d bytes, Glance says %d'
                               % (dsfile, size, image.size))
            else:
                return dsfile
        return None

    def _copy_into_cache(self, image, target, kind, source):
        work = paths.DatastoreFile(
            target.datacenter, target.datastore,
            posixpath.join(target.tmp_dir, uuid.uuid4().hex))
        staged_dir = work.child(image.id)
        staged = staged_dir.child(image.cache_name)
        final_dir = target.image_dir(image)
        try:
            self._files.make_directory(staged_dir)
            if kind == PEER_CACHE:
                self._copy_cached(image, source, staged)
            elif image.file_type == 'iso':
                self._copy_file(source, staged, image.size)
            elif image.disk_type == SPARSE:
                self._copy_sparse(image, source, staged)
            else:
                self._copy_flat(image, source, staged, image.size,
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
        finally:
            self._files.delete_quietly(work)

    def folder_problem(self, image, target):
        """Why an existing cache folder is incomplete (no descriptor, or
        ``entry_problem``); None if it is complete."""
        if self._size(target.image_file(image)) is None:
            return 'it holds no %s' % image.cache_name
        return self.entry_problem(image, target)

    def _copy_file(self, source, dest, size):
        self._files.copy(source, dest)
        self._check_size(dest, size)

    def _copy_flat(self, image, source, descriptor, size, disk_type):
        # The image data is the flat extent; vSphere writes the descriptor
        # that fits the adapter and disk type, whose extent is replaced.
        self._files.create_virtual_disk(
            descriptor, math.ceil(size / 1024), image.adapter_type,
            disk_type)
        extent = descriptor.sibling(image.extent_name)
        self._files.delete(extent)
        self._copy_file(source, extent, size)

    def _copy_sparse(self, image, source, descriptor):
        # As Nova does after its download: vSphere converts the sparse
        # file into a preallocated disk.
        sparse = descriptor.sibling('tmp-sparse.vmdk')
        self._copy_file(source, sparse, image.size)
        self._files.copy_virtual_disk(sparse, descriptor)
        self._files.delete(sparse)
        if self._size(descriptor) is None:
            raise errors.VSphereError('converting %s left no %s'
                                      % (sparse, descriptor))
        # The converted extent has the disk's capacity; checked when Glance
        # recorded it (virtual_size), else only its presence.
        extent = descriptor.sibling(image.extent_name)
        size = self._size(extent)
        problem = self._size_problem(extent, size, image.cached_extent_size)
        if problem:
            raise errors.VSphereError('converting %s: %s' % (sparse, problem))

    def _copy_cached(self, image, source, dest):
        # The peer entry was checked (_peer_problem); the copy is checked
        # against the same size: Glance's size, or Glance's virtual_size
        # for a disk vSphere converted (sparse, stream-optimized, OVA).
        expected = image.cached_extent_size
        if image.file_type == 'iso':
            self._copy_file(source, dest, expected)
            return
        disk_type = (image.disk_type if image.disk_type in FLAT_DISK_TYPES
                     else 'preallocated')
        self._copy_flat(image, source.sibling(image.extent_name), dest,
                        expected, disk_type)

    def _size(self, dsfile):
        return self._http.size(dsfile)

    def _check_size(self, dsfile, expected):
        size = self._size(dsfile)
        if size != expected:
            raise errors.VSphereError(
                '%s has %s bytes after the copy, expected %d'
                % (dsfile, 'no' if size is None else size, expected))
