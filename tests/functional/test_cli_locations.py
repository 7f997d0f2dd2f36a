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

"""``glance-store-vmware locations`` against the simulator, with Glance's
images from an in-process fake Glance API: what the configured store
would refuse, missing files, and the marks of crafted locations."""

import uuid

import pytest

from tests.functional import cli_setup
from tests.functional import fake_glance
from tests.functional.test_cli_orphans import OLD
from tests.functional.test_cli_orphans import plant
from tests.functional.test_cli_orphans import url

pytestmark = pytest.mark.timeout(120)

USERS = {'admin': ('pw', ('admin', 'service'))}


@pytest.fixture
def cloud():
    with fake_glance.FakeCloud(USERS) as cloud:
        yield cloud


def findings(result):
    return sorted((r['image'], r['finding']) for r in result.rows(
        'locations'))


def test_refused_missing_shared_and_misnamed_locations(vcsim, cloud,
                                                       tmp_path):
    good = str(uuid.uuid4())
    plant(vcsim, good, OLD)
    other_ds = str(uuid.uuid4())
    plant(vcsim, other_ds, OLD, ds='LocalDS_1')
    images = {
        'good': cloud.add_image([url(vcsim, good)], image_id=good),
        'foreign_host': cloud.add_image([url(vcsim, good,
                                             host='vcenter.example.org')]),
        'other_ds': cloud.add_image([url(vcsim, other_ds, ds='LocalDS_1')],
                                    image_id=other_ds),
        'missing': cloud.add_image([]),
        'crafted': cloud.add_image([url(vcsim, good)]),
        'not_ours': cloud.add_image(['http://example.org/x.img']),
    }
    cloud.locations[images['missing']] = [
        {'url': url(vcsim, images['missing']), 'metadata': {}}]
    conf = cli_setup.glance_conf(
        tmp_path, vcsim, extra={'vsphere_glance_api': cloud.options(
            'admin')})
    result = cli_setup.run('locations', '--config-file', conf)
    assert result.status == 1, result.stdout + result.stderr
    assert findings(result) == sorted([
        (images['foreign_host'], 'refused'),
        (images['other_ds'], 'refused'),
        (images['missing'], 'missing'),
        (images['good'], 'shared file'),
        (images['crafted'], 'shared file'),
        (images['crafted'], 'not named after image'),
    ])
    details = {(r['image'], r['finding']): r['detail']
               for r in result.rows('locations')}
    assert 'not the configured 127.0.0.1' in details[
        (images['foreign_host'], 'refused')]
    assert "datastore 'LocalDS_1'" in details[(images['other_ds'],
                                               'refused')]
    assert images['crafted'] in details[(images['good'], 'shared file')]
    summary = result.json()
    assert (summary['images'], summary['vsphere_locations']) == (6, 5)

    # The refused datastore once configured, the crafted location gone:
    # nothing left to report.
    del cloud.images[images['crafted']]
    del cloud.images[images['foreign_host']]
    del cloud.images[images['missing']]
    conf = cli_setup.glance_conf(
        tmp_path, vcsim, datastores=('LocalDS_0', 'LocalDS_1'),
        extra={'vsphere_glance_api': cloud.options('admin')})
    result = cli_setup.run('locations', '--config-file', conf)
    assert result.status == 0, result.stdout
    assert result.rows('locations') == []


def test_nova_refuses_files_not_named_after_their_image(vcsim, cloud,
                                                        tmp_path):
    good = str(uuid.uuid4())
    plant(vcsim, good, OLD)
    crafted = cloud.add_image([url(vcsim, good)])
    cloud.add_image([url(vcsim, good)], image_id=good)
    conf = cli_setup.nova_conf(tmp_path, vcsim, handler=dict(
        cloud.options('admin')))
    result = cli_setup.run('locations', '--config-file', conf)
    assert result.status == 1
    [row] = result.rows('locations')
    assert (row['image'], row['finding']) == (crafted, 'refused')
    assert ('[vsphere_image_handler] require_image_id_file_name'
            in row['detail'])
