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

"""Fixtures for the real Cinder VMDK driver against the simulator.

The simulator fixtures are those of ``tests/functional`` (a fresh
simulator per test, verified TLS, leak checks).  Cinder reads its driver
options when it uses them, so each test's simulator has its own port.
Everything the volume node says to vCenter, and the Glance store's
writes, go through a ``FaultProxy``, which counts the file bytes sent
over vCenter's ``/folder`` and can lose a SOAP answer.

``--volume-driver`` picks the driver under test (default: ours, the
``volume_driver`` of etc/cinder.conf).
"""

import logging

import pytest

from tests.cinder_functional import cinder_env
from tests.functional import conftest as functional
from tests.functional import fault_proxy

# The simulator fixtures and hooks of tests/functional, shared as they are.
no_leftovers = functional.no_leftovers
test_ca = functional.test_ca
vcsim_build = functional.vcsim_build
vcsim = functional.vcsim

cinder = pytest.importorskip('cinder', reason='tox -e cinder-functional')


def pytest_addoption(parser):
    parser.addoption('--volume-driver', default=cinder_env.OUR_DRIVER,
                     help='volume_driver under test (default: %(default)s)')


def pytest_configure(config):
    functional.pytest_configure(config)
    config.addinivalue_line(
        'markers', 'driver(class_path): run this test with that '
        'volume_driver instead of --volume-driver')


@pytest.fixture(scope='session')
def cinder_configured(tmp_path_factory):
    return cinder_env.configure(str(tmp_path_factory.mktemp('cinder-locks')))


@pytest.fixture
def volume_types(monkeypatch, cinder_configured):
    """Cinder's volume types, without a database."""
    from cinder.volume import volume_types as cinder_volume_types
    types = cinder_env.VolumeTypes()
    monkeypatch.setattr(cinder_volume_types, 'get_volume_type',
                        types.get_volume_type)
    return types


@pytest.fixture
def proxy(vcsim, test_ca):
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as p:
        yield p


@pytest.fixture(params=[True, False], ids=['locations-api', 'direct-url'])
def glance(request, cinder_configured):
    """The image service, answering ``get_location`` in both shapes."""
    return cinder_env.ImageService(location_api=request.param)


@pytest.fixture
def driver_class(request):
    marker = request.node.get_closest_marker('driver')
    return (marker.args[0] if marker
            else request.config.getoption('--volume-driver'))


@pytest.fixture
def make_driver(vcsim, proxy, driver_class, volume_types, cinder_configured):
    """``make_driver(**options)``: the driver under test, set up against
    the simulator through the proxy, with backend ``options`` on top of
    etc/cinder.conf's (``class_path=`` for another driver)."""
    made = []

    def make(class_path=None, documented_defaults=False, **options):
        settings = cinder_env.backend_settings(
            vcsim, port=proxy.port, documented_defaults=documented_defaults)
        settings.update(options)
        driver = cinder_env.volume_driver(class_path or driver_class,
                                          settings)
        made.append(settings)
        return driver

    yield make
    for settings in made:
        cinder_env.clear_backend_settings(settings)


@pytest.fixture(autouse=True)
def info_logs(caplog):
    caplog.set_level(logging.INFO, logger='glance_store_vmware')
