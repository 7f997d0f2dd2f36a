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

"""The functional suite runs Glance from the documented configuration."""

import re
import types

import pytest

from tests.glance_functional import glance_api


def fake_sim(port=8989):
    return types.SimpleNamespace(
        host='127.0.0.1', port=port, username='u', password='p',
        ca_file='/ca-%d.pem' % port, datacenter=lambda: {'name': 'DC0'})


def option_lines(text):
    return [line for line in text.splitlines()
            if re.match(r'[A-Za-z0-9_.-]+\s*=', line)]


@pytest.mark.parametrize('backends,source', [
    (None, None),
    ({'fast': ['LocalDS_0'], 'bulk': ['LocalDS_1']}, None),
    ({'vc1': ['LocalDS_0'], 'vc2': (fake_sim(8990), ['LocalDS_0'])},
     glance_api.TWO_VCENTERS_CONF),
])
def test_rendered_config_is_the_documented_one(tmp_path, backends, source):
    api = glance_api.GlanceAPI(tmp_path)
    text = api.render_config(fake_sim(), backends=backends, source=source)
    with open(api.conf_source) as f:
        documented = f.read()

    replaced = {'vmware_server_host', 'vmware_server_port',
                'vmware_server_username', 'vmware_server_password',
                'vmware_ca_file', 'vmware_datastores', 'connection',
                'flavor', 'node_staging_uri', 'filesystem_store_datadir',
                'vmware_free_space_reserve_mb'}
    kept = [line for line in option_lines(documented)
            if line.split('=')[0].strip() not in replaced]
    rendered = option_lines(text)
    assert [line for line in rendered if line in kept] == kept
    assert 'vmware_server_port = 8989' in rendered
    assert 'vmware_datastores = DC0:LocalDS_0:0' in rendered
    assert 'vmware_datastores = DC1:datastore1:100' not in rendered
    assert 'flavor = testauth' in rendered
    if source == glance_api.TWO_VCENTERS_CONF:
        # Each backend on its own vCenter, trusting its own CA.
        assert 'vmware_server_port = 8990' in rendered
        assert 'vmware_ca_file = /ca-8990.pem' in rendered


def test_edit_ini():
    text = '[a]\nx = 1\nm = 1\nm = 2\n\n# next\n[b]\ny = 2\n'
    assert glance_api.edit_ini(text, {'a': {'m': ['3'], 'z': True},
                                      'c': {'w': 4}}) == (
        '[a]\nx = 1\nm = 3\nz = True\n\n# next\n[b]\ny = 2\n\n[c]\nw = 4\n')
    with pytest.raises(KeyError):
        glance_api.edit_ini(text, {'a': {'z': 1}}, must_exist=True)
    with pytest.raises(KeyError):
        glance_api.edit_ini(text, {'c': {'w': 1}}, must_exist=True)
