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

"""A cinder-volume without database or message broker: just enough for
the real VMware VMDK driver's create-volume-from-image.

The volume manager's part is played by ``create_volume_from_image``: it
asks the image service for the image's locations and record, then calls
the driver's ``clone_image`` as Cinder 29's create-volume flow does.  The
database's part is played by ``VolumeTypes`` (extra specs) and unsaved
``Volume`` objects.
"""

import configparser
import os
import threading
import uuid

from tests import ini_files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CINDER_CONF = os.path.join(ROOT, 'etc', 'cinder.conf')
STOCK_DRIVER = 'cinder.volume.drivers.vmware.vmdk.VMwareVcVmdkDriver'
BACKEND = 'vmware-images'  # etc/cinder.conf's backend section


def _documented_driver():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(CINDER_CONF)
    return parser[BACKEND]['volume_driver']


# Ours, as etc/cinder.conf names it.
OUR_DRIVER = _documented_driver()
CHUNK = 64 * 1024

_lock = threading.Lock()
_configured = None


def configure(lock_path):
    """Load Cinder's configuration once per process: etc/cinder.conf, the
    documented file.  The vCenter of each test is set per driver
    (``backend_settings``)."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        from cinder import objects
        from cinder.common import config  # noqa: F401  (registers options)
        from oslo_concurrency import lockutils
        from oslo_config import cfg

        cfg.CONF([], project='cinder',
                 default_config_files=[_render_cinder_conf(lock_path)])
        lockutils.set_defaults(lock_path)
        objects.register_all()
        _configured = cfg.CONF
        return _configured


def _render_cinder_conf(lock_path):
    with open(CINDER_CONF) as f:
        text = f.read()
    text = ini_files.edit_ini(text, {
        'oslo_concurrency': {'lock_path': lock_path},
        # The example's datastore does not exist here: allow all (the
        # default); tests that restrict the datastores set them themselves.
        BACKEND: {'vsphere_image_datastores': None}})
    os.makedirs(lock_path, exist_ok=True)
    path = os.path.join(lock_path, 'cinder.conf')
    with open(path, 'w') as f:
        f.write(text)
    return path


def backend_settings(sim, host=None, port=None, documented_defaults=False):
    """``[vmware]`` options pointing the driver at simulator ``sim`` (or
    at ``host``/``port``, a proxy in front of it).

    ``documented_defaults``: keep the retry count and task poll interval
    at Cinder's defaults instead of the tests' fast values."""
    settings = dict(
        vmware_host_ip=host or sim.host,
        vmware_host_port=port or sim.port,
        vmware_host_username=sim.username,
        vmware_host_password=sim.password,
        vmware_ca_file=sim.ca_file,
        vmware_insecure=False,
        vmware_cluster_name=['DC0_C0'],
    )
    if not documented_defaults:
        settings.update(vmware_api_retry_count=2,
                        vmware_task_poll_interval=0.05)
    return settings


def volume_driver(class_path, settings, backend=BACKEND):
    """Load ``class_path`` as cinder-volume loads ``volume_driver``, with
    ``settings`` in the backend's section, and set it up.  The settings
    are set once the driver has registered its options."""
    from cinder import context
    from cinder.volume import configuration
    from cinder.volume.drivers.vmware import vmdk
    from oslo_config import cfg
    from oslo_utils import importutils

    conf = configuration.Configuration(vmdk.vmdk_opts, config_group=backend)
    driver = importutils.import_object(
        class_path, configuration=conf, host='cinder-volume@%s' % backend,
        cluster_name=None, is_vol_db_empty=True, active_backend_id=None)
    try:
        for name, value in settings.items():
            cfg.CONF.set_override(name, value, group=backend)
        driver.do_setup(context.get_admin_context())
    except BaseException:
        clear_backend_settings(settings, backend)
        raise
    return driver


def clear_backend_settings(settings, backend=BACKEND):
    from oslo_config import cfg
    for name in settings:
        try:
            cfg.CONF.clear_override(name, group=backend)
        except cfg.NoSuchOptError:
            pass  # never registered, so never set


class VolumeTypes:
    """The volume types of Cinder's database: ``add(extra_specs)`` returns
    a type id that volumes can name."""

    def __init__(self):
        self.types = {}

    def add(self, **extra_specs):
        type_id = str(uuid.uuid4())
        self.types[type_id] = {
            'id': type_id, 'name': 'type-%s' % type_id[:8],
            'extra_specs': {'vmware:%s' % k: v
                            for k, v in extra_specs.items()}}
        return type_id

    def get_volume_type(self, ctxt, id, expected_fields=None):
        return dict(self.types[id])


class ImageService:
    """Cinder's Glance image service for images held in memory or in
    files, counting the image bytes it hands to the volume node.

    ``get_location`` answers in the shape ``location_api`` says:

    - ``True``: Cinder 27+ with Glance's locations API (the service user
      may read ``GET /v2/images/{id}/locations``): ``(None, [locations])``;
    - ``False``: the image record with ``show_image_direct_url`` (and
      ``show_multiple_locations``): ``(direct_url, [locations])``.
    """

    def __init__(self, location_api=True):
        self.location_api = location_api
        self.images = {}
        self.calls = []
        self.bytes_served = 0
        self._lock = threading.Lock()
        self.temp_images = None  # Cinder's TemporaryImages registers here

    def add(self, image_id, size, locations=(), *, data=None, path=None,
            disk_format='vmdk', container_format='bare', **properties):
        """An image whose bytes are ``data`` or the file ``path``."""
        record = {
            'id': image_id, 'name': 'image-%s' % image_id[:8],
            'status': 'active', 'size': size, 'disk_format': disk_format,
            'container_format': container_format, 'min_disk': 0,
            'min_ram': 0, 'owner': 'project', 'is_public': True,
            'deleted': False, 'checksum': None, 'properties': properties}
        self.images[image_id] = (record, list(locations), data, path)

    def set_locations(self, image_id, locations):
        record, _old, data, path = self.images[image_id]
        self.images[image_id] = (record, list(locations), data, path)

    def show(self, context, image_id):
        self.calls.append(('show', image_id))
        record = self.images[image_id][0]
        return dict(record, properties=dict(record['properties']))

    def get_location(self, context, image_id):
        self.calls.append(('get_location', image_id))
        urls = self.images[image_id][1]
        locations = [{'url': u, 'metadata': {}} for u in urls]
        if self.location_api:
            return None, locations
        return (urls[0] if urls else None), locations

    def download(self, context, image_id, data=None):
        self.calls.append(('download', image_id))
        chunks = self._chunks(image_id)
        if data is None:
            return chunks
        for chunk in chunks:
            data.write(chunk)

    def _chunks(self, image_id):
        _record, _locations, data, path = self.images[image_id]
        if path is None:
            for i in range(0, len(data), CHUNK):
                yield self._served(data[i:i + CHUNK])
            return
        with open(path, 'rb') as f:
            while chunk := f.read(1024 * 1024):
                yield self._served(chunk)

    def _served(self, chunk):
        with self._lock:
            self.bytes_served += len(chunk)
        return chunk


def new_volume(size_gb, volume_type_id=None):
    """An unsaved Volume as the API would hand it to the volume node."""
    from cinder import context
    from cinder import objects
    ctx = context.get_admin_context()
    volume = objects.Volume(
        context=ctx, id=str(uuid.uuid4()), size=size_gb,
        volume_type_id=volume_type_id, project_id='project',
        user_id='user', display_name='vol', status='creating',
        host='cinder-volume@%s#%s' % (BACKEND, BACKEND),
        encryption_key_id=None, attach_status='detached')
    volume._name_id = None
    return volume


def create_volume_from_image(driver, image_service, image_id, volume):
    """What Cinder 29's create-volume flow does for an image: look up the
    location and record (``CreateVolumeFromSpecTask``), then let the
    driver clone the image.  The VMDK driver always claims the clone."""
    from cinder import context
    ctx = context.get_admin_context()
    image_location = image_service.get_location(ctx, image_id)
    image_meta = image_service.show(ctx, image_id)
    model_update, cloned = driver.clone_image(ctx, volume, image_location,
                                              image_meta, image_service)
    if not cloned:
        raise AssertionError('%s did not clone the image'
                             % type(driver).__name__)
    return model_update


# What vCenter holds afterwards: backing VMs and their disks.

CONTROLLERS = {
    'VirtualLsiLogicController': 'lsiLogic',
    'VirtualBusLogicController': 'busLogic',
    'VirtualLsiLogicSASController': 'lsiLogicsas',
    'ParaVirtualSCSIController': 'paraVirtual',
    'VirtualIDEController': 'ide',
}


def virtual_machines(sim):
    """``{name: [device, ...]}`` of every VM in simulator ``sim``."""
    from oslo_vmware import vim_util
    session = sim.session()
    try:
        result = session.invoke_api(
            vim_util, 'get_objects', session.vim, 'VirtualMachine', 1000,
            ['name', 'config.hardware.device'])
        vms = {}
        while result:
            for obj in result.objects:
                props = {p.name: p.val for p in getattr(obj, 'propSet', [])}
                devices = props.get('config.hardware.device')
                vms[props['name']] = list(
                    getattr(devices, 'VirtualDevice', None) or [])
            result = session.invoke_api(vim_util, 'continue_retrieval',
                                        session.vim, result)
        return vms
    finally:
        session.logout()


def backing_disk(devices):
    """The one virtual disk of a backing: its file, capacity, provisioning
    (Cinder's ``vmware:vmdk_type`` names) and adapter type."""
    disks = [d for d in devices if type(d).__name__ == 'VirtualDisk']
    if len(disks) != 1:
        raise AssertionError('backing has %d disks' % len(disks))
    disk = disks[0]
    controllers = {d.key: type(d).__name__ for d in devices}
    backing = disk.backing
    if getattr(backing, 'thinProvisioned', False):
        vmdk_type = 'thin'
    elif getattr(backing, 'eagerlyScrub', False):
        vmdk_type = 'eagerZeroedThick'
    else:
        vmdk_type = 'thick'
    return dict(file=backing.fileName,
                capacity=int(getattr(disk, 'capacityInBytes', 0) or
                             disk.capacityInKB * 1024),
                vmdk_type=vmdk_type,
                adapter_type=CONTROLLERS.get(
                    controllers.get(disk.controllerKey)))


def datastore_files(sim):
    """``{(datastore, relative path): size}`` of every file in ``sim``."""
    files = {}
    for dc in sim.inventory['datacenters']:
        for ds in dc['datastores']:
            for root, _dirs, names in os.walk(ds['dir']):
                for name in names:
                    path = os.path.join(root, name)
                    files[(ds['name'], os.path.relpath(path, ds['dir']))] = (
                        os.path.getsize(path))
    return files


def store_image(sim, data, image_id, datastore='LocalDS_0', port=None):
    """Write ``data`` as our Glance store does (through the store, talking
    to ``port``, a proxy, when given); returns its location."""
    import io

    from tests.functional import glance_setup

    overrides = {'vmware_server_port': port} if port else {}
    _conf, store = glance_setup.single_store(
        sim, glance_setup.datastore_entries(sim, datastore), **overrides)
    return store.add(image_id, io.BytesIO(data), len(data), 'sha256')[0]
