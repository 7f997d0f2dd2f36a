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

"""Configuration mistakes against the simulator, through glance_store's
own loading (create_stores / create_multi_stores), as Glance loads the
store: what the log says at start-up, and what an upload raises.

The stores run on the defaults of vmware_api_retry_count and
vmware_task_poll_interval.
"""

import io
import logging

from glance_store import exceptions
import pytest

from glance_store_vmware import opts
from tests.functional import glance_setup

DEFAULTS = {o.name: o.default for o in opts.STORE_OPTS
            if o.name in ('vmware_api_retry_count',
                          'vmware_task_poll_interval')}

@pytest.fixture
def store_log(caplog):
    caplog.set_level(logging.INFO, logger='glance_store_vmware')

    def lines(level=logging.ERROR):
        return [r.getMessage() for r in caplog.records
                if r.name == 'glance_store_vmware.store'
                and r.levelno == level]
    return lines


def single(sim, datastores, **overrides):
    options = dict(DEFAULTS)
    options.update(overrides)
    return glance_setup.single_store(sim, datastores, **options)[1]


def add(store, image_id):
    return store.add(image_id, io.BytesIO(b'abc'), 3, 'md5')


def test_unknown_datastore_is_reported_once_and_named_to_users(
        vcsim, store_log):
    dc = vcsim.datacenter()['name']
    store = single(vcsim, ['%s:nosuch:10' % dc])
    assert store_log() == [
        "vsphere store: vmware_datastores entry '%s:nosuch:10': datacenter "
        "'%s' has no datastore or datastore cluster 'nosuch'; skipping it, "
        "looking it up again every 60 s" % (dc, dc)]

    with pytest.raises(exceptions.StorageWriteDenied) as e:
        add(store, 'img-typo')
    assert e.value.msg == (
        "vsphere store: cannot add image img-typo: no vmware_datastores "
        "entry names a datastore or datastore cluster that vCenter has: "
        "vmware_datastores entry '%s:nosuch:10': datacenter '%s' has no "
        "datastore or datastore cluster 'nosuch'" % (dc, dc))
    assert len(store_log()) == 2


def test_unknown_datacenter(vcsim, store_log):
    store = single(vcsim, ['NoDC:LocalDS_0'])
    [line] = store_log()
    assert "vmware_datastores entry 'NoDC:LocalDS_0': datacenter 'NoDC' " \
        "does not exist" in line
    with pytest.raises(exceptions.StorageWriteDenied,
                       match="'NoDC:LocalDS_0'"):
        add(store, 'img-nodc')


def test_comma_separated_entries_with_a_typo(vcsim, store_log):
    dc = vcsim.datacenter()['name']
    store = single(vcsim, ['%s:nosuch:10, %s:LocalDS_0:0' % (dc, dc)])
    uri = add(store, 'img-comma')[0]
    assert uri.endswith('dsName=LocalDS_0')
    [line] = store_log()
    assert "entry '%s:nosuch:10'" % dc in line
    store.delete(glance_setup.location_of(store.conf, uri))


def test_malformed_weight_stops_loading(vcsim, store_log):
    dc = vcsim.datacenter()['name']
    # From configure(), glance_store lets it through to Glance.
    with pytest.raises(exceptions.BadStoreConfiguration, match='weight'):
        single(vcsim, ['%s:LocalDS_0:1O' % dc])
    [line] = store_log()
    assert line.startswith("vsphere store: vmware_datastores entry '%s:"
                           "LocalDS_0:1O' has an invalid weight" % dc)


def test_wrong_password(vcsim, store_log):
    entries = glance_setup.datastore_entries(vcsim, 'LocalDS_0')
    store = single(vcsim, entries, vmware_server_password='not-the-password')
    [line] = store_log()
    assert 'refused the user name or password' in line
    assert 'vmware_server_username, vmware_server_password' in line
    with pytest.raises(exceptions.StorageWriteDenied) as e:
        add(store, 'img-password')
    assert 'vmware_server_password' in e.value.msg
    assert len(store_log()) == 2
    assert 'not-the-password' not in ' '.join(store_log())


def test_missing_ca_file(vcsim, store_log, tmp_path):
    entries = glance_setup.datastore_entries(vcsim, 'LocalDS_0')
    missing = str(tmp_path / 'vcenter-ca.pem')
    store = single(vcsim, entries, vmware_ca_file=missing)
    assert store_log() == [
        "vsphere store: vmware_ca_file %r does not exist; vCenter's "
        "certificate cannot be verified; requests that need vCenter fail "
        "until it is fixed" % missing]
    with pytest.raises(exceptions.StorageWriteDenied, match='vmware_ca_file'):
        add(store, 'img-noca')
    # Fixed without a restart.
    with open(vcsim.ca_file) as src, open(missing, 'w') as dst:
        dst.write(src.read())
    uri = add(store, 'img-noca')[0]
    store.delete(glance_setup.location_of(store.conf, uri))


def test_wrong_ca_file(vcsim, other_ca, store_log):
    entries = glance_setup.datastore_entries(vcsim, 'LocalDS_0')
    store = single(vcsim, entries, vmware_ca_file=other_ca.ca_file)
    [line] = store_log()
    assert 'vmware_ca_file, vmware_insecure' in line
    with pytest.raises(exceptions.StorageWriteDenied) as e:
        add(store, 'img-badca')
    assert 'certificate verify failed' in e.value.msg
    assert 'vmware_ca_file' in e.value.msg


def test_multi_store_lines_name_the_backend(vcsim, store_log):
    dc = vcsim.datacenter()['name']
    _conf, stores = glance_setup.multi_store(vcsim, {
        'fast': (['%s:nosuch' % dc], DEFAULTS),
        'bulk': (['%s:LocalDS_1' % dc], DEFAULTS)})
    [line] = store_log()
    assert line.startswith("vsphere store 'fast': vmware_datastores entry "
                           "'%s:nosuch'" % dc)
    uri = add(stores['bulk'], 'img-multi')[0]
    infos = store_log(logging.INFO)
    assert any(info.startswith("vsphere store 'bulk': stored image "
                               "img-multi") for info in infos), infos
    with pytest.raises(exceptions.StorageWriteDenied) as e:
        add(stores['fast'], 'img-multi')
    assert e.value.msg.startswith("vsphere store 'fast': ")
    stores['bulk'].delete(glance_setup.location_of(_conf, uri, 'bulk'))
