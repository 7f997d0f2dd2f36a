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

"""The real Nova 34 ``spawn()`` through our compute driver, loaded as
nova-compute loads it, against the simulator."""

import io
import os
import re
import uuid

import pytest

from tests import helpers
from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import sparse_disk
from tests.nova_functional import nova_env

MiB = 1024 * 1024
CACHE = '127.0.0.1_base'  # Nova's cache folder: my_ip + "_base"
FLAT = {'disk_format': 'vmdk', 'container_format': 'bare',
        'properties': {'vmware_disktype': 'preallocated'}}
SPARSE = {'disk_format': 'vmdk', 'container_format': 'bare',
          'properties': {'vmware_disktype': 'sparse'}}


def NOVA_LOOKUP(image_id):
    """Nova's own ``get_vsphere_location``, on every spawn (as with Nova's
    driver: ours no longer replaces that function in Nova's module)."""
    return ('get', image_id, True)


def payload(size, seed=b'x'):
    return helpers.payload(size, seed)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def glance_image(vcsim, glance, data, datastore='LocalDS_0', image_id=None,
                 **meta):
    """An image written by our Glance store; the fake Glance API shows its
    location like Glance with ``show_multiple_locations``."""
    image_id = image_id or str(uuid.uuid4())
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, datastore))
    uri = store.add(image_id, io.BytesIO(data), len(data), 'sha256')[0]
    glance.add(image_id, data, locations=[uri], **meta)
    return image_id, uri


def assert_nothing_left(vcsim):
    for ds in ('LocalDS_0', 'LocalDS_1'):
        tmp = os.path.join(vcsim.datastore_dir(ds), 'vmware_temp')
        assert not os.path.exists(tmp) or os.listdir(tmp) == [], (
            ds, files_under(tmp))


def cached_extent(vcsim, image_id, ds='LocalDS_0'):
    return read(os.path.join(vcsim.datastore_dir(ds), CACHE, image_id,
                             image_id + '-flat.vmdk'))


def copies(caplog):
    return [r.getMessage() for r in caplog.records
            if r.name == 'glance_store_vmware.nova.handler'
            and 'by a vSphere copy' in r.getMessage()]


def test_flat_image_is_copied_inside_vsphere(vcsim, glance, pinned, caplog):
    data = payload(3 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == 0
    # Nova's own per-spawn lookup (VMwareImage.from_image), then the
    # handler's: locations only, no download.
    assert [c[0] for c in glance.calls] == ['get', 'get']
    assert copies(caplog) == ['Cached image %s on LocalDS_0 by a vSphere '
                              'copy from [LocalDS_0] openstack_glance/%s '
                              '(datacenter DC0)' % (image_id, image_id)]
    assert_nothing_left(vcsim)


def test_copy_across_datastores_and_full_clone(vcsim, glance, pinned,
                                               caplog):
    data = payload(2 * MiB + 512)
    image_id, _uri = glance_image(vcsim, glance, data, datastore='LocalDS_1')
    meta = dict(FLAT, size=len(data),
                properties={'vmware_disktype': 'thin',
                            'img_linked_clone': False})

    instance = nova_env.spawn(nova_env.compute_driver(), image_id, meta)

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1
    vm_dir = os.path.join(vcsim.datastore_dir('LocalDS_0'), instance.uuid)
    assert read(os.path.join(vm_dir, instance.uuid + '-flat.vmdk'))[
        :len(data)] == data
    assert_nothing_left(vcsim)


def test_cache_hit_neither_copies_nor_asks_glance(vcsim, glance, pinned,
                                                  caplog):
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    driver = nova_env.compute_driver()
    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))
    calls = list(glance.calls)

    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))

    # Only Nova's own per-spawn lookup, as with Nova's driver.
    assert glance.calls == calls + [NOVA_LOOKUP(image_id)]
    assert len(copies(caplog)) == 1
    assert_nothing_left(vcsim)


def test_cached_on_another_datastore_is_copied_without_glance(
        vcsim, glance, pinned, caplog):
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))
    calls = list(glance.calls)

    pinned('LocalDS_1')
    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert glance.calls == calls + [NOVA_LOOKUP(image_id)]
    assert cached_extent(vcsim, image_id, 'LocalDS_1') == data
    assert copies(caplog)[-1] == (
        'Cached image %s on LocalDS_1 by a vSphere copy from [LocalDS_0] '
        '%s/%s/%s.vmdk (datacenter DC0)' % (image_id, CACHE, image_id,
                                            image_id))
    assert_nothing_left(vcsim)


def test_second_compute_node_racing_uses_the_winners_copy(
        vcsim, glance, pinned, caplog, monkeypatch):
    from glance_store_vmware.nova import handler
    from glance_store_vmware.vsphere import session

    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    meta = dict(FLAT, size=len(data))
    driver = nova_env.compute_driver()

    # The other node: its own vCenter session, same datastore and cache.
    other = handler.ImageHandler(
        session.Session(vcsim.host, vcsim.username, vcsim.password,
                        port=vcsim.port, ca_file=vcsim.ca_file),
        handler.HandlerConfig(host=vcsim.host, port=vcsim.port))
    target = handler.CacheTarget('DC0', 'LocalDS_0', CACHE)
    image = handler.Image(image_id, len(data))
    files = driver.image_handler._files
    real_move = files.move
    other_results = []

    def move_after_the_other_node(src, dst, force=False):
        # The other node finishes its copy between ours and our move.
        other_results.append(other.fill_cache(image, target, [_uri]))
        return real_move(src, dst, force)

    monkeypatch.setattr(files, 'move', move_after_the_other_node)
    nova_env.spawn(driver, image_id, meta)

    assert [r.source for r in other_results] == [handler.LOCATION]
    assert 'first; using its copy' in caplog.text
    assert cached_extent(vcsim, image_id) == data
    assert files_under(os.path.join(vcsim.datastore_dir('LocalDS_0'),
                                    CACHE, image_id)) == sorted(
        [image_id + '.vmdk', image_id + '-flat.vmdk',
         image_id + '.1.vmdk', image_id + '.1-flat.vmdk'])
    assert glance.bytes_served == 0
    assert_nothing_left(vcsim)
    other.close()


def _foreign_host(vcsim, uri, image_id):
    return uri.replace('127.0.0.1', 'vcenter2.example.org')


def _foreign_datastore(vcsim, uri, image_id):
    # The location is fine, but only LocalDS_1 is configured for images.
    return uri


def _outside_image_dir(vcsim, uri, image_id):
    src = os.path.join(vcsim.datastore_dir('LocalDS_0'), 'openstack_glance',
                       image_id)
    other = os.path.join(vcsim.datastore_dir('LocalDS_0'), 'tenant-vm')
    os.makedirs(other)
    os.link(src, os.path.join(other, image_id))
    return uri.replace('/openstack_glance/', '/tenant-vm/')


def _dot_dot(vcsim, uri, image_id):
    return uri.replace('/openstack_glance/',
                       '/openstack_glance/../tenant-vm/')


def _missing_file(vcsim, uri, image_id):
    os.unlink(os.path.join(vcsim.datastore_dir('LocalDS_0'),
                           'openstack_glance', image_id))
    return uri


def _another_images_file(vcsim, uri, image_id):
    src = os.path.join(vcsim.datastore_dir('LocalDS_0'), 'openstack_glance',
                       image_id)
    os.link(src, src + '-victim')
    return uri.replace(image_id + '?', image_id + '-victim?')


@pytest.mark.parametrize('bad_location,reason', [
    (_foreign_host, 'not the configured'),
    (_foreign_datastore, 'is not a configured image datastore'),
    (_outside_image_dir, 'is not an image file in the image directory'),
    (_dot_dot, '".." component'),
    (_missing_file, 'does not exist'),
    (_another_images_file, 'is not named after image'),
])
def test_bad_location_falls_back_to_glance_download(
        vcsim, glance, pinned, nova_conf, caplog, bad_location, reason):
    # Whole MiB: Nova's own download path sends the size in KiB as a
    # float, which vSphere's xsd:long refuses unless it is integral.
    data = payload(2 * MiB)
    image_id, uri = glance_image(vcsim, glance, data)
    if bad_location is _foreign_datastore:
        nova_conf('image_datastores', ['DC0:LocalDS_1'],
                  'vsphere_image_handler')
    glance.add(image_id, data, locations=[bad_location(vcsim, uri, image_id)])

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert ('download', image_id) in glance.calls
    assert glance.bytes_served == len(data)
    assert copies(caplog) == []
    [fallback] = [r.getMessage() for r in caplog.records
                  if 'using the Glance download' in r.getMessage()]
    assert reason in fallback
    assert_nothing_left(vcsim)


def test_sparse_image_is_copied_and_converted(vcsim, glance, pinned,
                                              caplog):
    data = sparse_disk(capacity_sectors=2048)
    image_id, _uri = glance_image(vcsim, glance, data)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(SPARSE, size=len(data)))

    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1
    cache = os.path.join(vcsim.datastore_dir('LocalDS_0'), CACHE, image_id)
    assert os.path.getsize(os.path.join(cache, image_id + '-flat.vmdk')) \
        == 2048 * 512
    assert 'tmp-sparse.vmdk' not in files_under(cache)
    assert_nothing_left(vcsim)


def test_sparse_image_glance_download_still_works(vcsim, glance, pinned):
    # The reference path, for comparison: no location at all.
    data = sparse_disk(capacity_sectors=2048)
    image_id = str(uuid.uuid4())
    glance.add(image_id, data)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(SPARSE, size=len(data)))

    assert glance.bytes_served == len(data)
    cache = os.path.join(vcsim.datastore_dir('LocalDS_0'), CACHE, image_id)
    assert os.path.getsize(os.path.join(cache, image_id + '-flat.vmdk')) \
        == 2048 * 512
    assert_nothing_left(vcsim)


def test_iso_image_is_copied_inside_vsphere(vcsim, glance, pinned, caplog):
    data = payload(MiB, b'iso')
    image_id, _uri = glance_image(vcsim, glance, data)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   {'disk_format': 'iso', 'container_format': 'bare',
                    'size': len(data), 'properties': {}})

    assert read(os.path.join(vcsim.datastore_dir('LocalDS_0'), CACHE,
                             image_id, image_id + '.iso')) == data
    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1
    assert_nothing_left(vcsim)


def test_failed_copy_leaves_nothing_and_falls_back(vcsim, glance, pinned,
                                                   caplog, monkeypatch):
    from glance_store_vmware.vsphere import errors
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    driver = nova_env.compute_driver()
    files = driver.image_handler._files
    real_copy = files.copy

    def copy_then_fail(src, dst, force=False):
        real_copy(src, dst, force)
        raise errors.VSphereError('task lost')

    monkeypatch.setattr(files, 'copy', copy_then_fail)
    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == len(data)
    assert 'task lost' in caplog.text
    assert_nothing_left(vcsim)


def test_loaded_through_the_nova_virt_shim(nova_configured):
    # Every test above loads the driver as nova-compute does, by the name
    # vsphere_images.VSphereImagesVCDriver; this is the module behind it.
    import nova.virt.vsphere_images as shim_module

    from glance_store_vmware.nova import driver
    from glance_store_vmware.nova import shim
    assert shim_module.VSphereImagesVCDriver is driver.VSphereImagesVCDriver
    assert shim.install() == shim_module.__file__


@pytest.fixture
def locations_api(nova_conf):
    """Glance's locations API, for the service user."""
    with helpers.GlanceLocationsStub() as stub:
        nova_conf('auth_type', 'none', 'vsphere_image_handler')
        nova_conf('endpoint_override', stub.url, 'vsphere_image_handler')
        yield stub


def test_locations_come_from_the_service_locations_api(
        vcsim, glance, pinned, locations_api, caplog):
    data = payload(MiB)
    image_id, uri = glance_image(vcsim, glance, data)
    glance.add(image_id, data)  # the image record shows no locations
    locations_api.locations[image_id] = [uri]

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert locations_api.requests == ['/v2/images/%s/locations' % image_id]
    # Nova's own per-spawn lookup only; the handler asked the API.
    assert glance.calls == [NOVA_LOOKUP(image_id)]
    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1
    assert_nothing_left(vcsim)


def test_handler_options_are_read_from_nova_conf(nova_conf):
    from glance_store_vmware.nova import driver
    nova_conf('location_host_aliases',
              ['vc.example.org', '[fd00::5]:8443', '10.0.0.5:443'],
              'vsphere_image_handler')
    nova_conf('image_datastores', ['DC0:LocalDS_1:100', 'F/DC1:pod'],
              'vsphere_image_handler')
    config = driver.handler_config()
    assert config.host_aliases == (('vc.example.org', config.port),
                                   ('fd00::5', 8443), ('10.0.0.5', 443))
    assert config.datastores == (('DC0', 'LocalDS_1'), ('F/DC1', 'pod'))
    assert driver.locations_api() is None  # no auth_type configured


@pytest.mark.parametrize('alias,reason', [
    ('vc.example.org:99999', "'vc.example.org:99999' has an invalid port"),
    (':443', "':443' is not a host name or address"),
])
def test_malformed_location_host_alias_is_refused_naming_it(nova_conf, alias,
                                                            reason):
    from glance_store_vmware.nova import driver
    nova_conf('location_host_aliases', ['vc.example.org', alias],
              'vsphere_image_handler')
    with pytest.raises(ValueError,
                       match='^location_host_aliases: ' + re.escape(reason)):
        driver.checked_handler_config()
