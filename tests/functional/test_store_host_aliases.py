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

"""Existing locations that name the vCenter by another name.

The operator changes ``vmware_server_host`` from the vCenter's address to
its DNS name (the simulator's certificate holds both).  The images stored
before keep locations naming the address: with the address in
``vmware_server_host_aliases`` they are read and deleted through the new
name; without it they are refused with the reason, and stay in place.
"""

import io
import os
import uuid

from glance_store import exceptions
import pytest

from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import payload


@pytest.fixture
def stored_by_address(vcsim):
    """An image stored while ``vmware_server_host`` was 127.0.0.1."""
    conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'))
    image_id = str(uuid.uuid4())
    data = payload(1024 * 1024 + 17)
    uri = store.add(image_id, io.BytesIO(data), len(data), 'sha256')[0]
    assert uri.startswith('vsphere://127.0.0.1:%d/' % vcsim.port)
    return uri, image_id, data


def renamed_store(vcsim, **overrides):
    """The store after ``vmware_server_host`` became the vCenter's name."""
    return glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'),
        vmware_server_host='localhost', **overrides)


def image_dir(vcsim):
    return os.path.join(vcsim.datastore_dir('LocalDS_0'), 'openstack_glance')


def test_aliased_location_is_read_and_deleted(vcsim, stored_by_address):
    uri, image_id, data = stored_by_address
    conf, store = renamed_store(vcsim,
                                vmware_server_host_aliases=['127.0.0.1'])
    assert store.session.host == 'localhost'

    chunks, size = store.get(glance_setup.location_of(conf, uri))
    assert (b''.join(chunks), size) == (data, len(data))
    assert store.get_size(glance_setup.location_of(conf, uri)) == len(data)
    # New images are stored under the configured name.
    new_uri = store.add(str(uuid.uuid4()), io.BytesIO(b'new'), 3,
                        'sha256')[0]
    assert new_uri.startswith('vsphere://localhost:%d/' % vcsim.port)

    store.delete(glance_setup.location_of(conf, uri))
    assert image_id not in files_under(image_dir(vcsim))
    with pytest.raises(exceptions.NotFound):
        store.get(glance_setup.location_of(conf, uri))


def test_alias_with_the_port_given(vcsim, stored_by_address):
    uri, _image_id, data = stored_by_address
    conf, store = renamed_store(
        vcsim, vmware_server_host_aliases=['127.0.0.1:%d' % vcsim.port])
    chunks, _size = store.get(glance_setup.location_of(conf, uri))
    assert b''.join(chunks) == data


@pytest.mark.parametrize('aliases', [[], ['127.0.0.2'], ['127.0.0.1:1']])
def test_without_the_alias_the_location_is_refused(vcsim, stored_by_address,
                                                   aliases):
    uri, image_id, _data = stored_by_address
    conf, store = renamed_store(vcsim, vmware_server_host_aliases=aliases)
    for call in ('get', 'get_size', 'delete'):
        with pytest.raises(exceptions.BadStoreUri) as e:
            getattr(store, call)(glance_setup.location_of(conf, uri))
        assert ('location refused: location names vCenter 127.0.0.1:%d, '
                'not the configured localhost:%d' % (vcsim.port, vcsim.port)
                ) in str(e.value)
    assert image_id in files_under(image_dir(vcsim))


def test_malformed_alias_stops_the_store(vcsim):
    with pytest.raises(exceptions.BadStoreConfiguration,
                       match="vmware_server_host_aliases: '127.0.0.1:x' has "
                             "an invalid port"):
        renamed_store(vcsim, vmware_server_host_aliases=['127.0.0.1:x'])
