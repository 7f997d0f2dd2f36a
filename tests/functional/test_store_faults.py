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

"""The ``vsphere`` store when the network or vCenter misbehaves, through a
fault-injecting proxy in front of the simulator."""

import io
import os
import threading
import time

from glance_store import exceptions
import pytest

from tests.functional import fault_proxy
from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import payload

MiB = 1024 * 1024

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def proxy(vcsim, test_ca):
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as proxy:
        yield proxy


def proxied_store(vcsim, proxy, **overrides):
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'),
        vmware_server_host=proxy.host, vmware_server_port=proxy.port,
        **overrides)
    return store


@pytest.fixture
def store(vcsim, proxy):
    return proxied_store(vcsim, proxy)


@pytest.fixture
def ds0(vcsim):
    return vcsim.datastore_dir('LocalDS_0')


def read_all(store, uri):
    chunks, _size = store.get(glance_setup.location_of(store.conf, uri))
    return b''.join(chunks)


def assert_no_files(directory, timeout=5.0):
    """The simulator removes its own partial upload asynchronously."""
    deadline = time.monotonic() + timeout
    while files_under(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert files_under(directory) == []


def test_proxy_forwards_everything(store, proxy, ds0):
    data = payload(3 * MiB + 5)
    uri = store.add('img-ok', io.BytesIO(data), len(data), 'md5')[0]
    unknown = store.add('img-chunked', io.BytesIO(data), 0, 'md5')[0]
    assert read_all(store, uri) == data
    assert read_all(store, unknown) == data
    store.delete(glance_setup.location_of(store.conf, uri))
    assert files_under(ds0) == ['openstack_glance/img-chunked']
    assert proxy.requests[('folder', 'PUT')] == 2
    assert proxy.requests[('folder', 'GET')] == 2
    assert proxy.requests[('sdk', 'POST')] > 0


def test_connection_cut_midway_leaves_nothing(store, proxy, ds0):
    proxy.cut_after = 2 * MiB
    data = payload(8 * MiB)
    # A dropped connection is worth retrying: 503 in Glance, not 500.
    with pytest.raises(exceptions.TimeoutError, match='vCenter'):
        store.add('img-cut', io.BytesIO(data), len(data), 'md5')
    assert_no_files(ds0)
    # The store recovers once the network does.
    proxy.reset()
    uri = store.add('img-cut', io.BytesIO(data), len(data), 'md5')[0]
    assert read_all(store, uri) == data


def test_server_error_midway_leaves_nothing(store, proxy, ds0):
    proxy.status_after = (2 * MiB, 500)
    data = payload(8 * MiB)
    # The 500 arrives while the body is still being sent; requests sees
    # either the answer or the connection it closed (then 503: retry).
    with pytest.raises((exceptions.BackendException,
                        exceptions.TimeoutError), match=r'\.img-500\.'):
        store.add('img-500', io.BytesIO(data), len(data), 'md5')
    assert_no_files(ds0)


def test_error_after_a_complete_upload_removes_the_temporary_file(
        store, proxy, ds0):
    # The simulator stores the whole temporary file; the answer is lost.
    data = payload(MiB)
    proxy.status_after = (len(data) + 1, 503)
    with pytest.raises(exceptions.BackendException, match='503'):
        store.add('img-503', io.BytesIO(data), len(data), 'md5')
    assert_no_files(ds0)


@pytest.mark.parametrize('size, stall_after', [
    (32 * MiB, 256 * 1024),  # stops reading the body: the send times out
    (MiB, 2 * MiB),          # takes the whole body, never answers
], ids=['body', 'answer'])
def test_stalled_server_times_out_and_leaves_nothing(vcsim, proxy, ds0,
                                                     size, stall_after):
    store = proxied_store(vcsim, proxy, vmware_http_timeout=2)
    proxy.stall_after = stall_after
    data = payload(size)
    with pytest.raises(exceptions.BackendException):
        store.add('img-stall', io.BytesIO(data), len(data), 'md5')
    # Dropping the stalled upload lets the simulator remove its part.
    proxy.stop()
    assert_no_files(ds0)


def test_connections_are_reused(store, proxy):
    uris = []
    for i in range(3):
        data = payload(MiB + i)
        uris.append(store.add('img-%d' % i, io.BytesIO(data), len(data),
                              'md5')[0])
    for uri in uris:
        read_all(store, uri)
        store.get_size(glance_setup.location_of(store.conf, uri))
    folder_requests = sum(n for (part, _m), n in proxy.requests.items()
                          if part == 'folder')
    assert folder_requests >= 12  # HEAD + PUT per add, GET, HEAD
    assert proxy.connections['folder'] <= 2, proxy.connections
    sdk_requests = proxy.requests[('sdk', 'POST')]
    assert proxy.connections['sdk'] <= 2 < sdk_requests, proxy.connections


def assert_names_vcenter(excinfo, proxy):
    assert '127.0.0.1:%d' % proxy.port in str(excinfo.value)


def test_unreachable_vcenter_fails_promptly(vcsim, proxy):
    proxy.stop()
    store = proxied_store(vcsim, proxy)  # start-up only logs a warning
    uri = 'vsphere://127.0.0.1:%d/folder/openstack_glance/x?dcPath=DC0&' \
        'dsName=LocalDS_0' % proxy.port
    with pytest.raises(exceptions.TimeoutError) as excinfo:
        store.add('img-down', io.BytesIO(b'abc'), 3, 'md5')
    assert_names_vcenter(excinfo, proxy)
    # Glance's download answers RemoteServiceUnavailable with 503.
    with pytest.raises(exceptions.RemoteServiceUnavailable) as excinfo:
        read_all(store, uri)
    assert_names_vcenter(excinfo, proxy)


def test_vcenter_going_away_fails_promptly(store, proxy):
    # A refused connection is an outage, not retried (documented
    # defaults).  Unreachable is glance_store's TimeoutError, which Glance
    # answers with 503.
    data = payload(MiB)
    uri = store.add('img-gone', io.BytesIO(data), len(data), 'md5')[0]
    proxy.stop()
    # Glance's download answers RemoteServiceUnavailable with 503.
    with pytest.raises(exceptions.RemoteServiceUnavailable) as excinfo:
        read_all(store, uri)
    assert_names_vcenter(excinfo, proxy)
    with pytest.raises(exceptions.TimeoutError) as excinfo:
        store.add('img-gone2', io.BytesIO(data), len(data), 'md5')
    assert_names_vcenter(excinfo, proxy)


def test_proxy_stops_cleanly(vcsim, test_ca):
    before = set(threading.enumerate())
    proxy = fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca).start()
    store = proxied_store(vcsim, proxy)
    store.add('img-t', io.BytesIO(b'abc'), 3, 'md5')
    proxy.stop()
    proxy.stop()
    # The store's own sweeper for partial uploads is not the proxy's.
    assert {t for t in set(threading.enumerate()) - before
            if t.name != 'vsphere-partials'} == set()
    assert os.path.exists(vcsim.datastore_dir('LocalDS_0'))
