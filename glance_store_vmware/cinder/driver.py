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

"""Cinder's ``VMwareVcVmdkDriver``, copying image data inside vSphere.

For a flat (preallocated, thin, thick, eagerZeroedThick) or sparse VMDK
image, Cinder 29 creates a disk-less backing, puts the image file on a
datastore (the flat extent under a descriptor it created, or the sparse
file it then converts with ``CopyVirtualDisk``), attaches the disk,
clones the backing when the volume type's ``vmware:vmdk_type`` needs
another disk type, and extends the disk to the volume size.  Only the step
that moves the bytes, ``_copy_image``, changes here: Cinder uploads the
image from Glance through cinder-volume over HTTP; this driver first
copies the image's own file inside vSphere (``CopyDatastoreFile_Task``),
if the image has a ``vsphere://`` location that the shared location policy
allows, and checks the copy's size against Glance's.  Everything else,
and every failure path, stays Cinder's own, so the volume's backing ends
where, and as, Cinder's path would put it.  When the copy is not possible
or fails, the reason is logged, whatever the copy wrote is removed, and
Cinder's upload runs as if nothing had happened.

Cinder's own vSphere copy (``_get_vsphere_url``, taken when the image's
``direct_url`` is a ``vsphere://`` URL) checks nothing: not the host (it
resolves the URL's datacenter in its own vCenter), not the datastore or
path, not the size.  It is turned off; the checked copy replaces it for
both shapes of locations Cinder's image service returns (the locations API
list, or ``direct_url``).

streamOptimized and OVA images go through Cinder's NFC import
(``_fetch_stream_optimized_image``): Cinder makes the import spec of the
volume's backing, and, while this driver's call of it runs, the upload
(oslo.vmware's ``download_stream_optimized_image``, as ``vmdk.py`` calls
it) first tries the shared host pull (``image_copy.pull``): the same
import lease, filled by the ESXi host from the image's location.  When the
pull is not possible or fails, the reason is logged, the half-imported
backing is gone, and Cinder's upload runs with its own arguments.
"""

import contextvars

from cinder import exception
from cinder.volume.drivers.vmware import vmdk
from oslo_config import cfg
from oslo_log import log as logging

from glance_store_vmware import opts
from glance_store_vmware.image_copy import discovery
from glance_store_vmware.image_copy import engine as engine_mod
from glance_store_vmware.image_copy import image as image_mod
from glance_store_vmware.image_copy import policy
from glance_store_vmware.image_copy import pull
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
LOCATIONS_GROUP = opts.CINDER_LOCATIONS_GROUP

opts.register_keystone_opts(CONF, LOCATIONS_GROUP)

# What the volume manager gave clone_image (the image's id, locations and
# record), for _copy_image further down the same call: no second request
# to Glance.  A context variable, as cinder-volume serves requests
# concurrently.
_GIVEN = contextvars.ContextVar('glance_store_vmware_cinder_image',
                                default=(None, None, None))


# The driver whose _fetch_stream_optimized_image is running, for the
# diverted upload below; a context variable for the same reason.
_PULLING = contextvars.ContextVar('glance_store_vmware_cinder_pull',
                                  default=None)


class _PullFirstImageTransfer:
    """oslo.vmware's ``image_transfer`` module as Cinder's ``vmdk.py``
    calls it, whose ``download_stream_optimized_image`` tries the host's
    pull first, but only inside ``VSphereImagesVmdkDriver.
    _fetch_stream_optimized_image``: other drivers, and every other call,
    get oslo.vmware's function (looked up at each call, as a patched one
    would be)."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def download_stream_optimized_image(self, context, timeout_secs,
                                        image_service, image_id, **kwargs):
        driver = _PULLING.get()
        if driver is not None:
            backing = driver._pulled_by_host(context, image_service,
                                             image_id, kwargs)
            if backing is not None:
                return backing
        return self._module.download_stream_optimized_image(
            context, timeout_secs, image_service, image_id, **kwargs)


def _pull_first():
    """Route ``vmdk.py``'s upload through ``_PullFirstImageTransfer``
    (once per process)."""
    if not isinstance(vmdk.image_transfer, _PullFirstImageTransfer):
        vmdk.image_transfer = _PullFirstImageTransfer(vmdk.image_transfer)


def image_from_meta(image_id, meta):
    """The ``Image`` that Cinder's image service describes (``show``)."""
    properties = meta.get('properties') or {}
    return image_mod.Image(
        id=image_id, size=meta.get('size') or None,
        disk_format=meta.get('disk_format') or 'vmdk',
        disk_type=properties.get('vmware_disktype') or 'preallocated',
        container_format=meta.get('container_format') or 'bare',
        virtual_size=meta.get('virtual_size') or None)



# Flat extents like a 'preallocated' image's, but refused by Cinder 29's
# ImageDiskType, which knows only preallocated, thin, sparse and
# streamOptimized.
_FLAT_AS_PREALLOCATED = frozenset(('thick', 'eagerZeroedThick'))


class _FlatImagesAsPreallocated:
    """Cinder's image service, describing thick and eagerZeroedThick
    images as the flat extents they are: 'preallocated'."""

    def __init__(self, image_service):
        self._service = image_service

    def __getattr__(self, name):
        return getattr(self._service, name)

    def show(self, context, image_id):
        meta = self._service.show(context, image_id)
        properties = meta.get('properties') or {}
        if properties.get('vmware_disktype') in _FLAT_AS_PREALLOCATED:
            meta = dict(meta, properties=dict(
                properties, vmware_disktype='preallocated'))
        return meta


class VSphereImagesVmdkDriver(vmdk.VMwareVcVmdkDriver):
    """``VMwareVcVmdkDriver`` whose volumes from images are made by a
    checked copy inside vSphere when the image's location allows it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(opts.CINDER_OPTS)
        self._policy_config = None
        self._glance_locations = None
        self._engine = None
        self._locations = None
        self._puller = None
        _pull_first()

    @staticmethod
    def get_driver_options():
        return vmdk.VMwareVcVmdkDriver.get_driver_options() + opts.CINDER_OPTS

    def do_setup(self, context):
        # Refused before Cinder logs in: a bad option stops this backend.
        self._policy_config = self._checked_policy_config()
        self._glance_locations = self._make_locations_api()
        super().do_setup(context)

    def _checked_policy_config(self):
        conf = self.configuration
        try:
            return policy.PolicyConfig.from_options(
                conf.vmware_host_ip, conf.vmware_host_port,
                host_aliases=conf.vsphere_image_location_host_aliases,
                image_dir=conf.vsphere_image_dir,
                datastores=conf.vsphere_image_datastores,
                require_image_id_name=(
                    conf.vsphere_image_require_image_id_file_name),
                datastores_option='vsphere_image_datastores',
                aliases_option='vsphere_image_location_host_aliases')
        except ValueError as e:
            LOG.error('Invalid VMDK backend configuration: %s', e)
            raise exception.InvalidInput(reason=str(e))

    def _make_locations_api(self):
        if not self.configuration.vsphere_image_use_locations_api:
            return None
        try:
            return discovery.api_from_conf(CONF, LOCATIONS_GROUP)
        except Exception as e:
            LOG.error('Invalid [%s] configuration: %s', LOCATIONS_GROUP,
                      errors.describe(e))
            raise exception.InvalidInput(
                reason='[%s]: %s' % (LOCATIONS_GROUP, errors.describe(e)))

    def clone_image(self, context, volume, image_location, image_meta,
                    image_service):
        # Cinder's clone_image makes the volume by copy_image_to_volume.
        token = _GIVEN.set((image_meta['id'], image_location, image_meta))
        try:
            return super().clone_image(context, volume, image_location,
                                       image_meta, image_service)
        finally:
            _GIVEN.reset(token)

    def copy_image_to_volume(self, context, volume, image_service, image_id,
                             **kwargs):
        # The volume manager comes here through clone_image, with the
        # image record: only a thick or eagerZeroedThick image needs
        # Cinder to be told it is a flat extent.
        given_id, _location, meta = _GIVEN.get()
        properties = (meta or {}).get('properties') or {}
        if (given_id == image_id and properties.get('vmware_disktype')
                in _FLAT_AS_PREALLOCATED):
            image_service = _FlatImagesAsPreallocated(image_service)
        return super().copy_image_to_volume(
            context, volume, image_service, image_id, **kwargs)

    def _get_vsphere_url(self, context, image_service, image_id):
        # Cinder's unchecked copy; _copy_image makes the checked one.
        return None

    def _copy_image(self, context, dc_ref, image_service, image_id,
                    image_size_in_bytes, ds_name, upload_file_path):
        try:
            reason = self._copy_in_vsphere(
                context, dc_ref, image_service, image_id,
                image_size_in_bytes, ds_name, upload_file_path)
        except Exception as e:
            LOG.debug('vSphere copy failure', exc_info=True)
            reason = 'the vSphere copy failed: %s' % errors.describe(e)
        if reason is None:
            return
        LOG.info('Image %s is not copied inside vSphere, uploading it '
                 'through this volume node: %s', image_id, reason)
        super()._copy_image(context, dc_ref, image_service, image_id,
                            image_size_in_bytes, ds_name, upload_file_path)

    def _fetch_stream_optimized_image(self, context, volume, image_service,
                                      image_id, image_size, adapter_type):
        # Cinder's import, whose upload tries the host's pull first.
        token = _PULLING.set(self)
        try:
            return super()._fetch_stream_optimized_image(
                context, volume, image_service, image_id, image_size,
                adapter_type)
        finally:
            _PULLING.reset(token)

    def _pulled_by_host(self, context, image_service, image_id, upload):
        """The backing imported by the host's pull, with the import
        arguments of Cinder's upload (``upload``); None if not pulled
        (why is logged; nothing of the attempt is left)."""
        if not self.configuration.vsphere_image_pull:
            return None
        try:
            image, finder = self._image_and_locations(context,
                                                      image_service, image_id)
            self._copier()
            return self._puller.import_image(
                image, finder,
                pull.ImportTarget(upload['resource_pool'],
                                  upload['vm_folder'],
                                  upload['vm_import_spec']))
        except pull.NotPulled as e:
            reason = str(e)
        except Exception as e:
            LOG.debug('Pull failure', exc_info=True)
            reason = 'the host\'s pull failed: %s' % errors.describe(e)
        LOG.info('Image %s is not pulled by the host, uploading it through '
                 'this volume node: %s', image_id, reason)
        return None

    def _image_and_locations(self, context, image_service, image_id):
        """The ``Image`` and a finder of its locations, from what the
        volume manager gave clone_image if it was this image."""
        given_id, given_location, given_meta = _GIVEN.get()
        if given_id != image_id:
            given_location = given_meta = None
        if given_meta is None:
            given_meta = image_service.show(context, image_id)

        def record():
            direct_url, locations = (
                given_location if given_location is not None
                else image_service.get_location(context, image_id))
            return {'direct_url': direct_url, 'locations': locations}

        return (image_from_meta(image_id, given_meta),
                discovery.locations_finder(
                    image_id, api=self._glance_locations, record=record))

    def _copy_in_vsphere(self, context, dc_ref, image_service, image_id,
                         size, ds_name, file_path):
        """Copy the image's file to ``file_path`` on ``ds_name``; None if
        done, else why not.  Whatever it wrote is gone when it fails."""
        image, finder = self._image_and_locations(context, image_service,
                                                  image_id)
        if image.size != size:
            return ('Glance gives the image %s bytes, Cinder expects %s'
                    % (image.size, size))
        engine, chooser = self._copier()
        reasons = []
        source = chooser.choose(image, finder, reasons)
        if source is None:
            return '; '.join(reasons)
        dest = paths.DatastoreFile(self._dc_path(dc_ref), ds_name, file_path)
        try:
            engine.copy_file(source, dest, size)
        except Exception as e:
            LOG.warning('Image %s: copying %s to %s failed: %s', image_id,
                        source, dest, errors.describe(e))
            return 'copying from %s failed: %s' % (source, errors.describe(e))
        LOG.info('Image %s copied inside vSphere from %s to %s', image_id,
                 source, dest)
        return None

    def _copier(self):
        """The copy engine on Cinder's session, and the location chooser
        (and the host puller sharing them); made when first needed (after
        Cinder has logged in)."""
        if self._engine is None:
            conf = self.configuration
            if self._policy_config is None:
                self._policy_config = self._checked_policy_config()
            vc = connection.VCenter.sharing(
                self.session, conf.vmware_host_ip,
                port=conf.vmware_host_port, ca_file=conf.vmware_ca_file,
                insecure=conf.vmware_insecure,
                timeout=conf.vsphere_image_vcenter_timeout,
                poll_interval=conf.vmware_task_poll_interval)
            self._locations = policy.LocationChooser(
                self._policy_config, vc.inventory, vc.http.size)
            self._engine = engine_mod.CopyEngine(vc.files, vc.http)
            self._puller = pull.ImagePuller(
                vc, self._locations,
                timeout=conf.vsphere_image_pull_timeout)
        return self._engine, self._locations

    def _dc_path(self, dc_ref):
        # "/DC0" -> "DC0", as Glance's locations and dcPath name it.
        path = (self.volumeops.get_inventory_path(dc_ref) or '').strip('/')
        if not path:
            raise ValueError('vCenter gave no inventory path for the '
                             'datacenter')
        return path
