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

"""The compute driver's own decisions, with Nova's objects mocked (no
simulator): configuration, the fallback around the copy attempt, healing,
and the datacenter path."""

import logging
import time
from unittest import mock

import pytest

from tests.helpers import silent_listener

MiB = 1024 * 1024
IMG = '0c7e4a52-1d7b-4f8e-9d6a-3a3c1f0b2e11'


@pytest.fixture
def driver(nova_configured):
    from glance_store_vmware.nova import driver
    return driver


def test_image_datastores_accept_comma_separated_entries(driver, nova_conf):
    nova_conf('image_datastores', ['DC0:LocalDS_0, DC0:LocalDS_1',
                                   'F/DC1:pod:100'], 'vsphere_image_handler')
    assert driver.handler_config().datastores == (
        ('DC0', 'LocalDS_0'), ('DC0', 'LocalDS_1'), ('F/DC1', 'pod'))


@pytest.mark.parametrize('value,entry', [
    ('DC0:LocalDS_0,LocalDS_1', "'LocalDS_1'"),
    ('DC0:LocalDS_0:1x', "'DC0:LocalDS_0:1x'"),
    ('DC0:LocalDS_0,,DC0:LocalDS_1', 'empty entry'),
])
def test_bad_image_datastores_stop_the_driver_loudly(driver, nova_conf,
                                                     caplog, value, entry):
    nova_conf('image_datastores', [value], 'vsphere_image_handler')
    with mock.patch.object(driver.vmware_driver.VMwareVCDriver,
                           '__init__') as nova_init:
        with pytest.raises(ValueError, match='image_datastores'):
            driver.VSphereImagesVCDriver(None)
    nova_init.assert_not_called()  # refused before logging in
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert 'image_datastores' in error.getMessage()
    assert entry in error.getMessage()


def test_locations_api_has_a_bounded_default_timeout(driver, nova_conf):
    import nova.conf

    from glance_store_vmware import opts
    conf = nova.conf.CONF
    assert conf.vsphere_image_handler.timeout == opts.LOCATIONS_API_TIMEOUT
    [(_group, listed)] = opts.list_nova_opts()
    [timeout] = [o for o in listed if o.name == 'timeout']
    assert timeout.default == opts.LOCATIONS_API_TIMEOUT  # in the sample
    nova_conf('auth_type', 'none', 'vsphere_image_handler')
    nova_conf('endpoint_override', 'http://127.0.0.1:9',
              'vsphere_image_handler')
    api = driver.locations_api()
    assert api._adapter.session.timeout == opts.LOCATIONS_API_TIMEOUT


def test_hanging_glance_gives_up_within_the_default_timeout(driver,
                                                            nova_conf):
    # The documented default, not a shortened one: a Glance that accepts
    # the connection and never answers.
    from glance_store_vmware import opts
    from glance_store_vmware.image_copy import discovery
    with silent_listener() as listener:
        nova_conf('auth_type', 'none', 'vsphere_image_handler')
        nova_conf('endpoint_override', 'http://127.0.0.1:%d' % listener.port,
                  'vsphere_image_handler')
        api = driver.locations_api()
        start = time.monotonic()
        with pytest.raises(discovery.LocationsUnavailable, match='timed out'):
            api.locations(IMG)
        elapsed = time.monotonic() - start
        assert listener.accepted
    assert opts.LOCATIONS_API_TIMEOUT - 1 < elapsed \
        < opts.LOCATIONS_API_TIMEOUT + 5


# The VMOps subclass, with Nova's session and datastore objects mocked.

class FakeVI:
    def __init__(self, disk_type='preallocated'):
        from oslo_vmware.objects import datastore as ds_obj
        self.ii = mock.Mock(image_id=IMG, file_size=MiB, file_type='vmdk',
                            disk_type=disk_type, container_format='bare',
                            adapter_type='lsiLogic', vsphere_location=None)
        self.instance = mock.sentinel.instance
        self.datastore = mock.Mock(ref='ds-ref')
        self.datastore.name = 'ds1'
        self.dc_info = mock.Mock(ref='dc-ref')
        folder = ds_obj.DatastorePath('ds1', 'base', IMG)
        self.cache_image_folder = folder
        self.cache_image_path = folder.join(IMG + '.vmdk')


@pytest.fixture
def vmops(driver):
    ops = driver.VSphereImagesVMOps.__new__(driver.VSphereImagesVMOps)
    ops._session = mock.Mock()
    ops._image_handler = mock.Mock()
    ops._glance_locations = None
    ops._dc_paths = {}
    ops._virtual_sizes = {}
    ops._caching = {}
    ops._tmp_folder = 'vmware_temp'
    ops._base_folder = 'base'
    return ops


@pytest.fixture
def nova_calls(driver, monkeypatch):
    """ds_util and vim_util as the driver calls them, recorded."""
    calls = mock.Mock()
    calls.file_exists.return_value = False
    calls.get_inventory_path.return_value = '/DC0'
    monkeypatch.setattr(driver.ds_util, 'file_exists', calls.file_exists)
    monkeypatch.setattr(driver.ds_util, 'file_delete', calls.file_delete)
    monkeypatch.setattr(driver.ds_util, 'file_move', calls.file_move)
    monkeypatch.setattr(driver.vutil, 'get_inventory_path',
                        calls.get_inventory_path)
    monkeypatch.setattr(driver.vutil, 'get_moref_value', lambda ref: ref)
    return calls


@pytest.fixture
def glance_path(vmops):
    """Nova's Glance download path, recorded."""
    calls = mock.Mock()
    calls.prepare.return_value = ('tmp-dir', 'tmp-file')
    vmops._get_image_callbacks = lambda vi: (calls.prepare, calls.fetch,
                                             calls.cache)
    vmops.check_cache_folder = mock.Mock()
    vmops._get_ds_browser = mock.Mock()
    vmops._delete_datastore_file = mock.Mock()
    vmops._update_image_size = mock.Mock()
    return calls


@pytest.mark.parametrize('error', [
    AttributeError("'Vim' object has no attribute 'get_http_cookie'"),
    ValueError('datacenter path is empty'),
    TypeError('boom'),
    KeyError('x'),
])
def test_nothing_the_copy_attempt_raises_aborts_a_spawn(
        vmops, nova_calls, glance_path, caplog, error):
    vmops._image_handler.fill_cache.side_effect = error
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    glance_path.fetch.assert_called_once_with(mock.sentinel.context,
                                              mock.ANY, 'tmp-file')
    glance_path.cache.assert_called_once()
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'the vSphere copy failed, using the Glance download' in \
        warnings[0]
    assert type(error).__name__ in warnings[0]


def test_a_successful_copy_skips_the_glance_download(vmops, nova_calls,
                                                     glance_path):
    vmops._image_handler.fill_cache.return_value = mock.Mock(fell_back=False)
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    glance_path.fetch.assert_not_called()
    image, target, _finder = vmops._image_handler.fill_cache.call_args[0]
    assert (target.datacenter, target.datastore, target.cache_dir) == (
        'DC0', 'ds1', 'base')
    assert image.size == MiB


def test_an_empty_datacenter_path_falls_back_and_is_not_kept(
        vmops, nova_calls, glance_path):
    nova_calls.get_inventory_path.return_value = ''
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    glance_path.fetch.assert_called_once()
    vmops._image_handler.fill_cache.assert_not_called()
    assert vmops._dc_paths == {}
    nova_calls.get_inventory_path.return_value = '/DC0'
    vmops._image_handler.fill_cache.return_value = mock.Mock(fell_back=False)
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    assert vmops._dc_paths == {'dc-ref': 'DC0'}
    assert nova_calls.get_inventory_path.call_count == 2


def test_incomplete_cached_entry_is_deleted_and_refilled(
        vmops, nova_calls, glance_path, caplog):
    nova_calls.file_exists.return_value = True  # the descriptor
    vmops._image_handler.entry_problem.return_value = 'has no extent'
    vmops._image_handler.fill_cache.return_value = mock.Mock(fell_back=False)
    vi = FakeVI()
    vmops._fetch_image_if_missing(mock.sentinel.context, vi)
    nova_calls.file_delete.assert_called_once_with(
        vmops._session, vi.cache_image_folder, 'dc-ref')
    vmops._image_handler.fill_cache.assert_called_once()
    assert 'is incomplete (has no extent)' in caplog.text


def test_complete_cached_entry_is_left_alone(vmops, nova_calls,
                                             glance_path):
    nova_calls.file_exists.return_value = True
    vmops._image_handler.entry_problem.return_value = None
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    nova_calls.file_delete.assert_not_called()
    vmops._image_handler.fill_cache.assert_not_called()
    glance_path.fetch.assert_not_called()


def test_cached_entry_that_cannot_be_checked_is_left_alone(
        vmops, nova_calls, glance_path, caplog):
    from glance_store_vmware.vsphere import errors
    nova_calls.file_exists.return_value = True
    vmops._image_handler.entry_problem.side_effect = errors.Unreachable('x')
    vmops._fetch_image_if_missing(mock.sentinel.context, FakeVI())
    nova_calls.file_delete.assert_not_called()
    glance_path.fetch.assert_not_called()
    assert 'using it as it is' in caplog.text


@pytest.mark.parametrize('problem,deleted', [
    ('it holds no %s.vmdk' % IMG, True),
    (None, False),                   # another process was first
    (RuntimeError('cannot look'), False),  # unknown: Nova's behaviour
])
def test_glance_path_replaces_an_incomplete_folder_at_the_move(
        vmops, nova_calls, problem, deleted):
    from oslo_vmware import exceptions as vexc
    vi = FakeVI()
    vmops._caching[str(vi.cache_image_folder)] = vi
    nova_calls.file_move.side_effect = [vexc.FileAlreadyExistsException(),
                                        None]
    if isinstance(problem, Exception):
        vmops._image_handler.folder_problem.side_effect = problem
    else:
        vmops._image_handler.folder_problem.return_value = problem
    vmops._move_to_cache('dc-ref', 'tmp/x/' + IMG, vi.cache_image_folder)
    assert nova_calls.file_delete.called == deleted
    assert nova_calls.file_move.call_count == (2 if deleted else 1)


def test_nova_vsphere_location_is_never_copied_unchecked(vmops):
    from nova.virt.vmwareapi import vmops as nova_vmops
    vi = FakeVI()
    vi.ii.vsphere_location = 'vsphere://vc/folder/x?dcPath=DC0&dsName=ds1'
    vi.ii.is_ova = False
    vi.ii.is_iso = False
    with mock.patch.object(nova_vmops.VMwareVMOps, '_get_image_callbacks',
                           return_value=('p', vmops._fetch_vsphere_image,
                                         'c')):
        _p, fetch, _c = vmops._get_image_callbacks(vi)
    assert fetch == vmops._fetch_image_as_file


def test_driver_changes_nothing_of_novas_modules(driver):
    import inspect

    from nova.virt.vmwareapi import driver as nova_driver
    from nova.virt.vmwareapi import images
    from nova.virt.vmwareapi import vmops as nova_vmops
    assert images.get_vsphere_location.__module__ == images.__name__
    assert nova_driver.VMwareVCDriver.__module__ == nova_driver.__name__
    assert nova_vmops.VMwareVMOps.__module__ == nova_vmops.__name__
    source = inspect.getsource(driver)
    assert 'images.get_vsphere_location =' not in source
