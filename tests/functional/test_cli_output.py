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

"""The installed command's stderr holds only its own output.

A library we import warns, or logs, when it likes (dnspython under a newer
cryptography, eventlet's deprecation banner).  Here one is made to do both
on purpose: a ``sitecustomize`` on ``PYTHONPATH`` makes oslo.vmware, once
the command imports it, emit a warning attributed to its own file and log
a warning on its own logger, and leaves a mark that it did.  Without
``--debug`` neither reaches stderr; with it both do, the warning with the
file it came from.
"""

import os
import subprocess
import sys

import pytest

from tests.functional import cli_setup

pytestmark = pytest.mark.timeout(400)

WARNING_TEXT = 'a deliberate third-party warning'
LOG_TEXT = 'a deliberate third-party log record'

SITECUSTOMIZE = '''
import importlib.machinery
import logging
import os
import sys
import warnings


class WarnAfterImport:
    """Makes oslo_vmware warn and log once it has been imported."""

    def find_spec(self, name, path=None, target=None):
        if name != 'oslo_vmware':
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            warnings.warn_explicit(%(warning)r, UserWarning,
                                   module.__file__, 1, module=name)
            logging.getLogger('oslo_vmware.api').warning(%(log)r)
            with open(os.environ['GSV_TEST_MARK'], 'w') as f:
                f.write('warned')

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, WarnAfterImport())
''' % {'warning': WARNING_TEXT, 'log': LOG_TEXT}


def run_check(vcsim, tmp_path, *extra):
    conf = cli_setup.glance_conf(tmp_path, vcsim)
    site = tmp_path / 'site'
    site.mkdir(exist_ok=True)
    (site / 'sitecustomize.py').write_text(SITECUSTOMIZE)
    mark = tmp_path / 'mark'
    if mark.exists():
        mark.unlink()
    env = dict(os.environ, PYTHONPATH=str(site), GSV_TEST_MARK=str(mark))
    command = os.path.join(os.path.dirname(sys.executable),
                           'glance-store-vmware')
    proc = subprocess.run([command, 'check', '--config-file', conf, *extra],
                          capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert mark.read_text() == 'warned', 'the library did not warn'
    return proc


def test_a_library_warning_does_not_reach_stderr(vcsim, tmp_path):
    proc = run_check(vcsim, tmp_path, '-q')
    assert '| OK     | vsphere store: DC0:LocalDS_0:100' in proc.stdout
    assert proc.stderr == ''


def test_progress_alone_reaches_stderr(vcsim, tmp_path):
    proc = run_check(vcsim, tmp_path)
    assert 'probing [LocalDS_0] openstack_glance' in proc.stderr
    assert WARNING_TEXT not in proc.stderr
    assert LOG_TEXT not in proc.stderr


def test_debug_shows_library_warnings_with_their_origin(vcsim, tmp_path):
    proc = run_check(vcsim, tmp_path, '-q', '--debug')
    origin = os.path.join('oslo_vmware', '__init__.py')
    [line] = [ln for ln in proc.stderr.splitlines() if WARNING_TEXT in ln]
    assert origin in line and 'UserWarning' in line
    assert 'WARNING oslo_vmware.api: ' + LOG_TEXT in proc.stderr
