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

"""``glance-store-vmware orphans`` against the simulator, with Glance's
image list from an in-process fake Glance API.

Files are planted in the image directory and aged with ``os.utime`` (the
simulator's clock is this machine's).  Only abandoned partial uploads and
old image files that no Glance location names may be reported and
deleted; everything else stays.
"""

import os
import time
import uuid

import pytest

from glance_store_vmware import location
from glance_store_vmware.vsphere import paths
from tests.functional import cli_setup
from tests.functional import fake_glance

pytestmark = pytest.mark.timeout(120)

OLD = 2 * 3600          # older than vmware_partial_file_max_age (3600)
YOUNG = 60
IMAGE_DIR = 'openstack_glance'
USERS = {'admin': ('pw', ('admin', 'service')),
         'no-admin': ('pw', ('service',)),
         'no-service': ('pw', ('admin',))}


def plant(sim, name, age, data=b'x' * 1000, ds='LocalDS_0',
          directory=IMAGE_DIR):
    path = os.path.join(sim.datastore_dir(ds), directory, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def url(sim, name, ds='LocalDS_0', host=None):
    dsfile = paths.DatastoreFile('DC0', ds, '%s/%s' % (IMAGE_DIR, name))
    return location.ImageLocation(host or sim.host, sim.port, dsfile).url


@pytest.fixture
def cloud():
    with fake_glance.FakeCloud(USERS) as cloud:
        yield cloud


@pytest.fixture
def planted(vcsim, cloud):
    """A directory as months of uploads leave it, and Glance's images."""
    ids = {k: str(uuid.uuid4()) for k in (
        'referenced', 'hidden', 'other_name', 'second_ds', 'unreferenced',
        'young', 'nested')}
    files = {
        'referenced': plant(vcsim, ids['referenced'], OLD),
        'hidden': plant(vcsim, ids['hidden'], OLD),
        # Referenced under another name of the vCenter (no alias
        # configured): still referenced.
        'other_name': plant(vcsim, ids['other_name'], OLD),
        'second_ds': plant(vcsim, ids['second_ds'], OLD, ds='LocalDS_1'),
        'unreferenced': plant(vcsim, ids['unreferenced'], OLD,
                              data=b'u' * 3000),
        'young': plant(vcsim, ids['young'], YOUNG),
        'partial': plant(vcsim, '.%s.%s.part' % (uuid.uuid4(),
                                                 uuid.uuid4().hex), OLD,
                         data=b'p' * 500),
        'young_partial': plant(vcsim, '.%s.%s.part' % (
            uuid.uuid4(), uuid.uuid4().hex), YOUNG),
        'readme': plant(vcsim, 'README', OLD),
        'other_hidden': plant(vcsim, '.keep', OLD),
        'nested': plant(vcsim, ids['nested'], OLD,
                        directory=IMAGE_DIR + '/sub'),
        'outside': plant(vcsim, ids['unreferenced'], OLD, directory='other'),
    }
    cloud.add_image([url(vcsim, ids['referenced'])])
    cloud.add_image([url(vcsim, ids['hidden'])], hidden=True)
    cloud.add_image([url(vcsim, ids['other_name'],
                         host='vcenter.example.org')])
    cloud.add_image(['http://example.org/image',
                     url(vcsim, ids['second_ds'], ds='LocalDS_1')])
    for _ in range(3):          # more pages
        cloud.add_image([])
    return files


def conf_for(tmp_path, sim, cloud, user='admin'):
    return cli_setup.glance_conf(
        tmp_path, sim, datastores=('LocalDS_0', 'LocalDS_1'),
        extra={'vsphere_glance_api': cloud.options(user)})


def existing(files):
    return sorted(k for k, path in files.items() if os.path.exists(path))


def test_finds_partials_and_unreferenced_files_and_deletes_only_them(
        vcsim, cloud, planted, tmp_path):
    conf = conf_for(tmp_path, vcsim, cloud)
    everything = existing(planted)

    dry = cli_setup.run('orphans', '--config-file', conf)
    assert dry.status == 1, dry.stdout + dry.stderr
    rows = {os.path.basename(r['file'].split('] ')[1]): r
            for r in dry.rows('files')}
    found = {name for name, r in rows.items()
             if r['action'] == 'would delete'}
    assert found == {os.path.basename(planted['partial']),
                     os.path.basename(planted['unreferenced'])}
    assert rows[os.path.basename(planted['unreferenced'])]['kind'] == (
        'unreferenced image file')
    assert rows[os.path.basename(planted['partial'])]['kind'] == (
        'partial upload')
    assert rows['README']['action'] == 'kept: not a name the store writes'
    assert rows[os.path.basename(planted['young'])]['action'].startswith(
        'kept: younger than')
    assert dry.json()['reclaimable_bytes'] == 3500
    assert dry.json()['problems'] == []
    assert existing(planted) == everything          # a dry run

    done = cli_setup.run('orphans', '--config-file', conf, '--delete')
    assert done.status == 0, done.stdout + done.stderr
    assert done.json()['deleted_bytes'] == 3500
    assert done.json()['reclaimable_bytes'] == 0
    assert existing(planted) == sorted(
        set(everything) - {'partial', 'unreferenced'})

    again = cli_setup.run('orphans', '--config-file', conf)
    assert again.status == 0
    assert again.json()['reclaimable_bytes'] == 0


def test_older_than_counts_younger_files(vcsim, cloud, planted, tmp_path):
    conf = conf_for(tmp_path, vcsim, cloud)
    result = cli_setup.run('orphans', '--config-file', conf,
                           '--older-than', '5m')
    assert result.status == 1
    found = {os.path.basename(r['file'].split('] ')[1])
             for r in result.rows('files') if r['action'] == 'would delete'}
    assert os.path.basename(planted['young']) not in found   # 60 s old
    result = cli_setup.run('orphans', '--config-file', conf,
                           '--older-than', '30')
    assert result.status == 2
    assert 'vmware_http_timeout' in result.stderr


def test_without_the_admin_role_nothing_is_called_unreferenced(
        vcsim, cloud, planted, tmp_path):
    conf = conf_for(tmp_path, vcsim, cloud, user='no-admin')
    result = cli_setup.run('orphans', '--config-file', conf, '--delete')
    assert result.status == 2
    assert 'lacks the admin role' in result.stderr
    assert existing(planted) == sorted(planted)


def test_unknown_locations_keep_every_image_file(vcsim, cloud, planted,
                                                 tmp_path):
    # The locations API refuses (no service role) and the records carry
    # no locations: Glance cannot say which files are referenced.
    conf = conf_for(tmp_path, vcsim, cloud, user='no-service')
    result = cli_setup.run('orphans', '--config-file', conf, '--delete')
    assert result.status == 1
    [problem] = result.json()['problems']
    assert 'none is called unreferenced' in problem
    assert 'HTTP 403' in problem
    # Partial uploads are judged without Glance.
    assert existing(planted) == sorted(set(planted) - {'partial'})


def test_a_nova_conf_is_a_usage_error(vcsim, tmp_path):
    result = cli_setup.run('orphans', '--config-file',
                           cli_setup.nova_conf(tmp_path, vcsim))
    assert result.status == 2
    assert 'glance-api.conf' in result.stderr


def test_two_backends_sharing_a_directory_list_it_once(vcsim, cloud,
                                                       tmp_path):
    lost = plant(vcsim, str(uuid.uuid4()), OLD)
    conf = cli_setup.multi_conf(
        tmp_path, vcsim, {'fast': ('LocalDS_0',), 'bulk': ('LocalDS_0',)},
        extra={'vsphere_glance_api': cloud.options('admin')})
    result = cli_setup.run('orphans', '--config-file', conf, '--delete')
    assert result.status == 0, result.stdout + result.stderr
    assert [r['action'] for r in result.rows('files')] == ['deleted']
    assert not os.path.exists(lost)
