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

"""The real Nova 34 ``spawn()`` through our compute driver on the second
of two vCenters (etc/glance-api-two-vcenters.conf's vc2), for images that
Glance holds on the first (vc1), and on both after a copy-image.

Two simulators with their own CAs; the same inventory names on both
(DC0, LocalDS_0), so only the vCenter in a location tells them apart.
Nova is configured for the second (``nova_port``, the test CA).
"""

import os

import pytest

from tests.functional.conftest import _simulator
from tests.functional.conftest import _simulator_with_own_ca
from tests.nova_functional import nova_env
from tests.nova_functional.test_spawn import CACHE
from tests.nova_functional.test_spawn import FLAT
from tests.nova_functional.test_spawn import assert_nothing_left
from tests.nova_functional.test_spawn import cached_extent
from tests.nova_functional.test_spawn import copies
from tests.nova_functional.test_spawn import glance_image
from tests.nova_functional.test_spawn import payload

MiB = 1024 * 1024


@pytest.fixture(scope='module')
def vcenter1(request, vcsim_build, tmp_path_factory):
    """The vCenter that Nova is not configured for, with its own CA."""
    yield from _simulator_with_own_ca(request, vcsim_build,
                                      tmp_path_factory, 'vCenter 1 test CA')


@pytest.fixture(scope='module')
def vcenter2(request, vcsim_build, test_ca, tmp_path_factory, nova_port,
             nova_configured):
    """Nova's vCenter, as the package's ``vcsim`` but for this module."""
    from nova.virt.vmwareapi import ds_util
    from nova.virt.vmwareapi import vm_util
    ds_util._DS_DC_MAPPING.clear()
    vm_util._FOLDER_PATH_REF_MAPPING.clear()
    vm_util._VM_REFS_CACHE.clear()
    yield from _simulator(
        request, vcsim_build, test_ca, tmp_path_factory, port=nova_port,
        username=nova_env.SIM_USER, password=nova_env.SIM_PASSWORD,
        host_name='127.0.0.1')


def nothing_on(sim):
    """Nova never touched ``sim``: no image cache, no temporary files."""
    for name in (CACHE, 'vmware_temp'):
        assert not os.path.exists(os.path.join(sim.datastore_dir(
            'LocalDS_0'), name)), name


def fallbacks(caplog):
    return [r.getMessage() for r in caplog.records
            if 'using the Glance download' in r.getMessage()]


def test_image_only_on_the_other_vcenter_falls_back_to_glance(
        vcenter1, vcenter2, glance, pinned, caplog):
    # Whole MiB: Nova's own download path (see test_spawn).
    data = payload(2 * MiB)
    image_id, uri = glance_image(vcenter1, glance, data)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcenter2, image_id) == data
    assert glance.bytes_served == len(data)
    assert copies(caplog) == []
    [fallback] = fallbacks(caplog)
    assert ('refused %s: location names vCenter %s:%d, not the configured '
            '%s:%d' % (uri, vcenter1.host, vcenter1.port, vcenter2.host,
                       vcenter2.port)) in fallback
    nothing_on(vcenter1)
    assert_nothing_left(vcenter2)


def test_copy_on_this_vcenter_is_copied_inside_it(vcenter1, vcenter2, glance,
                                                  pinned, caplog):
    # After copy-image to vc2: a location on each vCenter, vc1's first (the
    # default backend's).
    data = payload(2 * MiB)
    image_id, uri1 = glance_image(vcenter1, glance, data)
    _same_id, uri2 = glance_image(vcenter2, glance, data, image_id=image_id)
    glance.add(image_id, data, locations=[uri1, uri2])

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcenter2, image_id) == data
    assert glance.bytes_served == 0
    assert ('download', image_id) not in glance.calls
    assert copies(caplog) == [
        'Cached image %s on LocalDS_0 by a vSphere copy from [LocalDS_0] '
        'openstack_glance/%s (datacenter DC0)' % (image_id, image_id)]
    assert fallbacks(caplog) == []
    # vc1's location was looked at, refused, and never asked for.
    assert 'refusing location %s: location names vCenter %s:%d' % (
        uri1, vcenter1.host, vcenter1.port) in caplog.text
    nothing_on(vcenter1)
    assert_nothing_left(vcenter2)
