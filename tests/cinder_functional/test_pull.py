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

"""Volumes from streamOptimized and OVA images with the real Cinder 29
VMDK driver's ``clone_image``: Cinder's NFC import, filled by the
simulated ESXi host's pull from the image's location, or by Cinder's own
upload when that is not possible.

The host is given the URL of the vCenter the volume node uses, so its
pull goes through the proxy too; the proxy counts it apart
(``ticket_bytes``: requests made with a service ticket) from the volume
node's file bytes (``folder_bytes``: ``/folder`` and ``/nfc``).
"""

import pytest

from tests import helpers
from tests.cinder_functional import cinder_env
from tests.cinder_functional import test_volume_from_image as volumes

MiB = 1024 * 1024
RAW = helpers.payload(3 * MiB, b'cinder pulled disk')
PULLED = 'imported by the host\'s pull from'
NOT_PULLED = 'is not pulled by the host, uploading it through this volume'

# vCenter 8.0: the pull exists from 6.7 on (the simulator's model says 6.5).
pytestmark = pytest.mark.vcsim(api_version='8.0.3.0')


@pytest.fixture(scope='module')
def vmdk():
    return helpers.stream_optimized_disk(RAW)


def assert_volume_holds_the_disk(vcsim, volume, before):
    """Only the volume's backing is new, and its disk starts with the
    image's disk (Cinder extends it to the volume size)."""
    disk = volumes.only_the_volume_is_left(vcsim, volume, *before)
    with open(volumes.flat_extent(vcsim, disk), 'rb') as f:
        assert f.read(len(RAW)) == RAW


def image(vcsim, proxy, glance, vmdk, kind):
    if kind == 'ova':
        data = helpers.ova(vmdk, len(RAW))
        return volumes.stored_image(vcsim, proxy, glance, data,
                            vmware_disktype='streamOptimized'), data
    return volumes.stored_image(vcsim, proxy, glance, vmdk,
                        vmware_disktype='streamOptimized'), vmdk


def stored(vcsim, proxy, glance, vmdk, kind='streamOptimized'):
    (image_id, uri), data = image(vcsim, proxy, glance, vmdk, kind)
    record = glance.images[image_id][0]
    # As Glance computes it at upload: the disk's capacity.
    record['virtual_size'] = len(RAW)
    if kind == 'ova':
        record['container_format'] = 'ova'
    return image_id, uri, data


@pytest.mark.parametrize('kind', ['streamOptimized', 'ova'])
def test_image_is_pulled_by_the_host(vcsim, proxy, glance, make_driver,
                                     caplog, vmdk, kind):
    image_id, _uri, _data = stored(vcsim, proxy, glance, vmdk, kind)
    before = volumes.snapshot(vcsim)

    volume = volumes.create(make_driver(), glance, image_id)

    # No image byte through the volume node: not from Glance, not into
    # the lease; for an OVA, its tar headers and OVF only.
    assert glance.bytes_served == 0
    assert ('download', image_id) not in glance.calls
    if kind == 'ova':
        assert 0 < proxy.folder_bytes <= 16 * 1024
    else:
        assert proxy.folder_bytes == 0
    assert proxy.ticket_bytes >= len(vmdk)
    assert len(volumes.logged(caplog, PULLED)) == 1
    assert volumes.logged(caplog, NOT_PULLED) == []
    assert_volume_holds_the_disk(vcsim, volume, before)


def test_pull_failing_midway_falls_back_to_cinder_upload(
        vcsim, proxy, glance, make_driver, caplog, vmdk):
    image_id, _uri, data = stored(vcsim, proxy, glance, vmdk)
    before = volumes.snapshot(vcsim)
    proxy.cut_pull_after = 64 * 1024

    volume = volumes.create(make_driver(), glance, image_id)

    [reason] = volumes.logged(caplog, NOT_PULLED)
    assert 'pull from' in reason and 'failed' in reason
    # Cinder's own upload, into a new lease of the volume's name: the
    # half-imported backing of the pull is gone.
    assert glance.bytes_served == len(data)
    assert proxy.folder_bytes >= len(data)
    assert_volume_holds_the_disk(vcsim, volume, before)


@pytest.mark.vcsim(api_version='6.5')
def test_vcenter_6_5_falls_back_to_cinder_upload(vcsim, proxy, glance,
                                                 make_driver, caplog, vmdk):
    image_id, _uri, data = stored(vcsim, proxy, glance, vmdk)

    volumes.create(make_driver(), glance, image_id)

    [reason] = volumes.logged(caplog, NOT_PULLED)
    assert 'older than 6.7' in reason
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(data)


def test_refused_location_falls_back_to_cinder_upload(
        vcsim, proxy, glance, make_driver, caplog, vmdk):
    image_id, uri, data = stored(vcsim, proxy, glance, vmdk)
    glance.set_locations(image_id, [uri.replace('/openstack_glance/',
                                                '/elsewhere/')])

    volumes.create(make_driver(), glance, image_id)

    [reason] = volumes.logged(caplog, NOT_PULLED)
    assert 'refused' in reason
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(data)


def test_pull_turned_off_uses_cinder_upload(vcsim, proxy, glance,
                                            make_driver, caplog, vmdk):
    image_id, _uri, data = stored(vcsim, proxy, glance, vmdk)

    volumes.create(make_driver(vsphere_image_pull=False), glance, image_id)

    assert volumes.logged(caplog, PULLED) == []
    assert volumes.logged(caplog, NOT_PULLED) == []
    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(data)


@pytest.mark.driver(cinder_env.STOCK_DRIVER)
def test_stock_driver_is_unchanged_by_ours(vcsim, proxy, glance,
                                           make_driver, caplog, vmdk):
    # Ours diverts Cinder's upload only inside its own import: Cinder's
    # driver in the same process uploads as it always did.
    make_driver(class_path=cinder_env.OUR_DRIVER)
    image_id, _uri, data = stored(vcsim, proxy, glance, vmdk)

    volumes.create(make_driver(), glance, image_id)

    assert proxy.ticket_requests == []
    assert glance.bytes_served == len(data)
