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

"""Our wheel installs into Glance 33's, Nova 34's and Cinder 29's own
environments without changing them, and runs there on its own.

Each service is installed into a new virtualenv under the release's
constraints, as an operator's venv (or the distribution's packages) holds
it; then our wheel, built from this checkout, under the same constraints.
Every package the service had keeps its version, ``pip check`` is clean,
and the installed ``glance-store-vmware check`` (no test extras in that
environment) passes against the simulator with that service's
configuration file, printing nothing on stderr.
"""

import concurrent.futures
import json
import os
import re
import subprocess
import sys

import pytest

from tests.functional import cli_setup

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CONSTRAINTS = os.environ.get('TOX_CONSTRAINTS_FILE') or os.path.join(
    ROOT, 'constraints', 'upper-constraints.txt')

SERVICES = {'glance': 'glance==33.0.0', 'nova': 'nova[vmware]==34.0.0',
            'cinder': 'cinder==29.0.0'}
PIP_TIMEOUT = 900

pytestmark = pytest.mark.timeout(1200)


def _pip(venv, *args):
    return subprocess.run(
        [os.path.join(venv, 'bin', 'python'), '-m', 'pip', *args,
         '--disable-pip-version-check'],
        capture_output=True, text=True, timeout=PIP_TIMEOUT)


def _installed(venv):
    proc = _pip(venv, 'list', '--format=json')
    assert proc.returncode == 0, proc.stderr
    return {re.sub(r'[-_.]+', '-', d['name']).lower(): d['version']
            for d in json.loads(proc.stdout)}


class Install:
    """A service's environment before and after our wheel went in."""

    def __init__(self, venv, before, after, check):
        self.venv, self.before, self.after, self.check = (
            venv, before, after, check)


def _install(base, service, wheel):
    venv = str(base / service)
    subprocess.run([sys.executable, '-m', 'venv', venv], check=True,
                   timeout=300)
    proc = _pip(venv, 'install', '-qq', '-c', CONSTRAINTS,
                SERVICES[service])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    before = _installed(venv)
    proc = _pip(venv, 'install', '-qq', '-c', CONSTRAINTS, wheel)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Install(venv, before, _installed(venv), _pip(venv, 'check'))


@pytest.fixture(scope='module')
def installs(tmp_path_factory):
    wheels = tmp_path_factory.mktemp('wheel')
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '-qq', '--no-deps',
         '--disable-pip-version-check', '-w', str(wheels), ROOT],
        capture_output=True, text=True, timeout=PIP_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = [str(wheels / n) for n in os.listdir(wheels)]
    base = tmp_path_factory.mktemp('venvs')
    with concurrent.futures.ThreadPoolExecutor(len(SERVICES)) as pool:
        futures = {s: pool.submit(_install, base, s, wheel)
                   for s in SERVICES}
        return {s: f.result() for s, f in futures.items()}


@pytest.mark.parametrize('service', sorted(SERVICES))
def test_the_services_packages_are_left_as_they_were(installs, service):
    install = installs[service]
    assert service in install.before
    assert 'glance-store-vmware' in install.after
    changed = {name: (version, install.after.get(name))
               for name, version in install.before.items()
               if install.after.get(name) != version}
    assert changed == {}


@pytest.mark.parametrize('service', sorted(SERVICES))
def test_pip_check_is_clean(installs, service):
    check = installs[service].check
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'No broken requirements found' in check.stdout


@pytest.mark.parametrize('service', sorted(SERVICES))
def test_the_service_environment_holds_no_test_tools(installs, service):
    assert not {'pytest', 'pytest-timeout', 'coverage'} & set(
        installs[service].after)


@pytest.mark.parametrize('service, conf', [
    ('glance', cli_setup.glance_conf), ('nova', cli_setup.nova_conf),
    ('cinder', cli_setup.cinder_conf)])
def test_the_installed_command_checks_the_services_conf(
        installs, vcsim, tmp_path, service, conf):
    command = os.path.join(installs[service].venv, 'bin',
                           'glance-store-vmware')
    proc = subprocess.run([command, 'check', '--config-file',
                           conf(tmp_path, vcsim), '-q', '-f', 'json'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ''
    rows = json.loads(proc.stdout)['findings']
    assert rows and all(r['status'] in ('OK', 'INFO') for r in rows), rows
