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

"""One ``vsphere`` store instance used by many threads at once."""

import concurrent.futures
import hashlib
import io
import os
import threading

from glance_store import exceptions
import pytest

from tests.functional import fault_proxy
from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import payload

MiB = 1024 * 1024

pytestmark = pytest.mark.timeout(120)


def read_all(store, uri):
    chunks, _size = store.get(glance_setup.location_of(store.conf, uri))
    return b''.join(chunks)


def test_concurrent_adds_of_one_image_id(vcsim, test_ca):
    ds0 = vcsim.datastore_dir('LocalDS_0')
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as proxy:
        _conf, store = glance_setup.single_store(
            vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'),
            vmware_server_host=proxy.host, vmware_server_port=proxy.port)
        # Both uploads get past the existence check before either body
        # is sent: only the final rename can tell them apart.
        both_started = threading.Barrier(2, timeout=30)
        proxy.on_put = lambda _path: both_started.wait()
        datas = [payload(2 * MiB, b'a'), payload(2 * MiB, b'b')]
        results = [None, None]

        def add(i):
            try:
                results[i] = store.add('img-race', io.BytesIO(datas[i]),
                                       len(datas[i]), 'md5')
            except Exception as e:
                results[i] = e

        threads = [threading.Thread(target=add, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert proxy.requests[('folder', 'PUT')] == 2

    winners = [i for i in (0, 1) if isinstance(results[i], tuple)]
    losers = [i for i in (0, 1) if isinstance(results[i],
                                              exceptions.Duplicate)]
    assert len(winners) == 1 and len(losers) == 1, results
    winner = winners[0]
    assert results[winner][2] == hashlib.md5(datas[winner]).hexdigest()
    assert files_under(ds0) == ['openstack_glance/img-race']
    with open(os.path.join(ds0, 'openstack_glance', 'img-race'), 'rb') as f:
        assert f.read() == datas[winner]


def test_concurrent_adds_and_gets_of_different_images(vcsim):
    ds0 = vcsim.datastore_dir('LocalDS_0')
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'))

    def round_trip(i):
        data = payload(MiB + i * 4099, b'%d' % i)
        image_id = 'img-%d' % i
        uri, size, checksum, _mh, _m = store.add(
            image_id, io.BytesIO(data), len(data) if i % 2 else 0, 'sha256')
        assert size == len(data)
        assert checksum == hashlib.md5(data).hexdigest()
        assert read_all(store, uri) == data
        return image_id

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        stored = list(pool.map(round_trip, range(8)))
    assert files_under(ds0) == sorted('openstack_glance/' + image_id
                                      for image_id in stored)
