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

"""Nova's image pre-cache API (``openstack aggregate cache image``): the
real Nova 34 compute manager calls ``driver.cache_image``; here our driver,
loaded as nova-compute loads it, against the simulator."""

import os

from tests.helpers import files_under
from tests.nova_functional import nova_env
from tests.nova_functional.test_heal import cache_dir
from tests.nova_functional.test_heal import crash_leftover
from tests.nova_functional.test_spawn import CACHE
from tests.nova_functional.test_spawn import FLAT
from tests.nova_functional.test_spawn import NOVA_LOOKUP
from tests.nova_functional.test_spawn import MiB
from tests.nova_functional.test_spawn import assert_nothing_left
from tests.nova_functional.test_spawn import cached_extent
from tests.nova_functional.test_spawn import copies
from tests.nova_functional.test_spawn import glance_image
from tests.nova_functional.test_spawn import payload

DATASTORES = ('LocalDS_0', 'LocalDS_1')  # the simulator's cluster's


def context():
    from nova import context as nova_context
    return nova_context.RequestContext('user', 'project', is_admin=True)


def cached_on(vcsim, image_id):
    return [ds for ds in DATASTORES
            if os.path.exists(cache_dir(vcsim, image_id, ds))]


def test_cache_image_fills_every_datastore_inside_vsphere(vcsim, glance,
                                                          caplog):
    data = payload(2 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)
    driver = nova_env.compute_driver()

    assert driver.cache_image(context(), image_id) is True

    for ds in DATASTORES:
        assert cached_extent(vcsim, image_id, ds) == data
    assert glance.bytes_served == 0
    assert ('download', image_id) not in glance.calls
    # One copy from the image's location, the other from that cache.
    sources = sorted(m.split(' from ')[1] for m in copies(caplog))
    assert len(sources) == 2
    assert sources[0].startswith('[LocalDS_0] %s/%s/' % (CACHE, image_id))
    assert sources[1].startswith('[LocalDS_0] openstack_glance/%s' % image_id)
    assert_nothing_left(vcsim)

    assert driver.cache_image(context(), image_id) is False
    assert len(copies(caplog)) == 2
    assert glance.bytes_served == 0


def test_cache_image_only_where_nova_may_place_vms(vcsim, glance, nova_conf,
                                                   caplog):
    nova_conf('datastore_regex', '^LocalDS_1$', 'vmware')
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)

    assert nova_env.compute_driver().cache_image(context(), image_id)

    assert cached_on(vcsim, image_id) == ['LocalDS_1']
    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1


def test_refused_location_falls_back_to_one_glance_download(
        vcsim, glance, caplog):
    data = payload(2 * MiB)
    image_id, uri = glance_image(vcsim, glance, data, **FLAT)
    record = glance.images[image_id][0]
    glance.add(image_id, data,
               locations=[uri.replace('127.0.0.1', 'vcenter2.example.org')],
               **{k: record[k] for k in FLAT})

    assert nova_env.compute_driver().cache_image(context(), image_id)

    for ds in DATASTORES:
        assert cached_extent(vcsim, image_id, ds) == data
    # Downloaded through the compute node once; the other datastore copied
    # that cache entry.
    assert glance.bytes_served == len(data)
    assert [c for c in glance.calls if c[0] == 'download'] == [
        ('download', image_id)]
    assert 'not the configured' in caplog.text
    [copy] = copies(caplog)
    assert '] %s/%s/%s.vmdk' % (CACHE, image_id, image_id) in copy
    assert_nothing_left(vcsim)


def test_spawn_uses_the_pre_cached_entry(vcsim, glance, nova_conf, caplog):
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)
    nova_env.compute_driver().cache_image(context(), image_id)
    calls = list(glance.calls)

    nova_conf('datastore_regex', '^LocalDS_1$', 'vmware')
    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert glance.calls == calls + [NOVA_LOOKUP(image_id)]
    assert len(copies(caplog)) == 2  # those of cache_image
    assert glance.bytes_served == 0
    assert_nothing_left(vcsim)


def test_cache_image_heals_an_incomplete_entry(vcsim, glance, nova_conf,
                                               caplog):
    nova_conf('datastore_regex', '^LocalDS_0$', 'vmware')
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)
    crash_leftover(vcsim, image_id, {'{id}.vmdk': b'descriptor'})

    assert nova_env.compute_driver().cache_image(context(), image_id)

    assert cached_extent(vcsim, image_id) == data
    assert 'is incomplete' in caplog.text
    assert glance.bytes_served == 0


def test_pre_cached_entry_ages_out(vcsim, glance, nova_conf, monkeypatch,
                                   caplog):
    from nova import objects

    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)
    driver = nova_env.compute_driver()
    driver.cache_image(context(), image_id)
    assert cached_on(vcsim, image_id) == list(DATASTORES)
    # No instance uses it; Nova asks its database for their volumes.
    monkeypatch.setattr(objects.BlockDeviceMappingList,
                        'bdms_by_instance_uuid',
                        classmethod(lambda cls, ctx, uuids: {}))
    nova_conf('remove_unused_base_images', True, 'image_cache')
    nova_conf('remove_unused_original_minimum_age_seconds', 0,
              'image_cache')

    # The first pass marks it unused (a timestamp folder), the next one
    # deletes it: Nova's aging, unchanged.
    driver.manage_image_cache(context(), [])
    assert cached_on(vcsim, image_id) == list(DATASTORES)
    assert any(name.startswith('ts-') for name in os.listdir(
        cache_dir(vcsim, image_id)))
    driver.manage_image_cache(context(), [])

    assert cached_on(vcsim, image_id) == []
    assert files_under(os.path.join(vcsim.datastore_dir('LocalDS_0'),
                                    CACHE)) == []


def test_nova_compute_manager_reports_cached_then_existing(vcsim, glance,
                                                          nova_conf):
    # Nova's own caller: the compute manager's cache_images.
    from nova.compute import manager
    nova_conf('datastore_regex', '^LocalDS_0$', 'vmware')
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data, **FLAT)
    compute = manager.ComputeManager.__new__(manager.ComputeManager)
    compute.driver = nova_env.compute_driver()

    assert compute.cache_images(context(), [image_id]) == {
        image_id: 'cached'}
    assert compute.cache_images(context(), [image_id]) == {
        image_id: 'existing'}
