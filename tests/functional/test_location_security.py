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

"""Crafted locations must not read or delete anything outside the images.

Glance lets users add locations to images, so every location is untrusted.
Each crafted location below names a real file the simulator serves; the
store must refuse it before any request and leave the file in place.
"""

import os

from glance_store import exceptions
import pytest

from tests.functional import glance_setup

SECRET = b'another tenant\'s VM disk'


@pytest.fixture
def setup(vcsim):
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'))
    planted = []
    for ds, rel in (('LocalDS_0', 'vm1/vm1-flat.vmdk'),
                    ('LocalDS_0', 'vm1/vm1.vmx'),
                    ('LocalDS_0', 'openstack_glance/sub/img'),
                    ('LocalDS_0', 'openstack_glance/.img.1234.part'),
                    ('LocalDS_1', 'openstack_glance/img')):
        path = os.path.join(vcsim.datastore_dir(ds), rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(SECRET)
        planted.append(path)
    yield vcsim, store, _conf
    for path in planted:
        assert os.path.exists(path), '%s was deleted' % path


def crafted(sim):
    base = '%s:%d' % (sim.host, sim.port)
    q0 = 'dcPath=DC0&dsName=LocalDS_0'
    return {
        'another folder': 'vsphere://%s/folder/vm1/vm1.vmx?%s' % (base, q0),
        'a VM disk': 'vsphere://%s/folder/vm1/vm1-flat.vmdk?%s' % (base, q0),
        'dot-dot': 'vsphere://%s/folder/openstack_glance/../vm1/vm1.vmx?%s'
                   % (base, q0),
        'encoded dot-dot': 'vsphere://%s/folder/openstack_glance/%%2e%%2e/'
                           'vm1/vm1.vmx?%s' % (base, q0),
        'encoded slash': 'vsphere://%s/folder/openstack_glance/..%%2fvm1'
                         '%%2fvm1-flat.vmdk?%s' % (base, q0),
        'sub-directory': 'vsphere://%s/folder/openstack_glance/sub/img?%s'
                         % (base, q0),
        'upload in progress': 'vsphere://%s/folder/openstack_glance/'
                              '.img.1234.part?%s' % (base, q0),
        'unconfigured datastore': 'vsphere://%s/folder/openstack_glance/'
                                  'img?dcPath=DC0&dsName=LocalDS_1' % base,
        'unknown datacenter': 'vsphere://%s/folder/openstack_glance/img?'
                              'dcPath=DC9&dsName=LocalDS_0' % base,
        'another host name': 'vsphere://localhost:%d/folder/'
                             'openstack_glance/img?dcPath=DC0&dsName='
                             'LocalDS_1' % sim.port,
        'another port': 'vsphere://%s:1/folder/openstack_glance/img?%s'
                        % (sim.host, q0),
        'credentials in URL': 'vsphere://u:p@%s/folder/openstack_glance/'
                              'img?%s' % (base, q0),
        'extra query': 'vsphere://%s/folder/openstack_glance/img?%s&x=1'
                       % (base, q0),
    }


CASES = sorted(crafted(type('S', (), {'host': 'h', 'port': 1})()))


@pytest.mark.parametrize('case', CASES)
def test_crafted_location_is_refused(setup, case):
    sim, store, conf = setup
    uri = crafted(sim)[case]
    with pytest.raises(exceptions.BadStoreUri):
        loc = glance_setup.location_of(conf, uri)
        store.get(loc)
    for call in ('get_size', 'delete'):
        with pytest.raises(exceptions.BadStoreUri):
            loc = glance_setup.location_of(conf, uri)
            getattr(store, call)(loc)
