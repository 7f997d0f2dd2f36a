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
from glance_store_vmware import store_config
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import session as vs_session

LOG = logging.getLogger(__name__)

STORE_NAME = 'vsphere'

# The glance_store exceptions that make Glance 33 answer 503 Service
# Unavailable with our message, per operation; anything else there is a
# 500 without it.  Upload (notifier.ImageProxy.set_data): TimeoutError
# ("Filesystem store operation timed out: <message>") and
# StorageWriteDenied ("Insufficient permissions on image storage media:
# <message>"); download (image_data.ResponseSerializer.download):
# RemoteServiceUnavailable; delete (images.ImagesController.delete):
# TimeoutError.
_UNREACHABLE = {
    'add': exceptions.TimeoutError,
    'get': exceptions.RemoteServiceUnavailable,
    'get_size': exceptions.TimeoutError,
    'delete': exceptions.TimeoutError,
}
_MISCONFIGURED = dict(_UNREACHABLE, add=exceptions.StorageWriteDenied)


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
    # Uploads are read in 64 KiB pieces, as Glance's filesystem store does.
    # With 1 MiB every read returned a new bytes object of up to 1 MiB,
    # which glibc then serves from, and keeps in, each request thread's
    # malloc arena: the workers' RSS rose twice as much before
    # levelling off (doc/source/design.rst, "Memory over many cycles").
    WRITE_CHUNKSIZE = 64 * units.Ki

    def __init__(self, conf, backend=None):
        super().__init__(conf, backend=backend)
        if self.backend_group:
            self.store_conf = driver.BackendGroupConfiguration(
                self.OPTIONS, self.backend_group, conf=self.conf)
        else:
            self.store_conf = self.conf.glance_store
        self.label = store_config.label(self.backend_group)
        # Every line names the store (``vsphere store 'fast': ...``).
        self.log = vs_session.LabelledLog(LOG, {'label': self.label})
        self.targets = None
        self._ca_problem = None
        self._made_dirs = set()
        self._partials = None

    def get_schemes(self):
        return (vs_location.SCHEME,)

    # Configuration -------------------------------------------------------

    def _bad_config(self, reason):
        # Raised from configure(), where glance_store does not catch it:
        # glance-api does not start (doc/source/configuration.rst).
        self.log.error('%s', reason)
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
        username = self._required('vmware_server_username')
        password = self._required('vmware_server_password')
        try:
            self.image_dir = '/'.join(
                paths.split_clean(conf.vmware_store_image_dir))
        except paths.InvalidPath as e:
            raise self._bad_config('vmware_store_image_dir: %s' % e)
        try:
            targets = store_config.parse_targets(conf.vmware_datastores)
        except ValueError as e:
            raise self._bad_config(str(e))
        try:
            aliases = vs_location.parse_host_aliases(
                conf.vmware_server_host_aliases, conf.vmware_server_port,
                'vmware_server_host_aliases')
        except ValueError as e:
            raise self._bad_config(str(e))
        self._ca_problem = store_config.ca_file_problem(conf.vmware_ca_file)
        if self._ca_problem:
            self.log.error('%s; requests that need vCenter fail until it is '
                           'fixed', self._ca_problem)
        elif conf.vmware_ca_file and conf.vmware_insecure:
            self.log.warning('vmware_ca_file is set, so vmware_insecure is '
                             'ignored and the vCenter certificate is '
                             'verified')
        self.session = vs_session.Session(
            host, username, password,
            port=conf.vmware_server_port, ca_file=conf.vmware_ca_file,
            insecure=conf.vmware_insecure,
            api_retry_count=conf.vmware_api_retry_count,
            pool_size=conf.vmware_http_pool_size,
            timeout=conf.vmware_api_timeout, label=self.label)
        vc = connection.VCenter.on(
            self.session, poll_interval=conf.vmware_task_poll_interval,
            pool_size=conf.vmware_http_pool_size,
            http_timeout=conf.vmware_http_timeout)
        self.inventory, self.files, self.http = vc.inventory, vc.files, vc.http
        self.targets = store_config.Targets(
            targets, self.inventory, conf.vmware_datastore_recheck_interval,
            self.log)
        self.policy = vs_location.LocationPolicy(
            host=self.session.host, port=self.session.port,
            image_dir=self.image_dir, datastores=self.targets.allowed,
            aliases=aliases)
        self._url_prefix = vs_location.url_prefix(
            self.session.host, self.session.port, self.image_dir)
        self._partials = self._reclaimer()
        super().configure(re_raise_bsc=re_raise_bsc)

    def configure_add(self):
        # Look the datastores up now, so that mistakes show in the log at
        # start-up; vCenter being down must not stop Glance.
        if self._ca_problem:
            return
        try:
            self.targets.usable()
        except (errors.NotAuthenticated, errors.ConfigurationError) as e:
            self.log.error('%s', store_config.explain(e))
        except errors.VSphereError as e:
            self.log.warning('cannot look up the configured datastores yet, '
                             'they are looked up on first use: %s', e)
        self._sweep_partials()

    def _reclaimer(self):
        conf = self.store_conf
        problem = store_config.partial_age_problem(
            conf.vmware_partial_file_max_age, conf.vmware_http_timeout)
        if problem:
            raise self._bad_config(problem)
        if not conf.vmware_partial_file_sweep_interval:
            return None
        return partials.Reclaimer(
            self.files, max_age=conf.vmware_partial_file_max_age,
            interval=conf.vmware_partial_file_sweep_interval,
            label=self.label)

    def _sweep_partials(self, image=None):
        """Ask (in the background) for sweeps for abandoned partial
        uploads in the image directories of the datastores found so far."""
        if self._partials is not None:
            dirs = [paths.DatastoreFile(dc, ds, self.image_dir)
                    for dc, ds in self.targets.resolved()]
            self._partials.request(dirs, image=image)

    # Datastore selection -------------------------------------------------

    def select_datastore(self, image_size):
        """The usable datastore with the highest weight and enough space."""
        try:
            return self._select_datastore(image_size)
        except errors.StaleReference as e:
            # vCenter rebuilt its inventory (e.g. restarted): every cached
            # reference may be gone.
            self.log.info('looking up the datastores again: %s', e)
            self.inventory.forget()
            self.targets.forget()
            self._made_dirs.clear()
            return self._select_datastore(image_size)

    def _select_datastore(self, image_size):
        reserve = self.store_conf.vmware_free_space_reserve_mb * units.Mi
        needed = (image_size or 0) + reserve
        candidates = self.targets.usable()
        if not candidates:
            mistake = self.targets.unusable_error()
            if mistake:
                raise mistake
        weights = {(dc, ds): w for w, dc, ds, _ref in candidates}
        states = self.inventory.states(
            [(dc, ds, ref) for _w, dc, ds, ref in candidates])
        usable = [s for s in states if s.usable]
        for state in states:
            if not state.usable:
                self.log.info('skipping datastore %s (accessible: %s, '
                              'maintenance mode: %s)', state.name,
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
        with self._errors('add image %s' % image_id, 'add'):
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
                # The directory may have gone: make sure of it next time.
                self._made_dirs.discard(
                    (final.datacenter, final.datastore, self.image_dir))
                if isinstance(e, errors.AlreadyExists):
                    raise exceptions.Duplicate(image=image_id) from None
                if source.error is not None:
                    raise source.error from None
                raise
            finally:
                self._sweep_partials()
        seconds = time.monotonic() - started
        self.log.info('stored image %s (%d bytes) as %s in %.1f s',
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
            self.log.warning('refused location of image %s: %s',
                             location.image_id, e)
            raise exceptions.BadStoreUri(
                message='location refused: %s' % e) from None

    @capabilities.check
    def get(self, location, offset=0, chunk_size=None, context=None):
        dsfile = self._checked_file(location)
        with self._errors('read %s' % dsfile, 'get'):
            chunks, size = self.http.get(dsfile, offset, chunk_size,
                                         self.READ_CHUNKSIZE)
        return self._translated(chunks, dsfile), size

    def get_size(self, location, context=None):
        dsfile = self._checked_file(location)
        with self._errors('get the size of %s' % dsfile, 'get_size'):
            size = self.http.size(dsfile)
        if size is None:
            raise exceptions.NotFound(image=location.image_id)
        return size

    @capabilities.check
    def delete(self, location, context=None):
        dsfile = self._checked_file(location)
        try:
            with self._errors('delete %s' % dsfile, 'delete'):
                self.files.delete(dsfile)
        finally:
            self._sweep_partials(image=(dsfile.parent(), dsfile.name))
        self.log.info('deleted %s', dsfile)

    # Errors --------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, what, op):
        """Run one store operation ``op`` (a key of _UNREACHABLE).

        Translates vSphere layer errors into glance_store exceptions that
        Glance answers with a status and our reason, and logs one line per
        failure.  A configuration mistake, refused credentials and an
        unreachable vCenter are 503 with the reason, which names the
        option to fix.
        """
        try:
            problem = store_config.ca_file_problem(
                self.store_conf.vmware_ca_file)
            if problem:
                raise store_config.Mistake(problem)
            yield
        except errors.NotFound as e:
            raise exceptions.NotFound(message=str(e)) from None
        except errors.AlreadyExists as e:
            raise exceptions.Duplicate(message=str(e)) from None
        except exceptions.StorageFull as e:
            self.log.error('cannot %s: %s', what, e.msg)
            raise
        except (errors.Unreachable, errors.StaleReference,
                errors.ConnectionLost, errors.NotAuthenticated,
                errors.ConfigurationError, store_config.Mistake) as e:
            reason = 'cannot %s: %s' % (what, store_config.explain(e))
            self.log.error('%s', reason)
            table = (_UNREACHABLE if isinstance(e, (errors.Unreachable,
                                                    errors.StaleReference,
                                                    errors.ConnectionLost))
                     else _MISCONFIGURED)
            raise table[op](message='%s: %s' % (self.label, reason)) \
                from None
        except errors.VSphereError as e:
            self.log.error('cannot %s: %s', what, e)
            raise exceptions.BackendException(
                '%s: cannot %s: %s' % (self.label, what, e)) from None

    def _translated(self, chunks, dsfile):
        with self._errors('read %s' % dsfile, 'get'):
            yield from chunks


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
