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

Only the image-fetch step changes: before downloading an image from
Glance, the image handler tries a copy inside vSphere (another datastore's
image cache, then the image's ``vsphere://`` location).  Everything else
(the cache layout, locking, linked clones, the Glance download itself) is
Nova's.

Nova loads ``compute_driver`` only from its own ``nova.virt`` package;
``python -m glance_store_vmware.nova.shim`` installs the one-line module
that makes ``compute_driver = vsphere_images.VSphereImagesVCDriver`` work.
"""

from keystoneauth1 import loading as ks_loading
from nova.virt.vmwareapi import constants
from nova.virt.vmwareapi import driver as vmware_driver
from nova.virt.vmwareapi import ds_util
from nova.virt.vmwareapi import images
from nova.virt.vmwareapi import vm_util
from nova.virt.vmwareapi import vmops
from oslo_concurrency import lockutils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_vmware import vim_util as vutil

from glance_store_vmware import opts
from glance_store_vmware.nova import discovery
from glance_store_vmware.nova import handler as handler_mod
from glance_store_vmware.vsphere import files as files_mod
from glance_store_vmware.vsphere import inventory as inventory_mod
from glance_store_vmware.vsphere import session as session_mod

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
GROUP = opts.HANDLER_GROUP


def register_opts(conf):
    conf.register_opts(opts.HANDLER_OPTS, group=GROUP)
    ks_loading.register_session_conf_options(conf, GROUP)
    ks_loading.register_auth_conf_options(conf, GROUP)
    ks_loading.register_adapter_conf_options(conf, GROUP,
                                             include_deprecated=False)
    conf.set_default('service_type', 'image', group=GROUP)


register_opts(CONF)


def _no_vsphere_location(context, image_id):
    # Nova's own lookup asks Glance on every spawn, even on a cache hit,
    # and copies the first vsphere:// location without any check.  The
    # handler finds locations itself, after looking at the caches.
    return None


def _parse_alias(entry, default_port):
    entry = entry.strip()
    if entry.startswith('['):
        host, _sep, rest = entry[1:].partition(']')
        port = rest[1:] if rest.startswith(':') else ''
    elif entry.count(':') == 1:
        host, _sep, port = entry.partition(':')
    else:
        host, port = entry, ''
    return host, int(port) if port else default_port


def handler_config(conf=CONF):
    group = conf[GROUP]
    port = conf.vmware.host_port
    return handler_mod.HandlerConfig(
        host=conf.vmware.host_ip, port=port,
        host_aliases=tuple(_parse_alias(a, port)
                           for a in group.location_host_aliases if a),
        image_dir=group.image_dir,
        datastores=tuple(opts.parse_datastore_entry(e)[:2]
                         for e in group.image_datastores),
        require_image_id_name=group.require_image_id_file_name,
        search_peer_caches=group.search_peer_caches)


def locations_api(conf=CONF):
    """The service-role locations client, or None if not configured."""
    group = conf[GROUP]
    if not group.use_locations_api or not group.auth_type:
        return None
    auth = ks_loading.load_auth_from_conf_options(conf, GROUP)
    sess = ks_loading.load_session_from_conf_options(conf, GROUP, auth=auth)
    adapter = ks_loading.load_adapter_from_conf_options(
        conf, GROUP, session=sess, auth=auth)
    return discovery.GlanceLocationsAPI(adapter)


class VSphereImagesVMOps(vmops.VMwareVMOps):
    """``VMwareVMOps`` whose image fetch tries a vSphere copy first."""

    def __init__(self, *args, image_handler, glance_locations=None, **kw):
        super().__init__(*args, **kw)
        self._image_handler = image_handler
        self._glance_locations = glance_locations
        self._dc_paths = {}

    def _fetch_image_if_missing(self, context, vi):
        # Nova's method, with the vSphere copy in front of the Glance
        # download and the temporary directory removed on failure too.
        image_prepare, image_fetch, image_cache = self._get_image_callbacks(vi)
        LOG.debug("Processing image %s", vi.ii.image_id, instance=vi.instance)
        with lockutils.lock(str(vi.cache_image_path),
                            lock_file_prefix='nova-vmware-fetch_image'):
            self.check_cache_folder(vi.datastore.name, vi.datastore.ref)
            ds_browser = self._get_ds_browser(vi.datastore.ref)
            if not ds_util.file_exists(self._session, ds_browser,
                                       vi.cache_image_folder,
                                       vi.cache_image_path.basename):
                result = self.fill_cache_in_vsphere(context, vi)
                if result.fell_back:
                    self._fetch_through_glance(context, vi, image_prepare,
                                               image_fetch, image_cache)
            if vi.ii.disk_type == constants.DISK_TYPE_SPARSE:
                self._update_image_size(vi)

    def fill_cache_in_vsphere(self, context, vi):
        ii = vi.ii
        image = handler_mod.Image(
            id=ii.image_id, size=ii.file_size or None,
            disk_format=ii.file_type, disk_type=ii.disk_type,
            container_format=ii.container_format or 'bare',
            adapter_type=vm_util.get_vmdk_adapter_type(ii.adapter_type))
        target = handler_mod.CacheTarget(
            datacenter=self._dc_path(vi.dc_info.ref),
            datastore=vi.datastore.name,
            cache_dir=vi.cache_image_folder.parent.rel_path,
            tmp_dir=self._tmp_folder)

        def record():
            return images.IMAGE_API.get(context, ii.image_id,
                                        include_locations=True)

        finder = discovery.locations_finder(
            ii.image_id, api=self._glance_locations, record=record)
        result = self._image_handler.fill_cache(image, target, finder)
        if result.fell_back:
            LOG.info('Image %s is not copied inside vSphere: %s',
                     ii.image_id, result.reason, instance=vi.instance)
        return result

    def _fetch_through_glance(self, context, vi, image_prepare, image_fetch,
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

    def _dc_path(self, dc_ref):
        key = vutil.get_moref_value(dc_ref)
        if key not in self._dc_paths:
            # "/DC0" -> "DC0", as Glance's locations and dcPath name it.
            self._dc_paths[key] = vutil.get_inventory_path(
                self._session.vim, dc_ref).lstrip('/')
        return self._dc_paths[key]


class VSphereImagesVCDriver(vmware_driver.VMwareVCDriver):
    """``VMwareVCDriver`` that fills its image cache inside vSphere."""

    def __init__(self, virtapi, scheme='https'):
        super().__init__(virtapi, scheme=scheme)
        images.get_vsphere_location = _no_vsphere_location
        shared = session_mod.Session.from_api(
            self._session, CONF.vmware.host_ip, port=CONF.vmware.host_port,
            ca_file=CONF.vmware.ca_file, insecure=CONF.vmware.insecure)
        inventory = inventory_mod.Inventory(shared)
        # Nova's poll interval bounds the back-off, so that a copy is seen
        # finished as soon as Nova would see any task finished.
        files = files_mod.DatastoreFiles(
            shared, inventory,
            max_poll_interval=CONF.vmware.task_poll_interval)
        self.image_handler = handler_mod.ImageHandler(
            shared, handler_config(), inventory=inventory, files=files)
        self._vmops = VSphereImagesVMOps(
            self._session, virtapi, self._volumeops, self._cluster_ref,
            datastore_regex=self._datastore_regex,
            image_handler=self.image_handler,
            glance_locations=locations_api())
