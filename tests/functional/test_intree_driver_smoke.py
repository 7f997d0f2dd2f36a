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

"""glance_store's in-tree VMware driver really runs against the simulator.

It is the baseline we benchmark against, so it has to work here. It can
only talk to port 443 of ``vmware_server_host``, hence ``vcsim_443``.
"""

import hashlib
import io
import os
import uuid

import glance_store
from glance_store import capabilities
from glance_store import exceptions
from glance_store import location
from oslo_config import cfg
import pytest

pytestmark = pytest.mark.port443

DATASTORE = 'LocalDS_0'
IMAGE_DIR = '/openstack_glance'


def glance_conf(sim, ca_file):
    """A [glance_store] section as glance-api.conf would have it."""
    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    conf(args=[], default_config_files=[])
    for name, value in {
            'stores': ['vmware'],
            'default_store': 'vsphere',
            'vmware_server_host': sim.host,
            'vmware_server_username': sim.username,
            'vmware_server_password': sim.password,
            'vmware_datastores': ['DC0:%s:100' % DATASTORE],
            'vmware_store_image_dir': IMAGE_DIR,
            'vmware_ca_file': ca_file,
            'vmware_insecure': False,
            'vmware_api_retry_count': 1,
            'vmware_task_poll_interval': 1}.items():
        conf.set_override(name, value, group='glance_store')
    return conf


@pytest.fixture
def registered_schemes(monkeypatch):
    # glance_store keeps its scheme -> store map in a module global.
    monkeypatch.setattr(location, 'SCHEME_TO_CLS_MAP', {})


def configured_store(conf):
    assert glance_store.create_stores(conf) == 1
    store = glance_store.get_store_from_scheme('vsphere')
    assert store.is_capable(capabilities.BitMasks.WRITE_ACCESS), (
        'the in-tree driver disabled add(); see the log for why')
    return store


@pytest.fixture
def conf(vcsim_443):
    return glance_conf(vcsim_443, vcsim_443.ca_file)


@pytest.fixture
def store(vcsim_443, conf, registered_schemes, monkeypatch):
    # The in-tree driver moves image data with requests sessions on which it
    # only sets Session.verify = vmware_ca_file. requests lets
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify, and both
    # are set on our machines, so the driver ignores vmware_ca_file for the
    # data path. That is the in-tree defect our driver fixes (it passes
    # verify= per request); here we point the variables at the test CA so
    # that the in-tree driver verifies the simulator at all.
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', vcsim_443.ca_file)
    monkeypatch.setenv('CURL_CA_BUNDLE', vcsim_443.ca_file)
    store = configured_store(conf)
    yield store
    store.session.logout()


def test_intree_driver_adds_gets_and_deletes_an_image(vcsim_443, conf,
                                                      store):
    image_id = str(uuid.uuid4())
    data = os.urandom(3 * 1024 * 1024 + 17)
    on_datastore = os.path.join(vcsim_443.datastore_dir(DATASTORE),
                                IMAGE_DIR.strip('/'), image_id)

    uri, size, checksum, multihash, metadata = store.add(
        image_id, io.BytesIO(data), len(data), 'sha256')

    assert uri == 'vsphere://%s/folder%s/%s?dsName=%s&dcPath=DC0' % (
        vcsim_443.host, IMAGE_DIR, image_id, DATASTORE)
    assert size == len(data)
    assert checksum == hashlib.md5(data).hexdigest()
    assert multihash == hashlib.sha256(data).hexdigest()
    with open(on_datastore, 'rb') as f:
        assert f.read() == data

    loc = location.get_location_from_uri(uri, conf=conf)
    assert store.get_size(loc) == len(data)
    chunks, length = store.get(loc)
    assert length == len(data)
    assert b''.join(chunks) == data

    store.delete(loc)

    assert not os.path.exists(on_datastore)
    with pytest.raises(exceptions.NotFound):
        store.get(loc)
    with pytest.raises(exceptions.NotFound):
        store.delete(loc)


def test_intree_driver_lets_requests_ca_bundle_override_vmware_ca_file(
        vcsim_443, conf, other_ca, registered_schemes, monkeypatch):
    # vmware_ca_file names the right CA, yet the upload is verified against
    # whatever REQUESTS_CA_BUNDLE says. (The SOAP side is fine: oslo.vmware
    # passes verify= per request.)
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', other_ca.ca_file)
    store = configured_store(conf)
    try:
        with pytest.raises(exceptions.BackendException,
                           match='CERTIFICATE_VERIFY_FAILED'):
            store.add(str(uuid.uuid4()), io.BytesIO(b'data'), 4, 'sha256')
    finally:
        store.session.logout()
