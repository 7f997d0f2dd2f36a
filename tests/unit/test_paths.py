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

"""DatastoreFile: the one place datastore paths are validated."""

import pytest

from glance_store_vmware.vsphere import paths

DatastoreFile = paths.DatastoreFile


@pytest.mark.parametrize('path', [
    '',
    'a//b',
    './a',
    'a/./b',
    '..',
    'a/../b',
    'a/..',
    '../vm1/vm1.vmx',
])
def test_empty_dot_and_dotdot_components_are_refused(path):
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('dc1', 'ds1', path)


@pytest.mark.parametrize('path', [
    'a\\b',
    '..\\vm1\\vm1.vmx',
    'a\x00b',
    'a\nb',
    'a\tb',
    'a\x7fb',
])
def test_backslashes_and_control_characters_are_refused(path):
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('dc1', 'ds1', path)


def test_path_must_be_a_string():
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('dc1', 'ds1', None)


@pytest.mark.parametrize('datastore', ['', 'ds]1', ']', 'ds1] other'])
def test_datastore_name_must_be_non_empty_and_without_bracket(datastore):
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('dc1', datastore, 'a/b')


def test_datacenter_must_not_be_empty():
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('', 'ds1', 'a/b')


def test_leading_and_trailing_slashes_are_dropped():
    assert DatastoreFile('dc1', 'ds1', '/openstack_glance/').path == \
        'openstack_glance'
    assert DatastoreFile('dc1', 'ds1', '/a/b').path == 'a/b'


def test_ordinary_names_are_kept_verbatim():
    f = DatastoreFile('folder/dc 1', 'ds [x', 'dir with space/ümlaut#?.vmdk')
    assert f.path == 'dir with space/ümlaut#?.vmdk'
    assert f.datacenter == 'folder/dc 1'


def test_ds_path_is_bracketed_datastore_then_path():
    f = DatastoreFile('dc1', 'ds 1', 'openstack_glance/img-1')
    assert f.ds_path == '[ds 1] openstack_glance/img-1'


@pytest.mark.parametrize('ds_path, datastore, path', [
    ('[ds1] openstack_glance/img', 'ds1', 'openstack_glance/img'),
    ('[ds1]openstack_glance/img', 'ds1', 'openstack_glance/img'),
    ('[my ds] a b/c', 'my ds', 'a b/c'),
])
def test_from_ds_path_parses_vsphere_notation(ds_path, datastore, path):
    f = DatastoreFile.from_ds_path('dc1', ds_path)
    assert (f.datacenter, f.datastore, f.path) == ('dc1', datastore, path)


def test_from_ds_path_round_trips_ds_path():
    f = DatastoreFile('dc1', 'ds1', 'openstack_glance/img')
    assert DatastoreFile.from_ds_path('dc1', f.ds_path) == f


@pytest.mark.parametrize('ds_path', [
    None,
    '',
    'ds1 openstack_glance/img',
    '[] openstack_glance/img',
    '[ds1] ',
    '[ds1] ../vm1/vm1.vmx',
    '[ds1] a/../../b',
])
def test_from_ds_path_refuses_malformed_or_escaping_paths(ds_path):
    with pytest.raises(paths.InvalidPath):
        DatastoreFile.from_ds_path('dc1', ds_path)


def test_name_and_dirname():
    f = DatastoreFile('dc1', 'ds1', 'openstack_glance/img')
    assert f.name == 'img'
    assert f.dirname == 'openstack_glance'


def test_parent_child_and_sibling_stay_on_the_same_datastore():
    f = DatastoreFile('dc1', 'ds1', 'openstack_glance/img')
    assert f.parent() == DatastoreFile('dc1', 'ds1', 'openstack_glance')
    assert f.parent().child('other') == DatastoreFile(
        'dc1', 'ds1', 'openstack_glance/other')
    assert f.sibling('.img.part') == DatastoreFile(
        'dc1', 'ds1', 'openstack_glance/.img.part')


@pytest.mark.parametrize('name', [
    '..', '.', '', 'a\\b', '../escape', 'a/b', '/a', 'a/', 'a\x00'])
def test_child_and_sibling_validate_the_new_name(name):
    f = DatastoreFile('dc1', 'ds1', 'openstack_glance/img')
    with pytest.raises(paths.InvalidPath):
        f.sibling(name)
    with pytest.raises(paths.InvalidPath):
        f.parent().child(name)


def test_parent_of_a_top_level_file_is_refused():
    # The datastore root is not a DatastoreFile: nothing may act on it.
    with pytest.raises(paths.InvalidPath):
        DatastoreFile('dc1', 'ds1', 'img').parent()


def test_files_are_immutable_values():
    f = DatastoreFile('dc1', 'ds1', 'a/b')
    with pytest.raises(AttributeError):
        f.path = '../c'
    assert f == DatastoreFile('dc1', 'ds1', '/a/b/')
    assert len({f, DatastoreFile('dc1', 'ds1', 'a/b')}) == 1


def test_str_names_datastore_path_and_datacenter():
    assert str(DatastoreFile('dc1', 'ds1', 'a/b')) == \
        '[ds1] a/b (datacenter dc1)'
