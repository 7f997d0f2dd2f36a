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

"""The ``vsphere`` glance_store driver: images as files on datastores.

Uploads go to a hidden temporary name next to the image and are renamed
into place (MoveDatastoreFile_Task without ``force``) only when complete,
so readers never see a partial image, a failed upload leaves nothing
behind, and two uploads of the same image id cannot overwrite each other.
Temporary files that a killed process or a failed cleanup left behind are
reclaimed in the background (``partials``).
"""

import contextlib
import logging
import threading
import time

from glance_store import capabilities
from glance_store import driver
from glance_store import exceptions
from glance_store import location as gs_location
from glance_store.common import utils
from oslo_utils import units

from glance_store_vmware import digest
from glance_store_vmware import location as vs_location
from glance_store_vmware import opts
from glance_store_vmware import partials
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import files
from glance_store_vmware.vsphere import inventory
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import session as vs_session
from glance_store_vmware.vsphere import transfer

LOG = logging.getLogger(__name__)

STORE_NAME = 'vsphere'


class StoreLocation(gs_location.StoreLocation):
    """A ``vsphere://host[:port]/folder/<path>?dcPath=<dc>&dsName=<ds>``."""

    def process_specs(self):
        self.image_location = self.specs['image_location']

    def get_uri(self):
        return self.image_location.url

    def parse_uri(self, uri):
        try:
            self.image_location = vs_location.ImageLocation.parse(uri)
        except vs_location.InvalidLocation as e:
            raise exceptions.BadStoreUri(uri='(withheld)',
                                         message=str(e)) from None


class Store(driver.Store):
    """Images on vSphere datastores, through one vCenter."""

    _CAPABILITIES = (capabilities.BitMasks.RW_ACCESS |
                     capabilities.BitMasks.READ_RANDOM |
                     capabilities.BitMasks.DRIVER_REUSABLE)
    OPTIONS = opts.STORE_OPTS
    READ_CHUNKSIZE = units.Mi
    WRITE_CHUNKSIZE = units.Mi

    def __init__(self, conf, backend=None):
        super().__init__(conf, backend=backend)
        if self.backend_group:
            self.store_conf = driver.BackendGroupConfiguration(
                self.OPTIONS, self.backend_group, conf=self.conf)
        else:
            self.store_conf = self.conf.glance_store
        self._targets = []
        self._resolved = {}
        self._retry_at = {}
        self._made_dirs = set()
        self._lock = threading.Lock()
        self._partials = None

    def get_schemes(self):
        return (vs_location.SCHEME,)

    # Configuration -------------------------------------------------------

    def _bad_config(self, reason):
        LOG.error('vsphere store: %s', reason)
        return exceptions.BadStoreConfiguration(store_name=STORE_NAME,
                                                reason=reason)

    def _required(self, name):
        value = getattr(self.store_conf, name)
        if value in (None, '', []):
            raise self._bad_config('option %s is required' % name)
        return value

    def configure(self, re_raise_bsc=False):
        conf = self.store_conf
        host = vs_location.normalize_host(self._required('vmware_server_host'))
        if conf.vmware_ca_file and conf.vmware_insecure:
            LOG.warning('vsphere store: vmware_ca_file is set, so '
                        'vmware_insecure is ignored and the vCenter '
                        'certificate is verified')
        self.session = vs_session.Session(
            host, self._required('vmware_server_username'),
            self._required('vmware_server_password'),
            port=conf.vmware_server_port, ca_file=conf.vmware_ca_file,
            insecure=conf.vmware_insecure,
            api_retry_count=conf.vmware_api_retry_count,
            task_poll_interval=conf.vmware_task_poll_interval,
            pool_size=conf.vmware_http_pool_size,
            timeout=conf.vmware_http_timeout)
        self.inventory = inventory.Inventory(self.session)
        self.files = files.DatastoreFiles(
            self.session, self.inventory,
            max_poll_interval=conf.vmware_task_poll_interval)
        self.http = transfer.DatastoreHTTP(
            self.session, pool_size=conf.vmware_http_pool_size,
            timeout=conf.vmware_http_timeout)
        try:
            self.image_dir = '/'.join(
                paths.split_clean(conf.vmware_store_image_dir))
        except paths.InvalidPath as e:
            raise self._bad_config('vmware_store_image_dir: %s' % e)
        super().configure(re_raise_bsc=re_raise_bsc)

    def configure_add(self):
        targets = []
        for entry in self._required('vmware_datastores'):
            try:
                targets.append(opts.parse_datastore_entry(entry))
            except ValueError as e:
                raise self._bad_config(str(e))
        self._targets = targets
        self.policy = vs_location.LocationPolicy(
            host=self.session.host, port=self.session.port,
            image_dir=self.image_dir, datastores=self._allowed_datastores)
        self._url_prefix = vs_location.url_prefix(
            self.session.host, self.session.port, self.image_dir)
        self._partials = self._reclaimer()
        # Look the datastores up now so configuration mistakes show in the
        # log at start-up; vCenter being down must not stop Glance.
        try:
            self._candidates()
        except errors.VSphereError as e:
            LOG.warning('vsphere store: cannot look up the configured '
                        'datastores yet: %s', e)
        self._sweep_partials()

    def _reclaimer(self):
        conf = self.store_conf
        if conf.vmware_partial_file_max_age <= conf.vmware_http_timeout:
            raise self._bad_config(
                'vmware_partial_file_max_age (%d s) must be larger than '
                'vmware_http_timeout (%d s), or uploads in progress could '
                'be taken for abandoned' % (conf.vmware_partial_file_max_age,
                                            conf.vmware_http_timeout))
        if not conf.vmware_partial_file_sweep_interval:
            return None
        return partials.Reclaimer(
            self.files, max_age=conf.vmware_partial_file_max_age,
            interval=conf.vmware_partial_file_sweep_interval,
            label='vsphere store')

    def _sweep_partials(self, image=None):
        """Ask (in the background) for sweeps for abandoned partial
        uploads in the image directories of the datastores found so far."""
        if self._partials is not None:
            with self._lock:
                dirs = [paths.DatastoreFile(dc, ds, self.image_dir)
                        for (dc, _name, _w), refs in self._resolved.items()
                        for ds in refs]
            self._partials.request(dirs, image=image)

    # Datastore selection -------------------------------------------------

    def _candidates(self):
        """``[(weight, dc, name, ref)]`` for every resolvable target."""
        now = time.monotonic()
        interval = self.store_conf.vmware_datastore_recheck_interval
        with self._lock:
            pending = [t for t in self._targets if t not in self._resolved
                       and self._retry_at.get(t, 0) <= now]
        for target in pending:
            dc, name, _weight = target
            try:
                refs = self.inventory.resolve(dc, name)
            except errors.NotFound as e:
                LOG.warning('vsphere store: %s; skipping it, looking again '
                            'in %d s (vmware_datastores)', e, interval)
                with self._lock:
                    self._retry_at[target] = now + interval
                continue
            with self._lock:
                self._resolved[target] = refs
        with self._lock:
            return [(weight, dc, ds, ref)
                    for (dc, name, weight), refs in self._resolved.items()
                    for ds, ref in refs.items()]

    def _allowed_datastores(self):
        allowed = {(dc, name) for dc, name, _w in self._targets}
        with self._lock:
            for (dc, _name, _w), refs in self._resolved.items():
                allowed.update((dc, ds) for ds in refs)
        return allowed

    def select_datastore(self, image_size):
        """The usable datastore with the highest weight and enough space."""
        reserve = self.store_conf.vmware_free_space_reserve_mb * units.Mi
        needed = (image_size or 0) + reserve
        candidates = self._candidates()
        weights = {(dc, ds): w for w, dc, ds, _ref in candidates}
        states = self.inventory.states(
            [(dc, ds, ref) for _w, dc, ds, ref in candidates])
        usable = [s for s in states if s.usable]
        for state in states:
            if not state.usable:
                LOG.info('vsphere store: skipping datastore %s (accessible: '
                         '%s, maintenance mode: %s)', state.name,
                         state.accessible, state.maintenance_mode)
        usable.sort(key=lambda s: (weights[(s.datacenter, s.name)],
                                   s.free_space), reverse=True)
        for state in usable:
            if state.free_space >= needed:
                return state
        msg = ('no usable datastore has %d MiB free for an image of %s '
               'bytes plus the %d MiB reserve (vmware_free_space_reserve_mb);'
               ' candidates: %s' % (
                   needed // units.Mi, image_size or 'unknown',
                   reserve // units.Mi,
                   ', '.join('%s (%d MiB free)' % (s.name,
                                                   s.free_space // units.Mi)
                             for s in states) or 'none found'))
        LOG.error('vsphere store: %s', msg)
        raise exceptions.StorageFull(message=msg)

    # Store API -----------------------------------------------------------

    def _image_file(self, state, image_id):
        try:
            if image_id.startswith('.'):
                raise paths.InvalidPath(image_id)
            return paths.DatastoreFile(state.datacenter, state.name,
                                       self.image_dir).child(image_id)
        except paths.InvalidPath:
            raise exceptions.BackendException(
                'image id %r cannot be a file name' % image_id) from None

    def _ensure_directory(self, dsdir):
        key = (dsdir.datacenter, dsdir.datastore, dsdir.path)
        if key not in self._made_dirs:
            self.files.make_directory(dsdir)
            self._made_dirs.add(key)

    @driver.back_compat_add
    @capabilities.check
    def add(self, image_id, image_file, image_size, hashing_algo,
            context=None, verifier=None):
        with _backend_errors('add image %s' % image_id):
            state = self.select_datastore(image_size)
            final = self._image_file(state, image_id)
            # The existence check also proves the session cookie fresh
            # before the body starts: an upload cannot be replayed.
            if self.http.size(final) is not None:
                raise exceptions.Duplicate(image=image_id)
            self._ensure_directory(final.parent())
            temp = final.sibling(partials.temp_name(image_id))
            checksum = utils.get_hasher('md5', False)
            multihash = utils.get_hasher(hashing_algo, False)
            updates = [checksum.update, multihash.update]
            if verifier:
                updates.append(verifier.update)
            started = time.monotonic()
            source = _Source(image_file, image_size, self.WRITE_CHUNKSIZE)
            try:
                with partials.uploading(temp):
                    with digest.ParallelDigest(updates) as hashes:
                        self.http.put(temp, source.chunks(hashes.update),
                                      size=image_size or None)
                        hashes.finish()
                    self.files.move(temp, final, force=False)
            except BaseException as e:
                self.files.delete_quietly(temp)
                if isinstance(e, errors.AlreadyExists):
                    raise exceptions.Duplicate(image=image_id) from None
                if source.error is not None:
                    raise source.error from None
                raise
            finally:
                self._sweep_partials()
        seconds = time.monotonic() - started
        LOG.info('vsphere store: stored image %s (%d bytes) as %s in %.1f s',
                 image_id, source.size, final, seconds)
        metadata = {'store': self.backend_group} if self.backend_group else {}
        url = vs_location.ImageLocation(self.session.host, self.session.port,
                                        final).url
        return (url, source.size, checksum.hexdigest(),
                multihash.hexdigest(), metadata)

    def _checked_file(self, location):
        image_location = location.store_location.image_location
        try:
            return self.policy.check(image_location)
        except vs_location.InvalidLocation as e:
            LOG.warning('vsphere store: refused location of image %s: %s',
                        location.image_id, e)
            raise exceptions.BadStoreUri(
                message='location refused: %s' % e) from None

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        dsfile = self._checked_file(location)
        with _backend_errors('read %s' % dsfile):
            chunks, size = self.http.get(dsfile, offset, chunk_size,
                                         self.READ_CHUNKSIZE)
        return _translated(chunks, dsfile), size

    def get_size(self, location, context=None):
        dsfile = self._checked_file(location)
        with _backend_errors('size of %s' % dsfile):
            size = self.http.size(dsfile)
        if size is None:
            raise exceptions.NotFound(image=location.image_id)
        return size

    @capabilities.check
    def delete(self, location, context=None):
        dsfile = self._checked_file(location)
        try:
            with _backend_errors('delete %s' % dsfile):
                self.files.delete(dsfile)
        finally:
            self._sweep_partials(image=(dsfile.parent(), dsfile.name))
        LOG.info('vsphere store: deleted %s', dsfile)


class _Source:
    """Reads the image, checks its size and feeds the checksums."""

    def __init__(self, image_file, expected_size, chunk_size):
        self._file = image_file
        self._expected = expected_size or None
        self._chunk_size = chunk_size
        self.size = 0
        self.error = None

    def chunks(self, on_chunk):
        while True:
            try:
                data = self._file.read(self._chunk_size)
            except OSError as e:
                self.error = exceptions.BackendException(
                    'reading the image data failed after %d bytes: %s'
                    % (self.size, e))
                raise
            except Exception as e:
                # The caller's own errors (e.g. a size limit) stay theirs.
                self.error = e
                raise
            if not data:
                break
            self.size += len(data)
            if self._expected is not None and self.size > self._expected:
                self.error = exceptions.BackendException(
                    'image data is larger than its declared size of %d bytes'
                    % self._expected)
                raise self.error
            on_chunk(data)
            yield data
        if self._expected is not None and self.size != self._expected:
            self.error = exceptions.BackendException(
                'image data ended after %d of its declared %d bytes'
                % (self.size, self._expected))
            raise self.error


@contextlib.contextmanager
def _backend_errors(what):
    """Translate vSphere layer errors into glance_store exceptions."""
    try:
        yield
    except errors.NotFound as e:
        raise exceptions.NotFound(message=str(e)) from None
    except errors.AlreadyExists as e:
        raise exceptions.Duplicate(message=str(e)) from None
    except errors.Unreachable as e:
        # Glance answers this one with 503 and the message, not a bare 500.
        LOG.error('vsphere store: cannot %s: %s', what, e)
        raise exceptions.TimeoutError(message='cannot %s: %s' % (what, e)) \
            from None
    except errors.VSphereError as e:
        LOG.error('vsphere store: cannot %s: %s', what, e)
        raise exceptions.BackendException('cannot %s: %s' % (what, e)) \
            from None


def _translated(chunks, dsfile):
    with _backend_errors('read %s' % dsfile):
        yield from chunks
