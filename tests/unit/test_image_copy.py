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

"""The location policy and location discovery shared by Nova and Cinder."""

import json

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import session as ks_session
import pytest

from glance_store_vmware import location
from glance_store_vmware.image_copy import discovery
from glance_store_vmware.image_copy import engine
from glance_store_vmware.image_copy import image
from glance_store_vmware.image_copy import policy
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths
from tests import helpers
from tests.unit.fake_vsphere import IMG
from tests.unit.fake_vsphere import SIZE
from tests.unit.fake_vsphere import VC
from tests.unit.fake_vsphere import FakeVSphere
from tests.unit.fake_vsphere import glance_file
from tests.unit.fake_vsphere import url


def chooser(fake, **config):
    config.setdefault('host', VC)
    return policy.LocationChooser(policy.PolicyConfig(**config), fake,
                                  fake.size)


def flat_image(**kw):
    kw.setdefault('size', SIZE)
    return image.Image(IMG, **kw)


# The location policy.

@pytest.mark.parametrize('config,loc', [
    ({}, url()),
    ({}, url(host='VC.example.org.')),
    ({'host_aliases': (('10.0.0.5', 443),)}, url(host='10.0.0.5')),
    ({'datastores': (('DC1', 'ds1'),)}, url()),
    ({'datastores': (('DC1', 'pod1'),)}, url(ds='ds3')),
    ({'image_dir': 'images/glance'}, url('images/glance/' + IMG)),
    ({'require_image_id_name': False}, url('openstack_glance/other')),
])
def test_allowed_locations(config, loc):
    dsfile = chooser(FakeVSphere(), **config).check(flat_image(), loc)
    assert dsfile.datastore in ('ds1', 'ds3')


@pytest.mark.parametrize('config,loc,reason', [
    ({}, url(host='vc2.example.org'), 'neither this vCenter'),
    ({}, url(host='vc.example.org:8443'), 'neither this vCenter'),
    ({'host_aliases': (('10.0.0.5', 443),)}, url(host='10.0.0.6'),
     'neither this vCenter'),
    ({'datastores': (('DC1', 'ds2'),)}, url(), 'not a configured image'),
    ({'datastores': (('DC1', 'pod1'),)}, url(), 'not a configured image'),
    ({'datastores': (('DC1', 'gone'),)}, url(), 'not a configured image'),
    ({}, url('vm1/' + IMG), 'not an image file'),
    ({}, url('openstack_glance/sub/' + IMG), 'not an image file'),
    ({}, url('openstack_glance/../vm1/' + IMG), '".."'),
    ({}, url('openstack_glance/.' + IMG), 'not an image file'),
    ({}, url('openstack_glance/other-image'), 'not named after image'),
    ({}, 'vsphere://user:pw@%s/folder/x?dcPath=a&dsName=b' % VC,
     'credentials'),
    ({}, 'https://%s/folder/openstack_glance/%s?dcPath=DC1&dsName=ds1'
     % (VC, IMG), 'scheme'),
])
def test_refused_locations(config, loc, reason):
    with pytest.raises(location.InvalidLocation, match=reason):
        chooser(FakeVSphere(), **config).check(flat_image(), loc)


# Location discovery.

def test_record_locations_orders_and_deduplicates():
    record = {'locations': [{'url': 'a', 'metadata': {}}, {'url': 'b'},
                            {'url': 'a'}, 'junk', {'metadata': {}}],
              'direct_url': 'b'}
    assert discovery.record_locations(record) == ['a', 'b']
    assert discovery.record_locations({'direct_url': 'c'}) == ['c']
    assert discovery.record_locations({}) == []


@pytest.fixture
def glance_stub():
    with helpers.GlanceLocationsStub() as stub:
        adapter = ks_adapter.Adapter(ks_session.Session(),
                                     endpoint_override=stub.url)
        yield stub, discovery.GlanceLocationsAPI(adapter)


def test_locations_api_returns_the_urls(glance_stub):
    stub, api = glance_stub
    stub.answers['/v2/images/%s/locations' % IMG] = (200, json.dumps([
        {'url': url(), 'metadata': {'store': 'vsphere'}},
        {'url': 'rbd://x', 'metadata': {}}]).encode())
    assert api.locations(IMG) == [url(), 'rbd://x']
    assert stub.requests[0] == '/v2/images/%s/locations' % IMG


@pytest.mark.parametrize('status,hint', [(403, 'service role'),
                                         (404, '2024.2'), (500, 'HTTP 500')])
def test_locations_api_errors_name_the_cause(glance_stub, status, hint):
    stub, api = glance_stub
    stub.answers['/v2/images/%s/locations' % IMG] = (status, b'{}')
    with pytest.raises(discovery.LocationsUnavailable, match=hint):
        api.locations(IMG)


def test_finder_prefers_the_api_and_falls_back_to_the_record(glance_stub):
    stub, api = glance_stub
    path = '/v2/images/%s/locations' % IMG
    stub.answers[path] = (200, json.dumps([{'url': 'from-api'}]).encode())
    records = []

    def record():
        records.append(1)
        return {'direct_url': 'from-record'}
    finder = discovery.locations_finder(IMG, api=api, record=record)
    assert records == [] and stub.requests == []  # lazy
    assert finder() == ['from-api'] and records == []
    stub.answers[path] = (403, b'{}')
    assert finder() == ['from-record']
    assert discovery.locations_finder(IMG, record=record)() == [
        'from-record']


# The copy engine.

def test_file_copy_is_checked_and_removed_when_short():
    fake = FakeVSphere(glance_file())
    fake.copies_come_out_short(by=1)
    copier = engine.CopyEngine(fake, fake)
    source = policy.LocationChooser(
        policy.PolicyConfig(VC), fake, fake.size).check(flat_image(), url())
    dest = paths.DatastoreFile('DC1', 'ds2', 'vols/v1/v1-flat.vmdk')
    with pytest.raises(errors.VSphereError, match='after the copy'):
        copier.copy_file(source, dest, SIZE)
    assert fake.under('vols') == []


def test_file_copy_failing_midway_leaves_nothing():
    fake = FakeVSphere(glance_file())
    fake.copies_break(SIZE // 2, errors.Unreachable('connection lost'))
    dest = paths.DatastoreFile('DC1', 'ds2', 'vols/v1/v1-flat.vmdk')
    src = paths.DatastoreFile('DC1', 'ds1', 'openstack_glance/' + IMG)
    with pytest.raises(errors.Unreachable):
        engine.CopyEngine(fake, fake).copy_file(src, dest, SIZE)
    assert fake.under('vols') == []


def test_file_copy_never_removes_a_file_it_did_not_write():
    dest = paths.DatastoreFile('DC1', 'ds2', 'vols/v1/v1-flat.vmdk')
    fake = FakeVSphere({**glance_file(), FakeVSphere.key(dest): 7})
    fake.fail['copy'] = errors.AlreadyExists(str(dest))
    src = paths.DatastoreFile('DC1', 'ds1', 'openstack_glance/' + IMG)
    with pytest.raises(errors.AlreadyExists):
        engine.CopyEngine(fake, fake).copy_file(src, dest, SIZE)
    assert fake.under('vols') == ['vols/v1/v1-flat.vmdk']


def test_work_directory_is_removed_whatever_happens():
    fake = FakeVSphere()
    copier = engine.CopyEngine(fake, fake)
    with pytest.raises(RuntimeError):
        with copier.work_directory('DC1', 'ds2', 'tmp') as work:
            fake.files[fake.key(work.child('x'))] = 1
            raise RuntimeError('boom')
    assert fake.under('tmp') == []
