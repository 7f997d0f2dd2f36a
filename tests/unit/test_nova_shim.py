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

"""The shim that makes Nova load our compute driver: install and check."""

import os
import subprocess
import sys

import pytest

from glance_store_vmware.nova import shim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture
def fake_nova(tmp_path, monkeypatch):
    """An importable ``nova.virt`` package in a temporary directory; its
    virt directory."""
    virt = tmp_path / 'site' / 'nova' / 'virt'
    virt.mkdir(parents=True)
    (virt.parent / '__init__.py').write_text('')
    (virt / '__init__.py').write_text('')
    monkeypatch.syspath_prepend(str(tmp_path / 'site'))
    for name in ('nova', 'nova.virt'):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return virt


@pytest.fixture
def no_nova(monkeypatch):
    # None in sys.modules makes ``import nova`` raise ImportError.
    monkeypatch.setitem(sys.modules, 'nova', None)
    monkeypatch.delitem(sys.modules, 'nova.virt', raising=False)


def test_install_writes_the_module_into_nova_virt(fake_nova, capsys):
    assert shim.main([]) == shim.OK
    path = fake_nova / 'vsphere_images.py'
    assert capsys.readouterr().out.strip() == str(path)
    assert path.read_text() == shim.SOURCE
    assert 'VSphereImagesVCDriver' in shim.SOURCE
    assert sorted(os.listdir(fake_nova)) == ['__init__.py',
                                             'vsphere_images.py']


def test_install_leaves_a_module_in_place_alone(fake_nova):
    path = fake_nova / 'vsphere_images.py'
    shim.install()
    os.utime(path, (1, 1))
    assert shim.install() == str(path)
    assert path.stat().st_mtime == 1


def test_install_replaces_another_module(fake_nova):
    path = fake_nova / 'vsphere_images.py'
    path.write_text('from somewhere_else import VSphereImagesVCDriver\n')
    shim.install()
    assert path.read_text() == shim.SOURCE


def test_check_passes_when_in_place(fake_nova, capsys):
    shim.install()
    assert shim.main(['--check']) == shim.OK
    assert 'is in place' in capsys.readouterr().out


def test_check_fails_when_missing_and_changes_nothing(fake_nova, capsys):
    assert shim.main(['--check']) == shim.NOT_IN_PLACE
    err = capsys.readouterr().err
    assert 'vsphere_images.py is missing' in err
    assert 'run python -m glance_store_vmware.nova.shim' in err
    assert not (fake_nova / 'vsphere_images.py').exists()


def test_check_fails_on_another_module(fake_nova, capsys):
    (fake_nova / 'vsphere_images.py').write_text('# edited\n')
    assert shim.main(['--check']) == shim.NOT_IN_PLACE
    assert 'is not the module this version' in capsys.readouterr().err
    assert (fake_nova / 'vsphere_images.py').read_text() == '# edited\n'


def test_explicit_virt_dir(tmp_path, no_nova, capsys):
    # Nova need not be importable when its directory is given.
    assert shim.main([str(tmp_path)]) == shim.OK
    assert shim.main(['--check', str(tmp_path)]) == shim.OK
    assert (tmp_path / 'vsphere_images.py').read_text() == shim.SOURCE


@pytest.mark.parametrize('argv', [[], ['--check']])
def test_without_nova_a_clear_message_and_exit_2(no_nova, capsys, argv):
    assert shim.main(argv) == shim.CANNOT
    err = capsys.readouterr().err
    assert 'Nova is not installed for %s' % sys.executable in err
    assert 'the Python that runs nova-compute' in err
    assert 'Traceback' not in err


def test_write_failure_exit_2_and_nothing_left(tmp_path, capsys):
    missing = tmp_path / 'no-such-dir'
    assert shim.main([str(missing)]) == shim.CANNOT
    assert 'cannot write the module' in capsys.readouterr().err
    assert not missing.exists()


def test_run_as_a_module_without_nova(tmp_path):
    # What an operator sees: no traceback, exit status 2.  The python -c
    # wrapper hides any Nova this interpreter may have.
    code = ('import runpy, sys; sys.modules["nova"] = None; '
            'sys.argv = ["shim", "--check"]; '
            'runpy.run_module("glance_store_vmware.nova.shim", '
            'run_name="__main__")')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == shim.CANNOT
    assert 'Nova is not installed' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_run_as_a_module_check_exit_status(fake_nova):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(fake_nova.parent.parent), ROOT]))
    argv = [sys.executable, '-m', 'glance_store_vmware.nova.shim']
    run = subprocess.run
    assert run(argv + ['--check'], env=env, capture_output=True,
               timeout=60).returncode == shim.NOT_IN_PLACE
    assert run(argv, env=env, capture_output=True,
               timeout=60).returncode == shim.OK
    assert run(argv + ['--check'], env=env, capture_output=True,
               timeout=60).returncode == shim.OK
