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

"""Volumes from images with the real Cinder 29 VMDK driver's
``clone_image``, called as the volume manager calls it, against the
simulator.

Every test gets the image's locations in both shapes Cinder's image
service returns (``glance`` fixture): the locations API's
``(None, [locations])`` and the image record's ``(direct_url,
[locations])``.  Image bytes through the volume node are counted twice:
those the image service handed out, and file bytes sent to vCenter's
``/folder`` (the proxy).
"""

import os
import uuid

import pytest

from tests import helpers
from tests.cinder_functional import cinder_env

MiB = 1024 * 1024
GiB = 1024 * MiB
FLAT_TYPES = ['preallocated', 'thin', 'thick', 'eagerZeroedThick']
# As our driver logs them: 'Image <id> copied inside vSphere from ...' and
# 'Image <id> is not copied inside vSphere, uploading it ...: <reason>'.
COPIED = ' copied inside vSphere from '
UPLOADED = ' is not copied inside vSphere, uploading it '


def stored_image(vcsim, proxy, glance, data, datastore='LocalDS_0',
                 **properties):
    """An image our Glance store wrote; Glance shows its location."""
    image_id = str(uuid.uuid4())
    uri = cinder_env.store_image(vcsim, data, image_id, datastore,
                                 port=proxy.port)
    glance.add(image_id, len(data), [uri], data=data, **properties)
    proxy.reset()  # count only what the volume node does
    return image_id, uri


def logged(caplog, text):
    """The messages logged that contain ``text``."""
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def create(driver, glance, image_id, size_gb=1, volume_type_id=None):
    volume = cinder_env.new_volume(size_gb, volume_type_id)
    cinder_env.create_volume_from_image(driver, glance, image_id, volume)
    return volume


def through_volume_node(glance, proxy):
    """(image bytes from Glance, file bytes over vCenter's /folder)."""
    return glance.bytes_served, proxy.folder_bytes


def flat_extent(vcsim, disk):
    """The local file of a backing disk's flat extent."""
    ds, path = disk['file'][1:].split('] ', 1)
    return os.path.join(vcsim.datastore_dir(ds),
                        path[:-len('.vmdk')] + '-flat.vmdk')


def snapshot(vcsim):
    """The simulator's VMs and files before the test's volume."""
    return (cinder_env.virtual_machines(vcsim),
            cinder_env.datastore_files(vcsim))


def only_the_volume_is_left(vcsim, volume, vms_before, files_before):
    """The volume's backing VM and its files, and nothing else new: no
    temporary backing, disk or image file anywhere."""
    vms = cinder_env.virtual_machines(vcsim)
    assert sorted(set(vms) - set(vms_before)) == [volume.name]
    disk = cinder_env.backing_disk(vms[volume.name])
    backing_dir = disk['file'][1:].split('] ', 1)[1].rsplit('/', 1)[0]
    new = {k: v for k, v in cinder_env.datastore_files(vcsim).items()
           if files_before.get(k) != v}
    strays = sorted('[%s] %s' % k for k in new
                    if not k[1].startswith(backing_dir + '/'))
    assert strays == []
    return disk


def assert_volume(vcsim, volume, before, data, size_gb=1, flat=True):
    disk = only_the_volume_is_left(vcsim, volume, *before)
    assert disk['capacity'] == size_gb * GiB
    extent = flat_extent(vcsim, disk)
    assert os.path.getsize(extent) == size_gb * GiB
    if flat:
        with open(extent, 'rb') as f:
            assert f.read(len(data)) == data
    return disk


@pytest.mark.parametrize('disk_type', FLAT_TYPES)
def test_flat_image_is_copied_inside_vsphere(vcsim, proxy, glance,
                                             make_driver, caplog,
                                             disk_type):
    data = helpers.payload(3 * MiB + 512)
    image_id, _uri = stored_image(vcsim, proxy, glance, data,
                                  vmware_disktype=disk_type)
    before = snapshot(vcsim)

    volume = create(make_driver(), glance, image_id)

    assert through_volume_node(glance, proxy) == (0, 0)
    assert ('download', image_id) not in glance.calls
    assert len(logged(caplog, COPIED)) == 1
    assert logged(caplog, UPLOADED) == []
    # Cinder's default volume type: a thin disk on an lsiLogic adapter.
    disk = assert_volume(vcsim, volume, before, data)
    assert (disk['vmdk_type'], disk['adapter_type']) == ('thin', 'lsiLogic')


def test_sparse_image_is_copied_and_converted(vcsim, proxy, glance,
                                              make_driver, caplog):
    data = helpers.sparse_disk(capacity_sectors=2048)
    image_id, _uri = stored_image(vcsim, proxy, glance, data,
                                  vmware_disktype='sparse')
    before = snapshot(vcsim)

    volume = create(make_driver(), glance, image_id)

    assert through_volume_node(glance, proxy) == (0, 0)
    assert len(logged(caplog, COPIED)) == 1
    assert logged(caplog, UPLOADED) == []
    assert_volume(vcsim, volume, before, data, flat=False)


@pytest.mark.parametrize('glance', [True], indirect=True,
                         ids=['locations-api'])
@pytest.mark.parametrize('vmdk_type,adapter_type', [
    ('thin', 'paraVirtual'),
    ('thick', 'lsiLogicsas'),
    ('eagerZeroedThick', 'busLogic'),
])
def test_volume_type_disk_and_adapter_are_honoured(
        vcsim, proxy, glance, make_driver, volume_types, vmdk_type,
        adapter_type):
    data = helpers.payload(2 * MiB)
    image_id, _uri = stored_image(vcsim, proxy, glance, data,
                                  vmware_disktype='preallocated')
    before = snapshot(vcsim)
    type_id = volume_types.add(vmdk_type=vmdk_type,
                               adapter_type=adapter_type)

    volume = create(make_driver(), glance, image_id, size_gb=2,
                    volume_type_id=type_id)

    assert through_volume_node(glance, proxy) == (0, 0)
    disk = assert_volume(vcsim, volume, before, data, size_gb=2)
    assert (disk['vmdk_type'], disk['adapter_type']) == (vmdk_type,
                                                         adapter_type)


@pytest.mark.parametrize('glance', [True], indirect=True,
                         ids=['locations-api'])
def test_copy_with_the_documented_defaults(vcsim, proxy, glance,
                                           make_driver):
    # Cinder's retry count and task poll interval as shipped.
    data = helpers.payload(MiB)
    image_id, _uri = stored_image(vcsim, proxy, glance, data,
                                  vmware_disktype='preallocated')
    before = snapshot(vcsim)

    volume = create(make_driver(documented_defaults=True), glance, image_id)

    assert through_volume_node(glance, proxy) == (0, 0)
    assert_volume(vcsim, volume, before, data)


# Locations the policy refuses: each is uploaded through the volume node
# instead, and the volume is the same.

def _other_vcenter(vcsim, uri, image_id):
    return uri.replace('127.0.0.1', 'vcenter2.example.org'), {}


def _datastore_not_allowed(vcsim, uri, image_id):
    # The location is fine, but only LocalDS_1 holds images.
    return uri, {'vsphere_image_datastores': ['DC0:LocalDS_1']}


def _image_file(vcsim, image_id, name=None):
    return os.path.join(vcsim.datastore_dir('LocalDS_0'), 'openstack_glance',
                        name or image_id)


def _outside_image_dir(vcsim, uri, image_id):
    other = os.path.join(vcsim.datastore_dir('LocalDS_0'), 'tenant-vm')
    os.makedirs(other)
    os.link(_image_file(vcsim, image_id), os.path.join(other, image_id))
    return uri.replace('/openstack_glance/', '/tenant-vm/'), {}


def _not_named_after_the_image(vcsim, uri, image_id):
    os.link(_image_file(vcsim, image_id),
            _image_file(vcsim, image_id, image_id + '-victim'))
    return uri.replace(image_id + '?', image_id + '-victim?'), {}


def _size_not_glances(vcsim, uri, image_id):
    with open(_image_file(vcsim, image_id), 'ab') as f:
        f.write(b'\0' * 512)
    return uri, {}


@pytest.mark.parametrize('bad_location,reason', [
    (_other_vcenter, 'not the configured'),
    (_datastore_not_allowed, 'is not a configured image datastore'),
    (_outside_image_dir, 'is not an image file in the image directory'),
    (_not_named_after_the_image, 'is not named after image'),
    (_size_not_glances, 'Glance says'),
])
def test_refused_location_falls_back_to_the_upload(
        vcsim, proxy, glance, make_driver, caplog, bad_location,
        reason):
    data = helpers.payload(2 * MiB)
    image_id, uri = stored_image(vcsim, proxy, glance, data,
                                 vmware_disktype='preallocated')
    location, options = bad_location(vcsim, uri, image_id)
    glance.set_locations(image_id, [location])
    before = snapshot(vcsim)

    volume = create(make_driver(**options), glance, image_id)

    assert through_volume_node(glance, proxy) == (len(data), len(data))
    assert logged(caplog, COPIED) == []
    [fallback] = logged(caplog, UPLOADED)
    assert reason in fallback
    assert_volume(vcsim, volume, before, data)


@pytest.mark.parametrize('disk_type', ['preallocated', 'sparse'])
def test_copy_failing_midway_leaves_nothing_and_falls_back(
        vcsim, proxy, glance, make_driver, caplog, disk_type):
    # vCenter copies the file, but its answer never reaches the volume
    # node: the copy must be removed, then the image uploaded instead.
    data = (helpers.payload(2 * MiB) if disk_type == 'preallocated'
            else helpers.sparse_disk(capacity_sectors=4096))
    image_id, _uri = stored_image(vcsim, proxy, glance, data,
                                  vmware_disktype=disk_type)
    before = snapshot(vcsim)
    driver = make_driver()
    proxy.lose_answer = {'CopyDatastoreFile_Task': 1}

    volume = create(driver, glance, image_id)

    assert proxy.lost_answers['CopyDatastoreFile_Task'] == 1
    assert through_volume_node(glance, proxy) == (len(data), len(data))
    assert logged(caplog, COPIED) == []
    [fallback] = logged(caplog, UPLOADED)
    assert 'answer to CopyDatastoreFile_Task was lost' in fallback
    assert_volume(vcsim, volume, before, data,
                  flat=disk_type == 'preallocated')
