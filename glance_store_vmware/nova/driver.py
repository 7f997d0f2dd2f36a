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

"""Nova's ``VMwareVCDriver``, filling its image cache inside vSphere.

Only the image-fetch step changes, in a ``VMwareVMOps`` subclass: under
Nova's image lock an incomplete cache entry (left by a crash) is deleted,
then, before downloading an image from Glance, the image handler tries a
size-checked copy inside vSphere (another datastore's image cache, then
the image's ``vsphere://`` location).  Nothing the copy attempt raises
reaches Nova: it falls back to Nova's Glance download.  Everything else
(the cache layout, locking, linked clones, the Glance download itself) is
Nova's, and nothing of Nova's is changed outside the driver's instance.
streamOptimized and OVA images, which vSphere imports through an NFC lease
(``_fetch_image_as_vapp`` / ``_fetch_image_as_ova``), are imported the same
way, but the ESXi host pulls them from their location
(``image_copy.pull``); Nova's upload through this node is the fallback.
``cache_image`` (Nova's image pre-cache API, which Nova's VMware driver
lacks) runs the same fetch on every datastore a spawn may use.

Nova loads ``compute_driver`` only from its own ``nova.virt`` package;
``python -m glance_store_vmware.nova.shim`` installs the one-line module
that makes ``compute_driver = vsphere_images.VSphereImagesVCDriver`` work.
"""

import copy
import types

from nova import objects
from nova.virt.vmwareapi import constants
from nova.virt.vmwareapi import driver as vmware_driver
from nova.virt.vmwareapi import ds_util
from nova.virt.vmwareapi import images
from nova.virt.vmwareapi import vm_util
from nova.virt.vmwareapi import vmops
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_vmware import exceptions as vexc
from oslo_vmware import vim_util as vutil

from glance_store_vmware import opts
from glance_store_vmware.image_copy import discovery
from glance_store_vmware.image_copy import pull
from glance_store_vmware.nova import handler as handler_mod
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
GROUP = opts.HANDLER_GROUP


def register_opts(conf):
    conf.register_opts(opts.HANDLER_OPTS, group=GROUP)
    # With a bounded timeout: a hanging Glance must not hold a spawn
    # inside Nova's image lock.
    opts.register_keystone_opts(conf, GROUP)


register_opts(CONF)


def handler_config(conf=CONF):
    """The handler's configuration; ValueError naming the option and the
    entry if ``image_datastores`` holds a bad entry."""
    group = conf[GROUP]
    return handler_mod.HandlerConfig.from_options(
        conf.vmware.host_ip, conf.vmware.host_port,
        host_aliases=group.location_host_aliases,
        image_dir=group.image_dir,
        datastores=group.image_datastores,
        require_image_id_name=group.require_image_id_file_name,
        datastores_option='image_datastores',
        aliases_option='location_host_aliases',
        search_peer_caches=group.search_peer_caches,
        pull_timeout=group.image_pull_timeout)


def checked_handler_config(conf=CONF):
    """``handler_config``, refusing a bad configuration loudly: an ERROR
    naming the option and entry, then the ValueError (nova-compute does
    not start)."""
    try:
        return handler_config(conf)
    except ValueError as e:
        LOG.error('Invalid [%s] configuration: %s', GROUP, e)
        raise


def locations_api(conf=CONF):
    """The service-role locations client, or None if not configured."""
    if not conf[GROUP].use_locations_api:
        return None
    return discovery.api_from_conf(conf, GROUP)


def make_image_handler(nova_session, config=None, conf=CONF):
    """An image handler sharing Nova's vCenter session."""
    vc = connection.VCenter.sharing(
        nova_session, conf.vmware.host_ip, port=conf.vmware.host_port,
        ca_file=conf.vmware.ca_file, insecure=conf.vmware.insecure,
        timeout=conf[GROUP].vcenter_timeout,
        poll_interval=conf.vmware.task_poll_interval)
    return handler_mod.ImageHandler(
        vc.session, config or checked_handler_config(conf),
        inventory=vc.inventory, files=vc.files, http=vc.http)


class VSphereImagesVMOps(vmops.VMwareVMOps):
    """``VMwareVMOps`` whose image fetch tries a vSphere copy first (the
    host's pull for images Nova imports), and heals incomplete cache
    entries.

    Takes Nova's constructor arguments; without ``image_handler`` it makes
    its own from Nova's session when first needed.
    """

    def __init__(self, *args, image_handler=None, glance_locations=None,
                 **kw):
        super().__init__(*args, **kw)
        self._image_handler = image_handler
        self._glance_locations = glance_locations
        self._dc_paths = {}
        self._virtual_sizes = {}
        # Cache folders being filled by Nova's own path: folder -> vi.
        self._caching = {}

    @property
    def image_handler(self):
        if self._image_handler is None:
            self._image_handler = make_image_handler(self._session)
        return self._image_handler

    # Glance's virtual_size, which Nova's VMwareImage does not keep: the
    # size a converted (sparse, stream-optimized, OVA) disk must have.

    def spawn(self, context, instance, image_meta, *args, **kwargs):
        self._remember_virtual_size(image_meta)
        return super().spawn(context, instance, image_meta, *args, **kwargs)

    def rescue(self, context, instance, network_info, image_meta):
        self._remember_virtual_size(image_meta)
        return super().rescue(context, instance, network_info, image_meta)

    def _remember_virtual_size(self, image_meta):
        try:
            if (image_meta.obj_attr_is_set('id')
                    and image_meta.obj_attr_is_set('virtual_size')
                    and image_meta.virtual_size):
                self._virtual_sizes[image_meta.id] = image_meta.virtual_size
        except Exception:  # an image_meta stand-in without these fields
            pass

    def _get_image_callbacks(self, vi):
        # Nova's own vsphere:// path copies the first location without any
        # check (not its vCenter, not its size): its Glance download is
        # used instead when our checked copy did not happen.
        prepare, fetch, cache = super()._get_image_callbacks(vi)
        if fetch == self._fetch_vsphere_image:
            fetch = self._fetch_image_as_file
        return prepare, fetch, cache

    def _fetch_image_if_missing(self, context, vi):
        # Nova's method, with: an incomplete cache entry deleted first, the
        # vSphere copy in front of the Glance download, and the temporary
        # directory removed on failure too.  True if it filled the cache
        # (pre-caching reports it; spawn ignores it).
        image_prepare, image_fetch, image_cache = self._get_image_callbacks(vi)
        LOG.debug("Processing image %s", vi.ii.image_id, instance=vi.instance)
        with lockutils.lock(str(vi.cache_image_path),
                            lock_file_prefix='nova-vmware-fetch_image'):
            self.check_cache_folder(vi.datastore.name, vi.datastore.ref)
            ds_browser = self._get_ds_browser(vi.datastore.ref)
            cached = ds_util.file_exists(self._session, ds_browser,
                                         vi.cache_image_folder,
                                         vi.cache_image_path.basename)
            # An entry whose descriptor exists is checked here; a folder
            # without it (empty, or an extent only) is replaced where the
            # new copy is moved in (_move_to_cache and the handler), which
            # costs no extra vSphere call on a cache miss.
            if cached and self._heal_cached(vi):
                cached = False
            if not cached:
                if self._copied_in_vsphere(context, vi):
                    LOG.debug('Image %s cached by a vSphere copy',
                              vi.ii.image_id, instance=vi.instance)
                else:
                    self._fetch_through_glance(context, vi, image_prepare,
                                               image_fetch, image_cache)
            if vi.ii.disk_type == constants.DISK_TYPE_SPARSE:
                self._update_image_size(vi)
        return not cached

    # Pre-caching (Nova's image pre-cache API).

    def cache_image(self, context, image_id):
        """Put the image into the cache of every datastore a spawn may
        use, as a spawn fills it; True if any cache was filled.

        Each datastore is tried; if any failed, the first failure is
        raised once the others were filled.
        """
        image_meta = objects.ImageMeta.from_dict(
            images.IMAGE_API.get(context, image_id))
        self._remember_virtual_size(image_meta)
        image_info = images.VMwareImage.from_image(context, image_id,
                                                   image_meta)
        stand_in = _PreCaching(image_id)
        filled = False
        failures = []
        for ds in self._cache_datastores(image_info):
            dc_info = self.get_datacenter_ref_and_name(ds.ref)
            # Its own copy: the fill updates a converted disk's size.
            vi = vmops.VirtualMachineInstanceConfigInfo(
                stand_in, copy.copy(image_info), ds, dc_info,
                self._imagecache)
            try:
                # As spawn does: an entry pending deletion by the cache
                # aging is in use again, and aging waits for the fill.
                self._imagecache.enlist_image(image_id, ds, dc_info.ref)
                filled = self._fetch_image_if_missing(context, vi) or filled
            except Exception as e:
                LOG.error('Pre-caching image %s on %s failed: %s', image_id,
                          ds.name, errors.describe(e))
                failures.append(e)
        if failures:
            raise failures[0]
        return filled

    def _cache_datastores(self, image_info):
        """The datastores a spawn of the image may use, by Nova's choice:
        ``[vmware] datastore_regex``, accessible, not in maintenance (the
        datastores Nova's cache aging manages), without vSAN for disks Nova
        does not place there."""
        allowed = ds_util.get_allowed_datastore_types(image_info.disk_type)
        for ds in ds_util.get_available_datastores(
                self._session, self._cluster, self._datastore_regex):
            if (allowed == ds_util.ALL_SUPPORTED_DS_TYPES
                    or self._session._call_method(
                        vutil, 'get_object_property', ds.ref,
                        'summary.type') in allowed):
                yield ds

    # Healing.

    def _heal_cached(self, vi):
        """Delete the cache entry if it is incomplete; True if deleted.
        An entry that cannot be looked at is left alone."""
        try:
            problem = self.image_handler.entry_problem(
                self._image(vi), self._target(vi))
        except Exception as e:
            LOG.warning('Cannot check the cache entry of image %s on %s, '
                        'using it as it is: %s', vi.ii.image_id,
                        vi.datastore.name, errors.describe(e),
                        instance=vi.instance)
            return False
        if problem is None:
            return False
        self._delete_cache_folder(vi, problem)
        return True

    def _move_to_cache(self, dc_ref, src_folder_ds_path, dst_folder_ds_path):
        # Nova's method ignores a cache folder that exists already, which
        # leaves an incomplete one (empty, or an extent without descriptor)
        # in place for good.  Under the image lock, a folder without the
        # image's descriptor is incomplete: it is replaced.
        vi = self._caching.get(str(dst_folder_ds_path))
        if vi is None:
            return super()._move_to_cache(dc_ref, src_folder_ds_path,
                                          dst_folder_ds_path)
        try:
            ds_util.file_move(self._session, dc_ref, src_folder_ds_path,
                              dst_folder_ds_path)
        except vexc.FileAlreadyExistsException:
            problem = self._folder_problem(vi)
            if problem is None:
                # Complete (another process was first), or unknown: Nova's
                # behaviour.
                LOG.warning("Destination %s already exists! Concurrent moves "
                            "can lead to unexpected results.",
                            dst_folder_ds_path)
                return
            self._delete_cache_folder(vi, problem)
            ds_util.file_move(self._session, dc_ref, src_folder_ds_path,
                              dst_folder_ds_path)

    def _cache_stream_optimized_image(self, vi, tmp_image_ds_loc):
        # Nova's method makes the cache folder first, which fails if an
        # incomplete one exists (under the image lock, the descriptor is
        # missing, or this would be a cache hit).
        try:
            return super()._cache_stream_optimized_image(vi,
                                                         tmp_image_ds_loc)
        except vexc.FileAlreadyExistsException:
            problem = self._folder_problem(vi)
            if problem is None:
                raise
            self._delete_cache_folder(vi, problem)
            return super()._cache_stream_optimized_image(vi,
                                                         tmp_image_ds_loc)

    def _folder_problem(self, vi):
        """Why the existing cache folder of ``vi`` is incomplete; None if
        it is complete or cannot be looked at."""
        try:
            return self.image_handler.folder_problem(self._image(vi),
                                                     self._target(vi))
        except Exception as e:
            LOG.warning('Cannot check the cache entry %s on %s: %s',
                        vi.cache_image_folder, vi.datastore.name,
                        errors.describe(e), instance=vi.instance)
            return None

    def _delete_cache_folder(self, vi, problem):
        LOG.warning('Image %s: the cache entry %s on %s is incomplete (%s); '
                    'deleting it and caching the image again',
                    vi.ii.image_id, vi.cache_image_folder, vi.datastore.name,
                    problem, instance=vi.instance)
        ds_util.file_delete(self._session, vi.cache_image_folder,
                            vi.dc_info.ref)

    # The vSphere copy.

    def _copied_in_vsphere(self, context, vi):
        """Try the vSphere copy; True if the image is now cached.  Nothing
        it raises reaches Nova: any failure means the Glance download."""
        try:
            return not self.fill_cache_in_vsphere(context, vi).fell_back
        except Exception as e:
            LOG.warning('Image %s: the vSphere copy failed, using the Glance '
                        'download: %s', vi.ii.image_id, errors.describe(e),
                        instance=vi.instance)
            LOG.debug('vSphere copy failure', exc_info=True)
            return False

    def _image(self, vi):
        ii = vi.ii
        return handler_mod.Image(
            id=ii.image_id, size=ii.file_size or None,
            disk_format=ii.file_type, disk_type=ii.disk_type,
            container_format=ii.container_format or 'bare',
            adapter_type=vm_util.get_vmdk_adapter_type(ii.adapter_type),
            virtual_size=self._virtual_sizes.get(ii.image_id))

    def _target(self, vi):
        return handler_mod.CacheTarget(
            datacenter=self._dc_path(vi.dc_info.ref),
            datastore=vi.datastore.name,
            cache_dir=vi.cache_image_folder.parent.rel_path,
            tmp_dir=self._tmp_folder)

    def _locations_finder(self, context, image_id):
        def record():
            return images.IMAGE_API.get(context, image_id,
                                        include_locations=True)

        return discovery.locations_finder(
            image_id, api=self._glance_locations, record=record)

    def fill_cache_in_vsphere(self, context, vi):
        image_id = vi.ii.image_id
        result = self.image_handler.fill_cache(
            self._image(vi), self._target(vi),
            self._locations_finder(context, image_id))
        if result.fell_back:
            LOG.info('Image %s is not copied inside vSphere: %s',
                     image_id, result.reason, instance=vi.instance)
        return result

    # The host's pull: streamOptimized and OVA images, which vSphere
    # imports through an NFC lease, filled by the host from the image's
    # location instead of by this node.

    def _fetch_image_as_vapp(self, context, vi, image_ds_loc):
        if not self._pulled_by_host(context, vi, image_ds_loc):
            super()._fetch_image_as_vapp(context, vi, image_ds_loc)

    def _fetch_image_as_ova(self, context, vi, image_ds_loc):
        if not self._pulled_by_host(context, vi, image_ds_loc):
            super()._fetch_image_as_ova(context, vi, image_ds_loc)

    def _pulled_by_host(self, context, vi, image_ds_loc):
        """Import the image as Nova's own fetch does (its import spec, VM
        name, datastore, folder and pool; the VM unregistered, its disk
        left for the cache), but pulled by the host; True if done.
        Nothing it raises reaches Nova: any failure means Nova's upload,
        and nothing of the attempt is left."""
        if not CONF[GROUP].image_pull:
            return False
        image_id = vi.ii.image_id
        try:
            # The directory of the imported disk is the VM's name.
            spec = images._build_import_spec_for_import_vapp(
                self._session, image_ds_loc.parent.basename,
                vi.datastore.name)
            capacity = self.image_handler.import_by_pull(
                self._image(vi), self._locations_finder(context, image_id),
                pull.ImportTarget(self._root_resource_pool,
                                  vi.dc_info.vmFolder, spec),
                finish=self._unregister_imported)
        except pull.NotPulled as e:
            LOG.info('Image %s is not pulled by the host, uploading it '
                     'through this node: %s', image_id, e,
                     instance=vi.instance)
            return False
        except Exception as e:
            LOG.warning('Image %s: the host\'s pull failed, uploading it '
                        'through this node: %s', image_id,
                        errors.describe(e), instance=vi.instance)
            LOG.debug('Pull failure', exc_info=True)
            return False
        # As Nova's fetch: the disk's capacity, not Glance's file size.
        vi.ii.file_size = capacity
        return True

    def _unregister_imported(self, vm_ref):
        vmdk = vm_util.get_vmdk_info(self._session, vm_ref)
        self._session._call_method(self._session.vim, 'UnregisterVM', vm_ref)
        return vmdk.capacity_in_bytes

    def _fetch_and_cache(self, context, vi, image_prepare, image_fetch,
                         image_cache):
        tmp_dir_loc = None
        try:
            tmp_dir_loc, tmp_image_ds_loc = image_prepare(vi)
            image_fetch(context, vi, tmp_image_ds_loc)
            image_cache(vi, tmp_image_ds_loc)
        finally:
            if tmp_dir_loc is not None:
                self._delete_datastore_file(str(tmp_dir_loc),
                                            vi.dc_info.ref)

    def _fetch_through_glance(self, context, vi, image_prepare, image_fetch,
                              image_cache):
        key = str(vi.cache_image_folder)
        self._caching[key] = vi
        try:
            self._fetch_and_cache(context, vi, image_prepare, image_fetch,
                                  image_cache)
        finally:
            self._caching.pop(key, None)

    def _dc_path(self, dc_ref):
        key = vutil.get_moref_value(dc_ref)
        path = self._dc_paths.get(key)
        if not path:
            # "/DC0" -> "DC0", as Glance's locations and dcPath name it.
            path = (self._inventory_path(dc_ref) or '').strip('/')
            if not path:
                # Not cached: the next spawn asks again.
                raise ValueError('vCenter gave no inventory path for '
                                 'datacenter %s' % key)
            self._dc_paths[key] = path
        return path

    def _inventory_path(self, dc_ref):
        return vutil.get_inventory_path(self._session.vim, dc_ref)


class _PreCaching:
    """Stands for the instance in Nova's cache fill, which reads only the
    image reference and the flavor's root disk size, and logs it."""

    def __init__(self, image_id):
        self.image_ref = image_id
        self.flavor = types.SimpleNamespace(root_gb=0)
        self._label = '[pre-caching image %s] ' % image_id

    def __str__(self):
        return self._label


class VSphereImagesVCDriver(vmware_driver.VMwareVCDriver):
    """``VMwareVCDriver`` that fills its image cache inside vSphere.

    Changes nothing of Nova's outside this instance: its own VMOps
    subclass carries every difference.
    """

    def __init__(self, virtapi, scheme='https'):
        # Refused before Nova logs in: a bad option stops nova-compute.
        config = checked_handler_config()
        super().__init__(virtapi, scheme=scheme)
        self.image_handler = make_image_handler(self._session, config)
        self._vmops = VSphereImagesVMOps(
            self._session, virtapi, self._volumeops, self._cluster_ref,
            datastore_regex=self._datastore_regex,
            image_handler=self.image_handler,
            glance_locations=locations_api())

    def cache_image(self, context, image_id):
        """Nova's image pre-cache API (``openstack aggregate cache
        image``): see ``VSphereImagesVMOps.cache_image``."""
        return self._vmops.cache_image(context, image_id)
