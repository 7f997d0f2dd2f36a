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

"""``glance-store-vmware orphans`` and ``locations`` on the configuration
file of a running glance-api, asking that real Glance (33) for its images
and their locations, against the simulator.

Keystone is the in-process stand-in of tests/functional/fake_glance.py:
it issues the tokens the test authentication filter of this glance-api
accepts, and puts this glance-api in the catalog.
"""

import io
import os
import uuid

import pytest

from tests.functional import cli_setup
from tests.glance_functional.conftest import OLD
from tests.glance_functional.conftest import age
from tests.glance_functional.conftest import cli_config
from tests.helpers import payload

pytestmark = pytest.mark.timeout(300)


def test_orphans_and_locations_ask_the_real_glance(glance_single,
                                                   package_vcsim, tmp_path):
    sim = package_vcsim
    image_dir = os.path.join(sim.datastore_dir('LocalDS_0'),
                             'openstack_glance')
    glance = glance_single.client()             # a member's images
    images = []
    try:
        for name, extra in (('visible', {}), ('hidden', {'os_hidden': True})):
            image = glance.images.create(name=name, disk_format='raw',
                                         container_format='bare', **extra)
            images.append(image.id)
            glance.images.upload(image.id, io.BytesIO(payload(4096)),
                                 image_size=4096)
            # Old enough to be reclaimed, were they not referenced.
            age(os.path.join(image_dir, image.id), OLD)
        lost = os.path.join(image_dir, str(uuid.uuid4()))
        partial = os.path.join(image_dir, '.%s.%s.part' % (
            uuid.uuid4(), uuid.uuid4().hex))
        for path in (lost, partial):
            with open(path, 'wb') as f:
                f.write(b'x' * 1000)
            age(path, OLD)

        with cli_config(glance_single, tmp_path / 'glance-api.conf') as conf:
            dry = cli_setup.run('orphans', '--config-file', conf)
            assert dry.status == 1, dry.stdout + dry.stderr
            found = {os.path.basename(r['file'].split('] ')[1])
                     for r in dry.rows('files')
                     if r['action'] == 'would delete'}
            assert found == {os.path.basename(lost),
                             os.path.basename(partial)}
            # No problem: every image's locations came from the locations
            # API (the records show only direct_url, which would not be
            # complete), or nothing would be called unreferenced.
            assert dry.json()['problems'] == []

            done = cli_setup.run('orphans', '--config-file', conf,
                                 '--delete')
            assert done.status == 0, done.stdout + done.stderr
            assert not os.path.exists(lost)
            assert not os.path.exists(partial)
            for image_id in images:
                assert len(b''.join(glance.images.data(image_id))) == 4096

            checked = cli_setup.run('locations', '--config-file', conf)
            assert checked.status == 0, checked.stdout + checked.stderr
            assert checked.json()['vsphere_locations'] >= 2
    finally:
        for image_id in images:
            glance.images.delete(image_id)
