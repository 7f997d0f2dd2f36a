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

"""The reference our driver beats: Cinder 29's ``VMwareVcVmdkDriver`` as
shipped, on the same harness (what issue 9 found by reading its code)."""

import pytest

from tests import helpers
from tests.cinder_functional import cinder_env
from tests.cinder_functional import test_volume_from_image as t

MiB = 1024 * 1024
pytestmark = pytest.mark.driver(cinder_env.STOCK_DRIVER)


@pytest.mark.parametrize('glance', [True], indirect=True,
                         ids=['locations-api'])
def test_with_the_locations_api_every_byte_crosses_the_volume_node(
        vcsim, proxy, glance, make_driver):
    # Cinder 27+ asks Glance's locations API first: direct_url is None,
    # so its datastore copy is never used.
    data = helpers.payload(2 * MiB)
    image_id, _uri = t.stored_image(vcsim, proxy, glance, data,
                                    vmware_disktype='preallocated')
    before = t.snapshot(vcsim)

    volume = t.create(make_driver(), glance, image_id)

    assert t.through_volume_node(glance, proxy) == (len(data), len(data))
    t.assert_volume(vcsim, volume, before, data)


@pytest.mark.parametrize('glance', [False], indirect=True,
                         ids=['direct-url'])
def test_direct_url_is_copied_whatever_host_it_names(
        vcsim, proxy, glance, make_driver):
    # With show_image_direct_url (OSSN-0065), a vsphere:// direct_url is
    # copied inside vSphere; the URL's host is not checked.
    data = helpers.payload(2 * MiB)
    image_id, uri = t.stored_image(vcsim, proxy, glance, data,
                                   vmware_disktype='preallocated')
    glance.set_locations(image_id, [
        uri.replace('127.0.0.1', 'vcenter2.example.org')])
    before = t.snapshot(vcsim)

    volume = t.create(make_driver(), glance, image_id)

    assert t.through_volume_node(glance, proxy) == (0, 0)
    t.assert_volume(vcsim, volume, before, data)


@pytest.mark.parametrize('glance', [False], indirect=True,
                         ids=['direct-url'])
def test_thick_images_are_refused(vcsim, proxy, glance, make_driver):
    from cinder import exception
    data = helpers.payload(MiB)
    image_id, _uri = t.stored_image(vcsim, proxy, glance, data,
                                    vmware_disktype='eagerZeroedThick')

    with pytest.raises(exception.ImageUnacceptable):
        t.create(make_driver(), glance, image_id)
