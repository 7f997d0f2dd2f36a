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

"""Fixtures for the real Nova VMware driver against the simulator.

The simulator fixtures are those of ``tests/functional`` (a fresh
simulator per test, verified TLS, leak checks).  Nova binds the vCenter
address at import, so every simulator of a run listens on one port chosen
at the start, with one user name and password.
"""

import logging

import pytest

from tests import helpers
from tests.functional import conftest as functional
from tests.nova_functional import nova_env

# The simulator fixtures and hooks of tests/functional, shared as they are.
pytest_configure = functional.pytest_configure
no_leftovers = functional.no_leftovers
test_ca = functional.test_ca
vcsim_build = functional.vcsim_build

nova = pytest.importorskip('nova', reason='tox -e nova-functional')


@pytest.fixture(scope='session')
def nova_port():
    return helpers.free_port()


@pytest.fixture(scope='session')
def nova_configured(nova_port, test_ca, tmp_path_factory):
    nova_env.configure(nova_port, test_ca.ca_file,
                       str(tmp_path_factory.mktemp('nova-locks')))
    from glance_store_vmware.nova import shim
    return shim.install()


@pytest.fixture
def vcsim(request, vcsim_build, test_ca, tmp_path_factory, nova_port,
          nova_configured):
    # Nova caches morefs process-wide; each simulator has its own.
    from nova.virt.vmwareapi import ds_util
    from nova.virt.vmwareapi import vm_util
    ds_util._DS_DC_MAPPING.clear()
    vm_util._FOLDER_PATH_REF_MAPPING.clear()
    vm_util._VM_REFS_CACHE.clear()
    # ESX hosts named 127.0.0.1: Nova's Glance download uploads to a host.
    yield from functional._simulator(
        request, vcsim_build, test_ca, tmp_path_factory, port=nova_port,
        username=nova_env.SIM_USER, password=nova_env.SIM_PASSWORD,
        host_name='127.0.0.1')


@pytest.fixture
def glance(monkeypatch, nova_configured):
    from nova.virt.vmwareapi import images
    fake = nova_env.FakeGlance()
    monkeypatch.setattr(images, 'IMAGE_API', fake)
    return fake


@pytest.fixture
def nova_conf(nova_configured):
    """Set nova.conf options for one test: ``nova_conf(name, value,
    group)``; read by drivers created afterwards."""
    import nova.conf

    # Registers [vsphere_image_handler], as loading the driver does.
    from glance_store_vmware.nova import driver  # noqa: F401
    conf = nova.conf.CONF
    overridden = []

    def set_option(name, value, group=None):
        conf.set_override(name, value, group=group)
        overridden.append((name, group))

    yield set_option
    for name, group in overridden:
        conf.clear_override(name, group=group)


@pytest.fixture
def pinned(nova_conf):
    """Nova's datastore choice pinned to one datastore."""
    def pin(ds):
        nova_conf('datastore_regex', '^%s$' % ds, 'vmware')
    pin('LocalDS_0')
    return pin


@pytest.fixture(autouse=True)
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger='glance_store_vmware')
