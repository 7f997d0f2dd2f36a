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

"""The ``vsphere`` store against the simulator, over verified TLS."""

import hashlib
import io
import logging
import os
import uuid

from glance_store import exceptions
import pytest

from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import payload

MiB = 1024 * 1024


class FailingReader:
    """Yields ``good`` bytes, then fails the way a dropped client does."""

    def __init__(self, data, good):
        self._data = io.BytesIO(data[:good])

    def read(self, size=-1):
        chunk = self._data.read(size)
        if not chunk:
            raise OSError('client went away')
        return chunk


@pytest.fixture
def ds0(vcsim):
    return vcsim.datastore_dir('LocalDS_0')


@pytest.fixture
def store(vcsim):
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'))
    return store


def location(store, uri):
    return glance_setup.location_of(store.conf, uri)


def read_all(store, uri, **kw):
    chunks, size = store.get(location(store, uri), **kw)
    data = b''.join(chunks)
    return data, size


def test_add_get_delete_round_trip(store, ds0):
    image_id = str(uuid.uuid4())
    data = payload(5 * MiB + 123)

    uri, size, checksum, multihash, meta = store.add(
        image_id, io.BytesIO(data), len(data), 'sha512')

    assert uri.startswith('vsphere://127.0.0.1:')
    assert uri.endswith('/folder/openstack_glance/%s?dcPath=DC0&dsName='
                        'LocalDS_0' % image_id)
    assert size == len(data)
    assert checksum == hashlib.md5(data).hexdigest()
    assert multihash == hashlib.sha512(data).hexdigest()
    assert meta == {}
    assert files_under(ds0 + '/openstack_glance') == [image_id]
    with open(os.path.join(ds0, 'openstack_glance', image_id), 'rb') as f:
        assert f.read() == data

    assert read_all(store, uri) == (data, len(data))
    assert store.get_size(location(store, uri)) == len(data)

    store.delete(location(store, uri))
    assert files_under(ds0 + '/openstack_glance') == []
    with pytest.raises(exceptions.NotFound):
        store.get(location(store, uri))
    with pytest.raises(exceptions.NotFound):
        store.delete(location(store, uri))


def test_unknown_size_upload_is_chunked_and_complete(store, ds0):
    data = payload(3 * MiB + 7)
    uri, size, checksum, _mh, _m = store.add(
        'img-unknown', io.BytesIO(data), 0, 'sha256')
    assert size == len(data)
    assert checksum == hashlib.md5(data).hexdigest()
    assert read_all(store, uri)[0] == data


def test_ranged_get(store):
    data = payload(3 * MiB)
    uri = store.add('img-range', io.BytesIO(data), len(data), 'md5')[0]
    got, size = read_all(store, uri, offset=MiB + 5, chunk_size=1000)
    assert (got, size) == (data[MiB + 5:MiB + 1005], 1000)
    got, size = read_all(store, uri, offset=len(data) - 10)
    assert (got, size) == (data[-10:], 10)


def test_duplicate_image_id_keeps_the_first_image(store, ds0):
    first, second = payload(MiB, b'1'), payload(MiB, b'2')
    uri = store.add('img-dup', io.BytesIO(first), len(first), 'md5')[0]
    with pytest.raises(exceptions.Duplicate):
        store.add('img-dup', io.BytesIO(second), len(second), 'md5')
    assert read_all(store, uri)[0] == first
    assert files_under(ds0 + '/openstack_glance') == ['img-dup']


def test_client_disconnect_leaves_nothing(store, ds0):
    data = payload(4 * MiB)
    with pytest.raises(exceptions.BackendException):
        store.add('img-cut', FailingReader(data, 2 * MiB), len(data), 'md5')
    assert files_under(ds0) == []


def test_short_body_is_refused_and_leaves_nothing(store, ds0):
    data = payload(2 * MiB)
    with pytest.raises(exceptions.BackendException, match='declared'):
        store.add('img-short', io.BytesIO(data[:MiB]), len(data), 'md5')
    assert files_under(ds0) == []


def test_longer_body_than_declared_is_refused(store, ds0):
    data = payload(2 * MiB)
    with pytest.raises(exceptions.BackendException, match='larger'):
        store.add('img-long', io.BytesIO(data), MiB, 'md5')
    assert files_under(ds0) == []


def test_storage_full_names_the_reserve(vcsim):
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'),
        vmware_free_space_reserve_mb=1024 ** 3)
    with pytest.raises(exceptions.StorageFull,
                       match='vmware_free_space_reserve_mb'):
        store.add('img-full', io.BytesIO(b'x'), 1, 'md5')


def test_weights_choose_the_datastore(vcsim):
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(
            vcsim, 'LocalDS_0', 'LocalDS_1',
            weights={'LocalDS_0': 10, 'LocalDS_1': 20}))
    uri = store.add('img-w', io.BytesIO(b'abc'), 3, 'md5')[0]
    assert uri.endswith('dsName=LocalDS_1')


def test_missing_datastore_does_not_disable_the_store(vcsim, caplog):
    caplog.set_level(logging.WARNING)
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'NoSuchDS', 'LocalDS_0',
                                              weights={'NoSuchDS': 50}))
    uri = store.add('img-m', io.BytesIO(b'abc'), 3, 'md5')[0]
    assert uri.endswith('dsName=LocalDS_0')
    assert 'NoSuchDS' in caplog.text


def test_tls_settings_hold_against_requests_ca_bundle(vcsim, monkeypatch,
                                                      other_ca):
    # The environment names a bundle that does not trust the simulator;
    # vmware_ca_file must still be what verifies it.
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', other_ca.ca_file)
    monkeypatch.setenv('CURL_CA_BUNDLE', other_ca.ca_file)
    entries = glance_setup.datastore_entries(vcsim, 'LocalDS_0')
    _conf, store = glance_setup.single_store(vcsim, entries)
    uri = store.add('img-tls', io.BytesIO(b'abc'), 3, 'md5')[0]
    assert read_all(store, uri)[0] == b'abc'

    # Insecure mode means insecure, whatever the environment says.
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', other_ca.ca_file)
    _conf, insecure = glance_setup.single_store(
        vcsim, entries, vmware_ca_file=None, vmware_insecure=True)
    assert b''.join(insecure.get(location(store, uri))[0]) == b'abc'


def test_expired_session_is_renewed(store, vcsim):
    data = payload(MiB)
    uri = store.add('img-relogin', io.BytesIO(data), len(data), 'md5')[0]
    # Log the store's session out behind its back, as vCenter does when a
    # session times out.
    store.session.vim.Logout(
        store.session.service_content.sessionManager)
    assert read_all(store, uri)[0] == data
    uri2 = store.add('img-relogin2', io.BytesIO(data), len(data), 'md5')[0]
    assert read_all(store, uri2)[0] == data


def test_logs_never_show_password_or_cookie(store, vcsim, caplog):
    caplog.set_level(logging.DEBUG)
    data = payload(MiB)
    uri = store.add('img-log', io.BytesIO(data), len(data), 'md5')[0]
    read_all(store, uri)
    store.delete(location(store, uri))
    cookie = store.session.vim.get_http_cookie()
    assert cookie
    assert vcsim.password not in caplog.text
    assert cookie.strip('"') not in caplog.text


@pytest.mark.vcsim(datastores=3, pods=1)
def test_datastore_cluster_is_a_target(vcsim):
    pod = vcsim.datacenter()['pods'][0]
    assert sorted(pod['members']) == ['LocalDS_1', 'LocalDS_2']
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, pod['name']))
    uri = store.add('img-pod', io.BytesIO(b'abc'), 3, 'md5')[0]
    ds = uri.rsplit('dsName=', 1)[1]
    assert ds in ('LocalDS_1', 'LocalDS_2')
    assert read_all(store, uri)[0] == b'abc'
    store.delete(location(store, uri))
    # Members of the cluster are image datastores; others are not.
    outside = uri.replace('dsName=' + ds, 'dsName=LocalDS_0')
    with pytest.raises(exceptions.BadStoreUri):
        store.get(location(store, outside))


def test_multi_store_backends(vcsim):
    conf, stores = glance_setup.multi_store(vcsim, {
        'fast': (glance_setup.datastore_entries(vcsim, 'LocalDS_0'), {}),
        'slow': (glance_setup.datastore_entries(vcsim, 'LocalDS_1'), {}),
    })
    data = payload(MiB)
    uri, _s, _c, _h, meta = stores['slow'].add(
        'img-ms', io.BytesIO(data), len(data), 'sha512')
    assert meta == {'store': 'slow'}
    assert uri.endswith('dsName=LocalDS_1')
    loc = glance_setup.location_of(conf, uri, backend='slow')
    assert b''.join(stores['slow'].get(loc)[0]) == data
    # The other backend's policy does not cover LocalDS_1.
    with pytest.raises(exceptions.BadStoreUri):
        stores['fast'].get(glance_setup.location_of(conf, uri,
                                                    backend='fast'))
    stores['slow'].delete(loc)


class RecordingVerifier:
    """Stands in for Glance's signature verifier: sees every byte."""

    def __init__(self):
        self.digest = hashlib.sha256()

    def update(self, data):
        self.digest.update(data)


def test_signature_verifier_sees_the_whole_image(store):
    data = payload(3 * MiB + 1)
    verifier = RecordingVerifier()
    store.add('img-signed', io.BytesIO(data), len(data), 'md5',
              verifier=verifier)
    assert verifier.digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_url_prefix_covers_the_image_locations(store):
    uri = store.add('img-prefix', io.BytesIO(b'abc'), 3, 'md5')[0]
    assert store.url_prefix == uri.split('/img-prefix?')[0]


def test_back_compat_add_without_hashing_algo(store):
    data = payload(MiB)
    uri, size, checksum, _meta = store.add('img-old', io.BytesIO(data),
                                           len(data))
    assert (size, checksum) == (len(data), hashlib.md5(data).hexdigest())
    assert read_all(store, uri)[0] == data
