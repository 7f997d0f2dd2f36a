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

"""``etc/glance-api-two-vcenters.conf``: one real glance-api, a backend on
each of two simulators standing in for two vCenters, each simulator with
its own CA and certificate.  Images are copied between them with
``copy-image`` through Glance's import API.

Both simulators have the same inventory names (DC0, LocalDS_0), as two
vCenters installed with the defaults do: only the vCenter in a location
tells the copies apart.
"""

import contextlib
import io
import os
import urllib.parse
import uuid

import pytest

from tests.functional import cli_setup
from tests.functional.conftest import _simulator
from tests.functional.conftest import _simulator_with_own_ca
from tests.functional.test_cli_orphans import plant
from tests.glance_functional import conftest
from tests.glance_functional import glance_api
from tests.glance_functional.conftest import OLD
from tests.glance_functional.conftest import age
from tests.glance_functional.conftest import cli_config
from tests.glance_functional.conftest import image_files
from tests.helpers import payload
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
DS = 'LocalDS_0'


@pytest.fixture(scope='module')
def vcenter1(request, vcsim_build, test_ca, tmp_path_factory):
    yield from _simulator(request, vcsim_build, test_ca, tmp_path_factory)


@pytest.fixture(scope='module')
def vcenter2(request, vcsim_build, tmp_path_factory):
    # Its own CA: a backend that used the other vCenter's CA file, or the
    # system's trust store, could not log in.
    yield from _simulator_with_own_ca(request, vcsim_build,
                                      tmp_path_factory, 'vCenter 2 test CA')


@pytest.fixture(scope='module')
def glance(request, vcenter1, vcenter2, tmp_path_factory):
    """glance-api from the documented file: vc1 on the first simulator,
    vc2 on the second."""
    assert vcenter1.ca_file != vcenter2.ca_file
    yield from conftest._glance(
        request, tmp_path_factory, vcenter1,
        source=glance_api.TWO_VCENTERS_CONF,
        backends={'vc1': [DS], 'vc2': (vcenter2, [DS])})


@pytest.fixture(autouse=True)
def nothing_left(vcenter1, vcenter2):
    """Every test removes its images from both vCenters."""
    before = {sim: set(image_files(sim, DS)) for sim in (vcenter1, vcenter2)}
    yield
    for sim, names in before.items():
        left = set(image_files(sim, DS)) - names
        assert not left, 'files left on %s:%d: %s' % (sim.host, sim.port,
                                                      sorted(left))


def on_datastore(sim, image_id):
    with open(os.path.join(sim.datastore_dir(DS), 'openstack_glance',
                           image_id), 'rb') as f:
        return f.read()


def stores(client, image_id):
    return sorted(client.images.get(image_id).stores.split(','))


@contextlib.contextmanager
def image_on_both(glance, data, name):
    """An image uploaded to vc1 (the default backend), then copied to vc2
    by an administrator's copy-image import; deleted after the block."""
    member = glance.client()
    image = member.images.create(name=name, disk_format='raw',
                                 container_format='bare')
    try:
        member.images.upload(image.id, io.BytesIO(data),
                             image_size=len(data))
        assert stores(member, image.id) == ['vc1']
        # copy-image is for admins by default (policy copy_image).
        admin = glance.client(glance.admin_token)
        admin.images.image_import(image.id, method='copy-image',
                                  stores=['vc2'])
        wait_for(lambda: stores(member, image.id) == ['vc1', 'vc2'],
                 'copy-image of %s to vc2' % image.id)
        yield image.id
    finally:
        member.images.delete(image.id)


def vcenter_of(url):
    return urllib.parse.urlsplit(url).netloc


def test_each_backend_is_listed_with_its_description(glance):
    info = glance.client().images.get_stores_info()['stores']
    assert sorted((s['id'], s['description']) for s in info) == [
        ('vc1', 'Images on vCenter 1 (site A)'),
        ('vc2', 'Images on vCenter 2 (site B)')]
    assert [s['id'] for s in info if s.get('default')] == ['vc1']


def test_copy_image_to_the_other_vcenter_and_delete_both(glance, vcenter1,
                                                        vcenter2):
    member, admin = glance.client(), glance.client(glance.admin_token)
    data = payload(3 * MiB + 7)
    with image_on_both(glance, data, 'two-vcenters') as image_id:
        # One location per backend, each naming its own vCenter, and the
        # same bytes in each vCenter's datastore.
        locations = admin.images.get_image_locations(image_id)
        assert sorted((loc['metadata']['store'], vcenter_of(loc['url']))
                      for loc in locations) == [
            ('vc1', '%s:%d' % (vcenter1.host, vcenter1.port)),
            ('vc2', '%s:%d' % (vcenter2.host, vcenter2.port))]
        assert on_datastore(vcenter1, image_id) == data
        assert on_datastore(vcenter2, image_id) == data
        # The import staged the image locally and cleaned up after itself.
        assert os.listdir(glance.staging_dir) == []
        # glanceclient checks os_hash_value as it reads.
        assert b''.join(member.images.data(image_id)) == data
    assert image_id not in image_files(vcenter1, DS)
    assert image_id not in image_files(vcenter2, DS)


def test_after_removal_from_vc1_the_copy_on_vc2_is_read(glance, vcenter1,
                                                       vcenter2):
    member, admin = glance.client(), glance.client(glance.admin_token)
    data = payload(MiB + 3)
    with image_on_both(glance, data, 'leaves-vc1') as image_id:
        # DELETE /v2/stores/vc1/<id>, as when vCenter 1 is retired.
        admin.images.delete_from_store('vc1', image_id)
        assert stores(member, image_id) == ['vc2']
        assert image_id not in image_files(vcenter1, DS)

        # Glance has only vc2's location left: vc2's backend reads it.
        assert b''.join(member.images.data(image_id)) == data
    assert image_id not in image_files(vcenter2, DS)


def test_a_location_added_by_a_service_goes_to_the_vcenter_it_names(
        glance, vcenter1, vcenter2):
    """POST /v2/images/{id}/locations (a service such as Nova or Cinder
    that wrote the file itself): Glance gives the location to the backend
    whose url_prefix it starts with, here vc2's, although both vCenters
    have the same datacenter, datastore and directory names."""
    service = glance.client(glance.token('nova', 'service',
                                         ('service', 'member', 'reader')))
    data = payload(MiB + 5)
    image = service.images.create(name='added-location', disk_format='raw',
                                  container_format='bare')
    try:
        plant(vcenter2, image.id, 0, data=data)
        url = 'vsphere://%s:%d/folder/openstack_glance/%s?%s' % (
            vcenter2.host, vcenter2.port, image.id,
            urllib.parse.urlencode({'dcPath': 'DC0', 'dsName': DS}))
        service.images.add_image_location(image.id, url)
        # Glance computes the checksums by reading it through vc2.
        wait_for(lambda: service.images.get(image.id).status == 'active',
                 'the location import of %s' % image.id)

        locations = service.images.get_image_locations(image.id)
        assert [(loc['url'], loc['metadata'].get('store'))
                for loc in locations] == [(url, 'vc2')]
        assert service.images.get(image.id).stores == 'vc2'
        assert b''.join(service.images.data(image.id)) == data
    finally:
        service.images.delete(image.id)
    assert image.id not in image_files(vcenter2, DS)
    assert image.id not in image_files(vcenter1, DS)


def test_command_line_on_the_two_vcenter_configuration(glance, vcenter1,
                                                      vcenter2, tmp_path):
    """check reports each backend on its own vCenter; locations checks each
    location with the backend Glance recorded for it; orphans finds a lost
    file on the vCenter where it is."""
    data = payload(4096)
    with image_on_both(glance, data, 'command-line') as image_id, \
            cli_config(glance, tmp_path / 'glance-api.conf') as conf:
        image_dir = os.path.join(vcenter2.datastore_dir(DS),
                                 'openstack_glance')
        # Old enough to be reclaimed, were it not referenced.
        age(os.path.join(image_dir, image_id), OLD)
        lost = plant(vcenter2, str(uuid.uuid4()), OLD)

        check = cli_setup.run('check', '--config-file', conf)
        assert check.status == 0, check.stdout + check.stderr
        logins = sorted(r['subject'] for r in check.rows('findings')
                        if r['check'] == 'login')
        assert logins == [
            "vsphere store 'vc1': vCenter %s:%d" % (vcenter1.host,
                                                    vcenter1.port),
            "vsphere store 'vc2': vCenter %s:%d" % (vcenter2.host,
                                                    vcenter2.port)]
        probes = [r['subject'] for r in check.rows('findings')
                  if r['check'] == 'write probe']
        assert len(probes) == 2, check.stdout

        checked = cli_setup.run('locations', '--config-file', conf)
        assert checked.status == 0, checked.stdout + checked.stderr
        assert checked.rows('locations') == []
        assert checked.json()['vsphere_locations'] >= 2

        dry = cli_setup.run('orphans', '--config-file', conf)
        assert dry.status == 1, dry.stdout + dry.stderr
        # Same datacenter and datastore names on both: the backend says
        # which vCenter the file is on.
        assert [(r['kind'], r['backend'], r['action'])
                for r in dry.rows('files')
                if os.path.basename(lost) in r['file']] == [
            ('unreferenced image file', 'vc2', 'would delete')]
        assert not [r for r in dry.rows('files') if image_id in r['file']]

        done = cli_setup.run('orphans', '--config-file', conf, '--delete')
        assert done.status == 0, done.stdout + done.stderr
        assert not os.path.exists(lost)
        assert on_datastore(vcenter1, image_id) == data
        assert on_datastore(vcenter2, image_id) == data
