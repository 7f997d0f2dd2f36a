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

"""Configuration mistakes and vSphere failures as operators and users see
them: which glance_store exception (so which HTTP status in Glance), what
message, and how many log lines, with which store named.

The vSphere layer is mocked; its errors are raised as it raises them.
"""

import io
import logging
import types

from glance_store import exceptions
import pytest

from glance_store_vmware import store_config
from glance_store_vmware.vsphere import errors
from tests.unit.test_store_unit import UUID
from tests.unit.test_store_unit import Clock
from tests.unit.test_store_unit import FakeInventory
from tests.unit.test_store_unit import GiB
from tests.unit.test_store_unit import image_url
from tests.unit.test_store_unit import located
from tests.unit.test_store_unit import make_store

# Glance 33 answers these with 503 and the exception's message, per
# operation (glance/notifier.py ImageProxy.set_data for uploads,
# glance/api/v2/image_data.py download, glance/api/v2/images.py delete):
# an outage, and a configuration mistake (whose upload message Glance
# starts with "Insufficient permissions on image storage media").
GLANCE_503 = {
    'add': exceptions.StorageWriteDenied,
    'get': exceptions.RemoteServiceUnavailable,
    'get_size': exceptions.TimeoutError,
    'delete': exceptions.TimeoutError,
}
GLANCE_503_OUTAGE = dict(GLANCE_503, add=exceptions.TimeoutError)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(store_config, 'time',
                        types.SimpleNamespace(monotonic=c.monotonic))
    return c


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG, logger='glance_store_vmware')

    def lines(level=logging.ERROR):
        return [r.getMessage() for r in caplog.records
                if r.name == 'glance_store_vmware.store'
                and r.levelno == level]
    lines.clear = caplog.clear
    return lines


def store_with(datastores=('dc1:ds1',), backend=None, **overrides):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 100 * GiB)
    store = make_store(inv, list(datastores), backend=backend, **overrides)
    store.http.size.return_value = None
    store.http.put.side_effect = lambda dsfile, chunks, size=None: [
        c for c in chunks]
    return store


def run(store, op):
    """One store operation as Glance calls it."""
    if op == 'add':
        return store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')
    loc = located(store, image_url())
    if op == 'get':
        return store.get(loc)
    if op == 'get_size':
        return store.get_size(loc)
    return store.delete(loc)


def fail_vsphere(store, error):
    """Make every vSphere call of the store raise ``error``."""
    store.http.size.side_effect = error
    store.http.get.side_effect = error
    store.files.delete.side_effect = error


# Log lines name the store ------------------------------------------------

@pytest.mark.parametrize('backend, prefix', [
    (None, 'vsphere store: '), ('fast', "vsphere store 'fast': ")])
def test_every_log_line_names_the_store(logs, backend, prefix):
    store = store_with(['dc1:ds1', 'dc1:nosuch'], backend=backend)
    run(store, 'add')
    run(store, 'delete')
    fail_vsphere(store, errors.Unreachable('connection refused'))
    with pytest.raises(exceptions.TimeoutError) as e:
        run(store, 'delete')
    assert str(e.value).startswith(prefix)
    everything = [line for level in (logging.INFO, logging.WARNING,
                                     logging.ERROR) for line in logs(level)]
    assert len(everything) >= 4
    assert all(line.startswith(prefix) for line in everything), everything


# Mistakes in the option values stop glance-api at start-up ---------------

@pytest.mark.parametrize('datastores, named', [
    (['dc1:ds1:1O'], "'dc1:ds1:1O' has an invalid weight '1O'"),
    (['dc1:ds1:10, dc1:ds2:5x'], "'dc1:ds2:5x' has an invalid weight"),
    (['dc1:ds1,,dc1:ds2'], 'empty entry between commas'),
    (['dc1:ds1', 'nodatastore'], "'nodatastore' must look like"),
    ([], 'option vmware_datastores is required'),
])
def test_malformed_datastore_list_is_bad_store_configuration(
        logs, datastores, named):
    with pytest.raises(exceptions.BadStoreConfiguration) as e:
        make_store(FakeInventory(), datastores, backend='fast')
    assert 'vmware_datastores' in str(e.value) and named in str(e.value)
    [line] = logs()
    assert line.startswith("vsphere store 'fast': ")
    assert named in line


def test_bad_store_configuration_comes_from_configure_not_configure_add():
    # glance_store catches BadStoreConfiguration only from configure_add()
    # (and then only disables adding, so that deletes would leave files
    # behind); from configure() it reaches Glance, which does not start.
    with pytest.raises(exceptions.BadStoreConfiguration):
        make_store(FakeInventory(), ['dc1:ds1:1x'], re_raise_bsc=False)


def test_comma_separated_and_repeated_entries_are_all_used():
    inv = FakeInventory()
    for name in ('a', 'b', 'c'):
        inv.add('dc1', name, (ord(name) - 96) * GiB)
    store = make_store(inv, ['dc1:a:1, dc1:b:3', 'dc1:c:2'])
    assert [(t.entry, t.weight) for t in store.targets._targets] == [
        ('dc1:a:1', 1), ('dc1:b:3', 3), ('dc1:c:2', 2)]
    assert store.select_datastore(GiB).name == 'b'


# Datastore names are checked against vCenter --------------------------------

def test_unknown_datastore_is_one_error_at_start_up_and_not_storage_full(
        logs, clock):
    store = store_with(['DC1:nosuch:10'], vmware_datastore_recheck_interval=60)
    store.inventory.add('DC1', 'other', 100 * GiB)
    expected = ("vsphere store: vmware_datastores entry 'DC1:nosuch:10': no "
                "datastore 'nosuch' in 'DC1'")
    [line] = logs()
    assert line.startswith(expected)
    logs.clear()

    for _ in range(2):
        with pytest.raises(exceptions.StorageWriteDenied) as e:
            run(store, 'add')
        message = str(e.value)
        assert message.startswith('vsphere store: cannot add image %s: no '
                                  'vmware_datastores entry' % UUID)
        assert "'DC1:nosuch:10'" in message
        clock.now += 60              # looked up again, still missing
    store.http.put.assert_not_called()
    # One line per failed upload; the entry itself is not reported again.
    assert len(logs()) == 2
    assert all(line.startswith('vsphere store: cannot add image')
               for line in logs())


def test_only_the_entries_that_exist_are_used(logs):
    store = store_with(['dc1:nosuch:10', 'dc1:ds1:1'])
    url, *_ = run(store, 'add')
    assert 'dsName=ds1' in url
    [line] = logs()
    assert "entry 'dc1:nosuch:10'" in line
    assert logs(logging.WARNING) == []


def test_missing_datacenter_names_the_entry(logs):
    store = store_with(['nodc:ds1'])
    with pytest.raises(exceptions.StorageWriteDenied, match="'nodc:ds1'"):
        run(store, 'add')


def test_datastore_created_later_is_found_and_said_so(logs, clock):
    store = store_with(['dc1:late:10', 'dc1:ds1:1'],
                       vmware_datastore_recheck_interval=30)
    store.inventory.add('dc1', 'late', 100 * GiB)
    clock.now += 30
    assert store.select_datastore(GiB).name == 'late'
    assert "vmware_datastores entry 'dc1:late:10' is found now" in ' '.join(
        logs(logging.INFO))
    assert store.targets.problems() == []


def test_vcenter_down_at_start_up_is_a_warning_not_an_error(logs):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 10 * GiB)
    inv.resolve_error = errors.Unreachable('connection refused')
    store = make_store(inv, ['dc1:nosuch', 'dc1:ds1'])
    assert logs() == []
    [warning] = logs(logging.WARNING)
    assert 'connection refused' in warning
    # Names are checked on first contact, and reported then.
    inv.resolve_error = None
    assert store.select_datastore(GiB).name == 'ds1'
    [line] = logs()
    assert "entry 'dc1:nosuch'" in line


# Credentials and TLS --------------------------------------------------------

@pytest.mark.parametrize('error, options', [
    (errors.NotAuthenticated('vCenter vc:443 refused the user name or '
                             'password'),
     'vmware_server_username, vmware_server_password'),
    (errors.ConfigurationError(
        'cannot connect to vCenter vc:443: TLS certificate verification '
        'failed (certificate verify failed: self-signed certificate in '
        'certificate chain); check the CA file setting (or the insecure '
        'setting)'), 'vmware_ca_file, vmware_insecure'),
])
def test_configuration_errors_at_start_up_are_one_error_naming_options(
        logs, error, options):
    inv = FakeInventory()
    inv.resolve_error = error
    make_store(inv, ['dc1:ds1'])
    [line] = logs()
    assert str(error) in line and options in line
    assert logs(logging.WARNING) == []


LAYER_ERRORS = [
    (errors.Unreachable('cannot connect to vCenter vc:443: ConnectTimeout'),
     'ConnectTimeout'),
    (errors.NotAuthenticated('vCenter vc:443 refused the user name or '
                             'password'),
     '(options vmware_server_username, vmware_server_password)'),
    (errors.ConfigurationError(
        'cannot connect to vCenter vc:443: TLS certificate verification '
        'failed (certificate verify failed: Hostname mismatch, certificate '
        'is not valid for \'vc\')'),
     "Hostname mismatch, certificate is not valid for 'vc') (options "
     'vmware_ca_file, vmware_insecure)'),
]


@pytest.mark.parametrize('op', ['add', 'get', 'get_size', 'delete'])
@pytest.mark.parametrize('error, shown', LAYER_ERRORS)
def test_vsphere_failures_become_503_with_the_reason(logs, op, error, shown):
    store = store_with(backend='fast')
    fail_vsphere(store, error)
    table = GLANCE_503_OUTAGE if isinstance(error, errors.Unreachable) \
        else GLANCE_503
    expected = table[op]
    with pytest.raises(expected) as e:
        run(store, op)
    assert type(e.value) is expected
    message = e.value.msg
    assert message.startswith("vsphere store 'fast': cannot ")
    assert shown in message
    [line] = logs()
    assert line == message


def test_a_failed_download_stream_is_one_error(logs):
    store = store_with()

    def chunks():
        yield b'ab'
        raise errors.TransferError('reading x failed after 2 bytes')

    store.http.get.return_value = (chunks(), 4)
    body, size = run(store, 'get')
    with pytest.raises(exceptions.BackendException, match='after 2 bytes'):
        list(body)
    assert len(logs()) == 1


def test_storage_full_is_one_error(logs):
    store = store_with(vmware_free_space_reserve_mb=200 * 1024)
    with pytest.raises(exceptions.StorageFull):
        run(store, 'add')
    [line] = logs()
    assert 'vmware_free_space_reserve_mb' in line


# The CA file ----------------------------------------------------------------

@pytest.fixture
def ca_file(tmp_path):
    path = tmp_path / 'ca.pem'
    path.write_text('not checked by the store\n')
    return str(path)


def test_missing_ca_file_is_one_error_at_start_up_then_503(logs, tmp_path):
    missing = str(tmp_path / 'nosuch' / 'ca.pem')
    store = store_with(vmware_ca_file=missing)
    [line] = logs()
    assert line.startswith("vsphere store: vmware_ca_file %r does not "
                           "exist" % missing)
    # Not an outage: vCenter is not asked at all.
    assert store.inventory.resolve_calls == []
    logs.clear()
    for op, expected in GLANCE_503.items():
        with pytest.raises(expected) as e:
            run(store, op)
        assert type(e.value) is expected
        assert 'vmware_ca_file %r does not exist' % missing in e.value.msg
    store.http.size.assert_not_called()
    store.http.get.assert_not_called()
    store.files.delete.assert_not_called()
    assert len(logs()) == 4


def test_ca_file_that_appears_later_is_used(logs, tmp_path):
    path = tmp_path / 'ca.pem'
    store = store_with(vmware_ca_file=str(path))
    path.write_text('CA\n')
    run(store, 'add')
    assert len(logs()) == 1            # the start-up error only


def test_unreadable_ca_file(ca_file, monkeypatch):
    # (Tests may run as root, who reads every file.)
    monkeypatch.setattr(store_config.os, 'access',
                        lambda path, mode: path != ca_file)
    assert 'cannot be read' in store_config.ca_file_problem(ca_file)


def test_ca_file_that_is_a_directory(tmp_path):
    assert 'is not a file' in store_config.ca_file_problem(str(tmp_path))


def test_readable_ca_file_is_fine(logs, ca_file):
    store_with(vmware_ca_file=ca_file)
    assert logs() == [] and logs(logging.WARNING) == []


def test_ca_file_and_insecure_is_one_warning(logs, ca_file):
    store_with(vmware_ca_file=ca_file, vmware_insecure=True)
    [warning] = logs(logging.WARNING)
    assert 'vmware_insecure is ignored' in warning


# explain() ------------------------------------------------------------------

def test_explain_leaves_messages_that_name_an_option_alone():
    error = errors.ConfigurationError('vmware_ca_file is wrong')
    assert store_config.explain(error) == 'vmware_ca_file is wrong'
    assert store_config.explain(errors.Unreachable('down')) == 'down'
