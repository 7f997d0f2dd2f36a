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

"""The Cinder driver's decisions: copy inside vSphere or Cinder's upload.

Cinder's volumeops are mocked; the datastores are the in-memory vSphere of
the unit tests, behind the driver's real copy engine and location policy.
Cinder's upload (``VMwareVcVmdkDriver._copy_image``) is replaced by a
mock that records the fallback.
"""

import logging
from unittest import mock

from cinder import exception
from cinder.volume import configuration
from cinder.volume.drivers.vmware import vmdk
from cinder.volume.drivers.vmware import volumeops as cinder_volumeops
from oslo_config import cfg
import pytest

from glance_store_vmware import opts
from glance_store_vmware.cinder import driver as driver_mod
from glance_store_vmware.image_copy import policy
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors
from tests.unit.fake_vsphere import IMG
from tests.unit.fake_vsphere import SIZE
from tests.unit.fake_vsphere import VC
from tests.unit.fake_vsphere import FakeVSphere
from tests.unit.fake_vsphere import glance_file
from tests.unit.fake_vsphere import url

BACKEND = 'vmware-images-unit'
DEST = 'volume-1/volume-1-flat.vmdk'
DC_REF = mock.sentinel.dc_ref


class ImageService:
    """Cinder's GlanceImageService as the driver uses it."""

    def __init__(self, locations=(None, []), **meta):
        self.meta = {'id': IMG, 'size': SIZE, 'disk_format': 'vmdk',
                     'container_format': 'bare', 'properties': {}, **meta}
        self.locations = locations
        self.calls = []

    def show(self, context, image_id):
        self.calls.append('show')
        return self.meta

    def get_location(self, context, image_id):
        self.calls.append('get_location')
        if isinstance(self.locations, Exception):
            raise self.locations
        return self.locations


def api_shape(*urls):
    """What Cinder 27+ returns when Glance's locations API answers."""
    return (None, [{'url': u, 'metadata': {'store': 'vsphere'}}
                   for u in urls])


def direct_url_shape(direct, *others):
    """What Cinder returns from an image record with ``direct_url``."""
    return (direct, [{'url': u, 'metadata': {}} for u in (direct,) + others])


@pytest.fixture
def backend():
    """Sets options of the test backend section."""
    conf = cfg.CONF
    set_options = []

    def set_option(name, value):
        conf.set_override(name, value, group=BACKEND)
        set_options.append(name)
    yield set_option
    for name in set_options:
        conf.clear_override(name, group=BACKEND)


@pytest.fixture
def fake():
    return FakeVSphere(glance_file())


@pytest.fixture
def make_driver(backend, fake, monkeypatch):
    monkeypatch.setattr(
        connection.VCenter, 'sharing',
        classmethod(lambda cls, *a, **kw: connection.VCenter(
            None, fake, fake, fake)))
    uploads = mock.Mock(name='cinder upload')
    monkeypatch.setattr(vmdk.VMwareVcVmdkDriver, '_copy_image', uploads)

    def make(**options):
        config = configuration.Configuration(
            vmdk.vmdk_opts + opts.CINDER_OPTS, config_group=BACKEND)
        options.setdefault('vmware_host_ip', VC)
        for name, value in options.items():
            backend(name, value)
        driver = driver_mod.VSphereImagesVmdkDriver(configuration=config)
        driver._volumeops = mock.Mock(name='volumeops')
        driver._volumeops.get_inventory_path.return_value = '/DC1'
        driver.uploads = uploads
        return driver
    return make


def copy_image(driver, image_service, size=SIZE, ds='ds2', path=DEST):
    driver._copy_image(mock.sentinel.context, DC_REF, image_service, IMG,
                       size, ds, path)


def assert_uploaded_by_cinder(driver, image_service, size=SIZE, ds='ds2',
                              path=DEST):
    driver.uploads.assert_called_once_with(
        mock.sentinel.context, DC_REF, image_service, IMG, size, ds, path)


def copies(fake):
    return [op for op in fake.ops if op[0] == 'copy']


# Copies.

@pytest.mark.parametrize('locations', [
    api_shape(url()),
    api_shape('rbd://pool/img', url()),
    direct_url_shape(url()),
], ids=['locations-api', 'locations-api-second', 'direct-url'])
def test_allowed_location_is_copied_inside_vsphere(make_driver, fake,
                                                   locations, caplog):
    caplog.set_level(logging.INFO)
    driver = make_driver()
    service = ImageService(locations)
    copy_image(driver, service)
    driver.uploads.assert_not_called()
    assert copies(fake) == [('copy', '[ds1] openstack_glance/' + IMG,
                             '[ds2] ' + DEST)]
    assert fake.files[('DC1', 'ds2', DEST)] == SIZE
    assert 'copied inside vSphere' in caplog.text
    driver._volumeops.get_inventory_path.assert_called_once_with(DC_REF)


def test_sparse_image_file_is_copied_for_cinder_to_convert(make_driver,
                                                           fake):
    driver = make_driver()
    service = ImageService(api_shape(url()),
                           properties={'vmware_disktype': 'sparse'})
    copy_image(driver, service, path='cinder_temp/tmp.vmdk')
    driver.uploads.assert_not_called()
    assert fake.files[('DC1', 'ds2', 'cinder_temp/tmp.vmdk')] == SIZE


def test_our_locations_api_is_asked_first(make_driver, fake):
    driver = make_driver()
    driver._glance_locations = mock.Mock()
    driver._glance_locations.locations.return_value = [url()]
    service = ImageService(api_shape())
    copy_image(driver, service)
    driver.uploads.assert_not_called()
    driver._glance_locations.locations.assert_called_once_with(IMG)
    assert service.calls == ['show']


def test_our_locations_api_failing_means_cinders_locations(make_driver,
                                                           fake):
    from glance_store_vmware.image_copy import discovery
    driver = make_driver()
    driver._glance_locations = mock.Mock()
    driver._glance_locations.locations.side_effect = (
        discovery.LocationsUnavailable('HTTP 403'))
    service = ImageService(direct_url_shape(url()))
    copy_image(driver, service)
    driver.uploads.assert_not_called()
    assert service.calls == ['show', 'get_location']


def test_cinders_own_unchecked_copy_is_off(make_driver):
    driver = make_driver()
    assert driver._get_vsphere_url(mock.sentinel.context,
                                   ImageService(direct_url_shape(url())),
                                   IMG) is None


# Fallbacks, each with its logged reason.

@pytest.mark.parametrize('options,locations,reason', [
    ({}, api_shape(url(host='vc2.example.org')), 'not the configured'),
    ({}, direct_url_shape(url(host='vc.example.org:8443')),
     'not the configured'),
    ({'vsphere_image_datastores': ['DC1:ds3']}, api_shape(url()),
     'not a configured image datastore'),
    ({}, api_shape(url('vm1/' + IMG)), 'not an image file'),
    ({'vsphere_image_dir': '/images'}, api_shape(url()),
     'not an image file'),
    ({}, api_shape(url('openstack_glance/other-image')),
     'not named after image'),
    ({}, api_shape('vsphere://user:pw@%s/folder/openstack_glance/%s'
                   '?dcPath=DC1&dsName=ds1' % (VC, IMG)), 'credentials'),
    ({}, api_shape(url(ds='ds3')), 'does not exist'),
    ({}, api_shape(), 'no vsphere:// location'),
    ({}, (None, None), 'no vsphere:// location'),
    ({}, direct_url_shape('rbd://pool/image'), 'no vsphere:// location'),
    ({}, exception.ImageNotFound(image_id=IMG),
     'finding the locations failed'),
])
def test_refused_location_falls_back_to_cinders_upload(
        make_driver, fake, options, locations, reason, caplog):
    caplog.set_level(logging.INFO)
    driver = make_driver(**options)
    service = ImageService(locations)
    copy_image(driver, service)
    assert_uploaded_by_cinder(driver, service)
    assert copies(fake) == []
    [fallback] = [r for r in caplog.records
                  if 'uploading it through this volume node' in r.message]
    assert reason in fallback.message


def test_location_allowed_through_an_alias(make_driver, fake):
    driver = make_driver(
        vsphere_image_location_host_aliases=['vcenter.example.org:443'])
    copy_image(driver, ImageService(api_shape(url(
        host='vcenter.example.org'))))
    driver.uploads.assert_not_called()


def test_file_of_another_size_than_glances_falls_back(make_driver, fake,
                                                      caplog):
    caplog.set_level(logging.INFO)
    fake.files.update(glance_file(size=SIZE - 1))
    driver = make_driver()
    service = ImageService(api_shape(url()))
    copy_image(driver, service)
    assert_uploaded_by_cinder(driver, service)
    assert 'Glance says %d' % SIZE in caplog.text
    assert copies(fake) == []


@pytest.mark.parametrize('meta,reason', [
    ({'properties': {'vmware_disktype': 'streamOptimized'}}, 'NFC'),
    ({'container_format': 'ova'}, 'OVA'),
    ({'size': None}, 'bytes, Cinder expects'),
    ({'size': SIZE + 1}, 'bytes, Cinder expects'),
])
def test_images_that_cannot_be_copied_fall_back_without_asking(
        make_driver, fake, meta, reason, caplog):
    caplog.set_level(logging.INFO)
    driver = make_driver()
    service = ImageService(api_shape(url()), **meta)
    copy_image(driver, service)
    assert_uploaded_by_cinder(driver, service)
    assert service.calls == ['show']
    assert fake.ops == []
    assert reason in caplog.text


def test_image_service_failing_falls_back(make_driver, caplog):
    caplog.set_level(logging.INFO)
    driver = make_driver()
    service = mock.Mock()
    service.show.side_effect = exception.ImageNotAuthorized(image_id=IMG)
    copy_image(driver, service)
    assert_uploaded_by_cinder(driver, service)
    assert 'the vSphere copy failed: ImageNotAuthorized' in caplog.text


# A copy failing: nothing left, then Cinder's upload.

def test_copy_failing_midway_is_removed_then_cinder_uploads(make_driver,
                                                           fake, caplog):
    caplog.set_level(logging.INFO)
    fake.copies_break(SIZE // 3,
                      errors.TransferError('connection reset by vCenter'))
    driver = make_driver()
    service = ImageService(api_shape(url()))
    copy_image(driver, service)
    assert fake.under('volume-1') == []
    assert_uploaded_by_cinder(driver, service)
    assert 'connection reset by vCenter' in caplog.text


def test_short_copy_is_removed_then_cinder_uploads(make_driver, fake):
    fake.copies_come_out_short(by=1)
    driver = make_driver()
    service = ImageService(api_shape(url()))
    copy_image(driver, service)
    assert fake.under('volume-1') == []
    assert_uploaded_by_cinder(driver, service)


def test_datacenter_without_inventory_path_falls_back(make_driver, fake):
    driver = make_driver()
    driver._volumeops.get_inventory_path.return_value = ''
    service = ImageService(api_shape(url()))
    copy_image(driver, service)
    assert_uploaded_by_cinder(driver, service)
    assert copies(fake) == []


# Cinder's own steps around the copy.

def test_flat_image_lands_under_cinders_descriptor(make_driver, fake):
    # Cinder's _create_virtual_disk_from_preallocated_image: the temporary
    # image folder is on the volume's datastore, so the image becomes the
    # volume's disk directly: descriptor by Cinder, extent by our copy.
    driver = make_driver()
    vops = driver._volumeops
    service = ImageService(api_shape(url()))
    with mock.patch.object(driver, '_get_temp_image_folder',
                           return_value=(DC_REF, 'ds2', 'cinder_temp/')), \
            mock.patch('cinder.volume.drivers.vmware.vmdk.vim_util.'
                       'get_moref_value', return_value='dc-1'):
        path = driver._create_virtual_disk_from_preallocated_image(
            mock.sentinel.context, service, IMG, SIZE, DC_REF, 'ds2',
            'volume-1/', 'volume-1', 'lsiLogic')
    assert path.get_descriptor_ds_file_path() == \
        '[ds2] volume-1/volume-1.vmdk'
    vops.create_flat_extent_virtual_disk_descriptor.assert_called_once()
    vops.copy_datastore_file.assert_not_called()
    assert copies(fake) == [('copy', '[ds1] openstack_glance/' + IMG,
                             '[ds2] ' + DEST)]
    driver.uploads.assert_not_called()


def test_sparse_image_is_copied_then_converted_by_cinder(make_driver, fake):
    driver = make_driver()
    vops = driver._volumeops
    service = ImageService(api_shape(url()),
                           properties={'vmware_disktype': 'sparse'})
    with mock.patch('oslo_utils.uuidutils.generate_uuid',
                    return_value='tmp-disk'):
        path = driver._create_virtual_disk_from_sparse_image(
            mock.sentinel.context, service, IMG, SIZE, DC_REF, 'ds2',
            'volume-1/', 'volume-1')
    assert isinstance(path, cinder_volumeops.FlatExtentVirtualDiskPath)
    assert copies(fake) == [('copy', '[ds1] openstack_glance/' + IMG,
                             '[ds2] volume-1/tmp-disk.vmdk')]
    vops.copy_vmdk_file.assert_called_once_with(
        DC_REF, '[ds2] volume-1/tmp-disk.vmdk',
        '[ds2] volume-1/volume-1.vmdk', DC_REF)
    vops.copy_datastore_file.assert_not_called()
    driver.uploads.assert_not_called()


# Options.

def test_bad_datastore_entry_stops_the_backend_before_login(make_driver,
                                                            caplog):
    driver = make_driver(vsphere_image_datastores=['ds1'])
    with mock.patch.object(vmdk.VMwareVcVmdkDriver, 'do_setup') as setup:
        with pytest.raises(exception.InvalidInput,
                           match='vsphere_image_datastores'):
            driver.do_setup(mock.sentinel.context)
    setup.assert_not_called()
    assert 'vsphere_image_datastores' in caplog.text


def test_options_are_read_from_the_backend_section(make_driver):
    driver = make_driver(
        vsphere_image_datastores=['DC1:ds1:100', 'F/DC2:pod'],
        vsphere_image_location_host_aliases=['vc', '[fd00::5]:8443'],
        vmware_host_port=8443)
    with mock.patch.object(vmdk.VMwareVcVmdkDriver, 'do_setup'):
        driver.do_setup(mock.sentinel.context)
    config = driver._policy_config
    assert config.datastores == (('DC1', 'ds1'), ('F/DC2', 'pod'))
    assert config.host_aliases == (('vc', 8443), ('fd00::5', 8443))
    assert (config.host, config.port) == (VC, 8443)
    assert driver._glance_locations is None  # no auth_type configured


def test_driver_options_are_listed():
    names = {o.name for o in
             driver_mod.VSphereImagesVmdkDriver.get_driver_options()}
    assert {o.name for o in opts.CINDER_OPTS} <= names
    assert {o.name for o in vmdk.vmdk_opts} <= names
    groups = dict(opts.list_cinder_opts())
    assert {o.name for o in groups['backend_defaults']} == {
        o.name for o in opts.CINDER_OPTS}
    assert 'auth-url' in {o.dest.replace('_', '-') for o in
                          groups[opts.CINDER_LOCATIONS_GROUP]} | {
        o.name for o in groups[opts.CINDER_LOCATIONS_GROUP]}


def test_locations_api_is_configured_from_its_group(make_driver):
    conf = cfg.CONF
    group = opts.CINDER_LOCATIONS_GROUP
    conf.set_override('auth_type', 'none', group=group)
    conf.set_override('endpoint_override', 'http://127.0.0.1:9',
                      group=group)
    try:
        driver = make_driver()
        with mock.patch.object(vmdk.VMwareVcVmdkDriver, 'do_setup'):
            driver.do_setup(mock.sentinel.context)
        adapter = driver._glance_locations._adapter
        assert adapter.session.timeout == opts.LOCATIONS_API_TIMEOUT
        assert adapter.service_type == 'image'
        off = make_driver(vsphere_image_use_locations_api=False)
        with mock.patch.object(vmdk.VMwareVcVmdkDriver, 'do_setup'):
            off.do_setup(mock.sentinel.context)
        assert off._glance_locations is None
    finally:
        conf.clear_override('auth_type', group=group)
        conf.clear_override('endpoint_override', group=group)


def test_unknown_auth_plugin_stops_the_backend(make_driver):
    conf = cfg.CONF
    group = opts.CINDER_LOCATIONS_GROUP
    conf.set_override('auth_type', 'no-such-plugin', group=group)
    try:
        driver = make_driver()
        with mock.patch.object(vmdk.VMwareVcVmdkDriver, 'do_setup') as up:
            with pytest.raises(exception.InvalidInput, match=group):
                driver.do_setup(mock.sentinel.context)
        up.assert_not_called()
    finally:
        conf.clear_override('auth_type', group=group)


def test_what_the_volume_manager_gave_clone_image_is_used(make_driver, fake,
                                                         monkeypatch):
    # The volume manager calls clone_image with the image's locations and
    # record; Cinder's clone_image goes on to copy_image_to_volume, whose
    # flat-image path calls _copy_image: Glance is not asked again.
    def copy_image_to_volume(self, context, volume, image_service, image_id):
        self._copy_image(context, DC_REF, image_service, image_id, SIZE,
                         'ds2', DEST)
    monkeypatch.setattr(vmdk.VMwareVcVmdkDriver, 'copy_image_to_volume',
                        copy_image_to_volume)
    driver = make_driver()
    service = ImageService()
    given = ImageService(api_shape(url()))
    assert driver.clone_image(mock.sentinel.context, mock.sentinel.volume,
                              given.locations, given.meta, service) == (
        None, True)
    assert service.calls == []
    assert copies(fake) == [('copy', '[ds1] openstack_glance/' + IMG,
                             '[ds2] ' + DEST)]
    driver.uploads.assert_not_called()
    # Outside that call, Glance is asked.
    copy_image(driver, service)
    assert service.calls == ['show', 'get_location']


def test_documented_cinder_conf_names_only_known_options():
    import configparser
    import os

    from cinder.volume import driver as cinder_driver
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'etc',
                        'cinder.conf')
    parser = configparser.ConfigParser()
    parser.read(path)
    [backend] = parser['DEFAULT']['enabled_backends'].split(',')
    section = parser[backend.strip()]
    assert section['volume_driver'] == (
        'glance_store_vmware.cinder.driver.VSphereImagesVmdkDriver')
    # volume_driver is the volume manager's option, read before any driver.
    known = {'volume_driver'} | {
        o.name for o in cinder_driver.volume_opts
        + driver_mod.VSphereImagesVmdkDriver.get_driver_options()}
    assert set(section) - set(parser['DEFAULT']) <= known
    conf = cfg.ConfigOpts()
    conf.register_opts(vmdk.vmdk_opts + opts.CINDER_OPTS, group=backend)
    conf(['--config-file', path], project='cinder')
    config = policy.PolicyConfig.from_options(
        conf[backend].vmware_host_ip, conf[backend].vmware_host_port,
        host_aliases=conf[backend].vsphere_image_location_host_aliases,
        image_dir=conf[backend].vsphere_image_dir,
        datastores=conf[backend].vsphere_image_datastores,
        require_image_id_name=True,
        datastores_option='vsphere_image_datastores',
        aliases_option='vsphere_image_location_host_aliases')
    assert config.datastores == (('DC1', 'datastore1'),)
    assert (config.host, config.port) == ('vcenter.example.org', 443)
