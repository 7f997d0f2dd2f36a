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

"""Fixtures: a real glance-api with the ``vsphere`` store on a simulator.

Starting glance-api costs tens of seconds (Glance's imports and the vim
WSDL, parsed in every worker), so the single-store and the multi-store
glance-api are each shared by the tests of this package; every test works
on its own images and checks that it leaves none behind.  Tests that break
the simulator get their own (``glance_factory``).
"""

import contextlib
import os
import time

import pytest

from tests.functional import fake_glance
from tests.functional.conftest import _simulator
from tests.functional.conftest import no_leftovers  # noqa: F401
from tests.functional.conftest import pytest_configure  # noqa: F401
from tests.functional.conftest import test_ca  # noqa: F401
from tests.functional.conftest import vcsim  # noqa: F401
from tests.functional.conftest import vcsim_build  # noqa: F401
from tests.glance_functional import glance_api
from tests.ini_files import edit_ini

# Older than vmware_partial_file_max_age (1 hour): what the command line
# may reclaim, were it not referenced.
OLD = 2 * 3600
CLI_ROLES = ('admin', 'member', 'reader', 'service')


def image_files(sim, datastore):
    """Everything in the image directory of ``datastore``."""
    directory = os.path.join(sim.datastore_dir(datastore), 'openstack_glance')
    if not os.path.isdir(directory):
        return []
    return sorted(os.listdir(directory))


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


@contextlib.contextmanager
def cli_config(api, path):
    """``api``'s glance-api.conf, written to ``path`` with the command
    line's Glance credentials (``[vsphere_glance_api]``); yields its name.

    Keystone is the stand-in of tests/functional/fake_glance.py while in
    the block: it issues tokens that ``api``'s test authentication filter
    accepts and puts ``api`` in the catalog.
    """
    cloud = fake_glance.FakeCloud(
        {'cli': ('pw', CLI_ROLES)}, image_url=api.endpoint,
        make_token=lambda user, roles: api.token(user, 'admin-project',
                                                 roles))
    with cloud, open(api.conf_file) as f:
        path.write_text(edit_ini(f.read(), {
            'vsphere_glance_api': cloud.options('cli')}))
        yield str(path)


def _glance(request, tmp_path_factory, sim, **start):
    processes = start.pop('processes', 1)
    api = glance_api.GlanceAPI(tmp_path_factory.mktemp('glance-api'),
                               processes=processes, debug=True)
    try:
        api.start(sim, **start)
        yield api
    finally:
        _stop(api)


def _stop(api):
    api.stop()
    assert not api.leftover_processes(), 'glance-api processes left: %s' % (
        api.leftover_processes(),)


@pytest.fixture(scope='package')
def package_vcsim(request, vcsim_build, test_ca,  # noqa: F811
                  tmp_path_factory):
    yield from _simulator(request, vcsim_build, test_ca, tmp_path_factory)


@pytest.fixture(scope='package')
def glance_single(request, package_vcsim, tmp_path_factory):
    """``etc/glance-api.conf``: one store on LocalDS_0; two workers."""
    yield from _glance(request, tmp_path_factory, package_vcsim,
                       datastores=['LocalDS_0'], processes=2)


@pytest.fixture(scope='package')
def glance_multi(request, package_vcsim, tmp_path_factory):
    """``etc/glance-api-multistore.conf``: fast on LocalDS_0, bulk on
    LocalDS_1."""
    yield from _glance(request, tmp_path_factory, package_vcsim,
                       backends={'fast': ['LocalDS_0'],
                                 'bulk': ['LocalDS_1']})


@pytest.fixture
def glance_factory(tmp_path_factory):
    """``start(sim, **options)`` → a GlanceAPI of this test only."""
    apis = []

    def start(sim, **options):
        api = glance_api.GlanceAPI(tmp_path_factory.mktemp('glance-api'),
                                   processes=options.pop('processes', 1),
                                   debug=True)
        apis.append(api)
        api.start(sim, **options)
        return api

    yield start
    for api in apis:
        _stop(api)


@pytest.fixture(autouse=True)
def no_stray_files(request):
    """No test leaves images or partial uploads on the package simulator
    (other tests' images are their business)."""
    if 'package_vcsim' not in request.fixturenames:
        yield
        return
    sim = request.getfixturevalue('package_vcsim')
    before = {ds: set(image_files(sim, ds)) for ds in ('LocalDS_0',
                                                       'LocalDS_1')}
    yield
    for ds, names in before.items():
        left = set(image_files(sim, ds)) - names
        assert not left, 'test left files on %s: %s' % (ds, sorted(left))
