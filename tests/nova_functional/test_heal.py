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

"""The real Nova 34 ``spawn()`` through our driver when the cache is not
what it should be: entries a crash left incomplete, truncated entries on
other datastores, failures that are not vSphere's, a hanging Glance."""

import os
import time
import uuid

import pytest

from tests.helpers import files_under
from tests.helpers import silent_listener
from tests.nova_functional import nova_env
from tests.nova_functional.test_spawn import CACHE
from tests.nova_functional.test_spawn import FLAT
from tests.nova_functional.test_spawn import MiB
from tests.nova_functional.test_spawn import assert_nothing_left
from tests.nova_functional.test_spawn import cached_extent
from tests.nova_functional.test_spawn import copies
from tests.nova_functional.test_spawn import glance_image
from tests.nova_functional.test_spawn import payload


def cache_dir(vcsim, image_id, ds='LocalDS_0'):
    return os.path.join(vcsim.datastore_dir(ds), CACHE, image_id)


def crash_leftover(vcsim, image_id, files, ds='LocalDS_0'):
    """A cache folder as a crash left it: ``files`` maps names (with
    ``{id}``) to contents."""
    folder = cache_dir(vcsim, image_id, ds)
    os.makedirs(folder)
    for name, data in files.items():
        with open(os.path.join(folder, name.format(id=image_id)), 'wb') as f:
            f.write(data)
    return folder


def assert_complete(vcsim, image_id, data):
    # Nova adds <id>.<root_gb>.vmdk, the sized copy its linked clones use.
    assert {image_id + '.vmdk', image_id + '-flat.vmdk'} <= set(
        files_under(cache_dir(vcsim, image_id)))
    assert cached_extent(vcsim, image_id) == data


def healed(caplog, image_id):
    return [r.getMessage() for r in caplog.records
            if 'is incomplete' in r.getMessage()
            and image_id in r.getMessage()]


@pytest.fixture
def documented_vmware_defaults(nova_conf, monkeypatch):
    """[vmware] api_retry_count and task_poll_interval at Nova's documented
    defaults (nova_env's rendered nova.conf lowers them for speed)."""
    import nova.conf.vmware
    from nova.virt.vmwareapi import session
    defaults = {o.name: o.default
                for group, listed in nova.conf.vmware.list_opts().items()
                if getattr(group, 'name', group) == 'vmware'
                for o in listed}
    nova_conf('api_retry_count', defaults['api_retry_count'], 'vmware')
    nova_conf('task_poll_interval', defaults['task_poll_interval'], 'vmware')
    # Nova's session binds api_retry_count as a default argument at import.
    init = session.VMwareAPISession.__init__
    names = init.__code__.co_varnames[1:init.__code__.co_argcount]
    values = list(init.__defaults__)
    values[names.index('retry_count') - (len(names) - len(values))] = \
        defaults['api_retry_count']
    monkeypatch.setattr(init, '__defaults__', tuple(values))
    return defaults


def test_empty_cache_folder_is_healed_on_documented_defaults(
        vcsim, glance, pinned, caplog, documented_vmware_defaults):
    # Runs with [vmware] api_retry_count = 10, task_poll_interval = 0.5.
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    crash_leftover(vcsim, image_id, {})
    driver = nova_env.compute_driver()
    assert driver._session._task_poll_interval == 0.5
    assert driver._session._api_retry_count == 10

    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))

    assert_complete(vcsim, image_id, data)
    assert glance.bytes_served == 0
    assert len(copies(caplog)) == 1
    assert healed(caplog, image_id)
    assert_nothing_left(vcsim)


def test_extent_without_descriptor_is_healed(vcsim, glance, pinned,
                                             caplog):
    data = payload(2 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    crash_leftover(vcsim, image_id, {'{id}-flat.vmdk': data[:MiB]})

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert_complete(vcsim, image_id, data)
    assert glance.bytes_served == 0
    assert healed(caplog, image_id)
    assert_nothing_left(vcsim)


@pytest.mark.parametrize('leftover', [{}, {'{id}-flat.vmdk': b'x' * 4096}],
                         ids=['empty', 'extent-only'])
def test_incomplete_folder_is_healed_on_novas_glance_path(
        vcsim, glance, pinned, caplog, leftover):
    # No location: Nova's own download fills the cache, and its move into
    # the cache meets the leftover.
    data = payload(2 * MiB)
    image_id = str(uuid.uuid4())
    glance.add(image_id, data)
    crash_leftover(vcsim, image_id, leftover)

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert glance.bytes_served == len(data)
    assert_complete(vcsim, image_id, data)
    assert healed(caplog, image_id)
    assert_nothing_left(vcsim)


def test_truncated_cached_entry_is_replaced(vcsim, glance, pinned,
                                           caplog):
    data = payload(2 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    crash_leftover(vcsim, image_id, {'{id}.vmdk': b'',
                                     '{id}-flat.vmdk': data[:MiB]})

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    [message] = healed(caplog, image_id)
    assert 'has %d bytes, expected %d' % (MiB, len(data)) in message
    assert_nothing_left(vcsim)


def test_complete_entry_is_not_touched(vcsim, glance, pinned,
                                       caplog):
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    driver = nova_env.compute_driver()
    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))
    extent = os.path.join(cache_dir(vcsim, image_id),
                          image_id + '-flat.vmdk')
    before = os.stat(extent)

    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))

    after = os.stat(extent)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino,
                                                 before.st_mtime_ns)
    assert not healed(caplog, image_id)
    assert len(copies(caplog)) == 1


def test_truncated_peer_cache_entry_is_not_copied(vcsim, glance, pinned,
                                                 caplog):
    data = payload(2 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    # LocalDS_1's cache holds a truncated copy (an unchecked copy, or a
    # disk that filled up).
    crash_leftover(vcsim, image_id, {'{id}.vmdk': b'',
                                     '{id}-flat.vmdk': data[:MiB]},
                   ds='LocalDS_1')

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == 0
    [copy] = copies(caplog)
    assert 'from [LocalDS_0] openstack_glance/' in copy  # the location
    assert 'not copying the cache entry [LocalDS_1]' in caplog.text
    assert_nothing_left(vcsim)


def test_truncated_peer_cache_entry_without_location_falls_back(
        vcsim, glance, pinned, caplog):
    data = payload(2 * MiB)
    image_id = str(uuid.uuid4())
    glance.add(image_id, data)
    crash_leftover(vcsim, image_id, {'{id}.vmdk': b'',
                                     '{id}-flat.vmdk': data[:MiB]},
                   ds='LocalDS_1')

    nova_env.spawn(nova_env.compute_driver(), image_id,
                   dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == len(data)
    assert copies(caplog) == []
    assert_nothing_left(vcsim)


@pytest.mark.parametrize('break_it', ['no_cookie_support', 'type_error'])
def test_non_vsphere_error_in_the_copy_attempt_falls_back(
        vcsim, glance, pinned, caplog, monkeypatch, break_it):
    data = payload(2 * MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    driver = nova_env.compute_driver()
    handler = driver.image_handler
    if break_it == 'no_cookie_support':
        def cookie():
            raise AttributeError("'Vim' object has no attribute "
                                 "'get_http_cookie'")
        monkeypatch.setattr(handler._session, 'cookie', cookie)
    else:
        def datastores(dc_path):
            raise TypeError("'NoneType' object is not iterable")
        monkeypatch.setattr(handler._inventory, 'datastores', datastores)

    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))

    assert cached_extent(vcsim, image_id) == data
    assert glance.bytes_served == len(data)
    [warning] = [r.getMessage() for r in caplog.records
                 if 'the vSphere copy failed' in r.getMessage()]
    assert ('AttributeError' if break_it == 'no_cookie_support'
            else 'TypeError') in warning
    assert_nothing_left(vcsim)


@pytest.fixture
def hanging_glance(nova_conf):
    """Glance's locations API accepting connections and never answering;
    the handler's [vsphere_image_handler] timeout stays at its default."""
    with silent_listener() as listener:
        nova_conf('auth_type', 'none', 'vsphere_image_handler')
        nova_conf('endpoint_override', 'http://127.0.0.1:%d' % listener.port,
                  'vsphere_image_handler')
        yield listener.accepted


def test_hanging_glance_locations_api_falls_back_within_bound(
        vcsim, glance, pinned, caplog, hanging_glance):
    from glance_store_vmware import opts
    data = payload(MiB)
    image_id, _uri = glance_image(vcsim, glance, data)
    driver = nova_env.compute_driver()

    start = time.monotonic()
    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))
    elapsed = time.monotonic() - start

    assert hanging_glance  # it was asked
    # The image record (show_multiple_locations here) gave the location.
    assert 'using the image record instead' in caplog.text
    assert len(copies(caplog)) == 1
    assert glance.bytes_served == 0
    assert elapsed < opts.LOCATIONS_API_TIMEOUT + 20
