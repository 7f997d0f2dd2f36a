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

"""Every environment installs under the release's constraints."""

import configparser
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'constraints_tool', os.path.join(ROOT, 'tools', 'constraints.py'))
constraints = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(constraints)

CONSTRAINT_ARG = ('-c{env:TOX_CONSTRAINTS_FILE:{toxinidir}/constraints/'
                  'upper-constraints.txt}')


def test_this_environment_holds_only_pinned_versions():
    # Runs in every env that runs pytest; tools/test.sh checks the others.
    assert constraints.drift(constraints.installed(sys.executable),
                             constraints.pins()) == []


def test_drift_is_named_package_by_package():
    pinned = {'oslo-vmware': '4.10.0', 'requests': '2.34.2'}
    have = {'oslo-vmware': '4.10.1', 'requests': '2.34.2', 'left-pad': '1.0',
            'pip': '26.3', 'glance-store-vmware': '0.1'}
    assert constraints.drift(have, pinned) == [
        'left-pad 1.0 is not pinned', 'oslo-vmware 4.10.1, pinned 4.10.0']


def test_the_file_is_the_release_list_with_our_overrides():
    with open(constraints.CONSTRAINTS) as f:
        current = f.read()
    with open(constraints.OVERRIDES) as f:
        overrides = f.read()
    assert current == constraints.merge(constraints.release_lines(current),
                                        overrides,
                                        constraints.describe_of(current))
    pinned = constraints.pins()
    for name, (line, _) in constraints.read_overrides(overrides).items():
        assert pinned[name] == constraints.pin(line)[1]
    # The release list is there, not only our lines.
    assert pinned['oslo-vmware'] and pinned['glance-store'] \
        and pinned['cryptography']


def test_a_hand_edited_pin_is_found():
    with open(constraints.CONSTRAINTS) as f:
        current = f.read()
    edited = current.replace('\nrequests===', '\nrequests===0.0.1 #', 1)
    assert edited != current
    release = constraints.release_lines(edited)
    assert constraints.digest(release) not in edited
    assert constraints.digest(constraints.release_lines(current)) in current


def test_an_override_replaces_the_release_line_and_keeps_it_readable():
    release = '# list\nfoo===1.0\nbar===2.0;python_version>="3.9"\n'
    overrides = 'foo===1.1  # needs 1.1\nbaz===3  # ours only\n'
    merged = constraints.merge(release, overrides, 'test list')
    assert 'foo===1.1  # override (release: foo===1.0): needs 1.1' in merged
    assert 'bar===2.0;python_version>="3.9"' in merged
    assert 'baz===3  # added: ours only' in merged
    assert constraints.release_lines(merged) == release


def test_every_tox_env_installs_under_the_constraints():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(os.path.join(ROOT, 'tox.ini'))
    base = tox['testenv']['install_command']
    assert CONSTRAINT_ARG in base
    envs = [s for s in tox.sections() if s.startswith('testenv:')]
    assert len(envs) > 10
    for section in envs:
        command = tox[section].get('install_command', base)
        if section == 'testenv:latest':
            assert '-c' not in command
        else:
            assert CONSTRAINT_ARG in command, section
