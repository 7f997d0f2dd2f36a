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

"""Store logic above the vSphere boundary: configuration, datastore
choice, size checks and location checks.

Only the vSphere objects (Session, Inventory, DatastoreFiles and
DatastoreHTTP) are replaced; the store's own code runs unchanged.
"""

import datetime
import hashlib
import io
import types
from unittest import mock

from glance_store import exceptions
from glance_store import location as gs_location
from oslo_config import cfg
from oslo_utils import units
import pytest

from glance_store_vmware import location
from glance_store_vmware import opts
from glance_store_vmware import store as store_mod
from glance_store_vmware import store_config
from glance_store_vmware.vsphere import connection
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import inventory
from glance_store_vmware.vsphere import paths

GiB = units.Gi
MiB = units.Mi
UUID = '6f7a0c3e-2b7c-4d2a-9a64-0d1c1e2b3a4f'


# parse_datastore_entry ---------------------------------------------------

@pytest.mark.parametrize('entry, expected', [
    ('dc1:ds1', ('dc1', 'ds1', 0)),
    ('dc1:ds1:100', ('dc1', 'ds1', 100)),
    (' dc1 : ds1 : 7 ', ('dc1', 'ds1', 7)),
    ('dc1:ds1:', ('dc1', 'ds1', 0)),
    ('dc1:ds1:-5', ('dc1', 'ds1', -5)),
    ('folder/dc 1:my ds:3', ('folder/dc 1', 'my ds', 3)),
    ('dc:with:colon:ds1', ('dc:with:colon', 'ds1', 0)),
    ('dc:with:colon:ds1:20', ('dc:with:colon', 'ds1', 20)),
    ('a:b:ds1', ('a:b', 'ds1', 0)),
])
def test_parse_datastore_entry(entry, expected):
    assert opts.parse_datastore_entry(entry) == expected


@pytest.mark.parametrize('entry', [
    '', 'dc1', 'dc1:', ':ds1', ':ds1:5', 'dc1::5', '::', ' : ',
])
def test_parse_datastore_entry_refuses_empty_parts(entry):
    with pytest.raises(ValueError) as e:
        opts.parse_datastore_entry(entry)
    assert repr(entry) in str(e.value)


@pytest.mark.parametrize('entry', ['dc1:ds1:1O', 'dc1:ds1:10.5',
                                   'dc1:ds1:5x', 'dc1:ds1:+', 'a:b:ds1:-x'])
def test_parse_datastore_entry_refuses_bad_weight_naming_the_entry(entry):
    with pytest.raises(ValueError) as e:
        opts.parse_datastore_entry(entry)
    assert repr(entry) in str(e.value)
    assert 'weight' in str(e.value)


# Fakes of the vSphere boundary -------------------------------------------

class FakeSession:
    def __init__(self, host, username, password, *, port=443, **kwargs):
        self.host = host
        self.port = port
        self.kwargs = kwargs


class FakeInventory:
    """Datastores by (datacenter, name); clusters map to several."""

    def __init__(self):
        self.targets = {}      # (dc, name) -> {datastore name: ref}
        self.state = {}        # ref -> dict of DatastoreState fields
        self.resolve_calls = []
        self.resolve_error = None

    def add(self, dc, name, free, *, accessible=True,
            maintenance_mode='normal', cluster=None):
        ref = 'ref-%s-%s' % (dc, name)
        self.targets.setdefault((dc, cluster or name), {})[name] = ref
        self.state[ref] = dict(free_space=free, capacity=10 * free + GiB,
                               accessible=accessible,
                               maintenance_mode=maintenance_mode)
        return ref

    def resolve(self, dc, name):
        self.resolve_calls.append((dc, name))
        if self.resolve_error is not None:
            raise self.resolve_error
        if (dc, name) not in self.targets:
            raise errors.NotFound('no datastore %r in %r' % (name, dc))
        return dict(self.targets[(dc, name)])

    def states(self, candidates):
        return [inventory.DatastoreState(datacenter=dc, name=name, ref=ref,
                                         **self.state[ref])
                for dc, name, ref in candidates]


def make_store(inv, datastores, backend=None, re_raise_bsc=True,
               **overrides):
    conf = cfg.ConfigOpts()
    group = backend or 'glance_store'
    conf.register_opts(opts.STORE_OPTS, group=group)
    conf([], project='test', default_config_files=[])
    settings = dict(vmware_server_host='VC.example.com',
                    vmware_server_username='user',
                    vmware_server_password='secret',
                    vmware_datastores=datastores)
    settings.update(overrides)
    for name, value in settings.items():
        conf.set_override(name, value, group=group)
    http = mock.Mock(name='DatastoreHTTP')
    dsfiles = mock.Mock(name='DatastoreFiles')
    # Background sweeps for abandoned partial uploads find nothing.
    dsfiles.list_directory.return_value = []
    dsfiles.server_time.return_value = datetime.datetime.now(
        datetime.timezone.utc)
    with mock.patch.object(store_mod.vs_session, 'Session', FakeSession), \
            mock.patch.object(connection.inventory_mod, 'Inventory',
                              return_value=inv), \
            mock.patch.object(connection.files_mod, 'DatastoreFiles',
                              return_value=dsfiles), \
            mock.patch.object(connection.transfer, 'DatastoreHTTP',
                              return_value=http):
        store = store_mod.Store(conf, backend=backend)
        store.configure(re_raise_bsc=re_raise_bsc)
    assert store.inventory is inv and store.http is http
    return store


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def monotonic(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    fake = types.SimpleNamespace(monotonic=c.monotonic)
    monkeypatch.setattr(store_mod, 'time', fake)
    monkeypatch.setattr(store_config, 'time', fake)
    return c


# Configuration -----------------------------------------------------------

def test_configure_normalises_host_and_image_dir():
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 10 * GiB)
    store = make_store(inv, ['dc1:ds1'], vmware_server_port=8443,
                       vmware_store_image_dir='/glance/images/')
    assert (store.session.host, store.session.port) == ('vc.example.com',
                                                        8443)
    assert store.image_dir == 'glance/images'
    assert store.url_prefix == 'vsphere://vc.example.com:8443/folder/' \
        'glance/images'


@pytest.mark.parametrize('option', ['vmware_server_host',
                                    'vmware_server_username',
                                    'vmware_server_password'])
def test_configure_requires_connection_options(option):
    with pytest.raises(exceptions.BadStoreConfiguration, match=option):
        make_store(FakeInventory(), ['dc1:ds1'], **{option: None})


def test_configure_add_requires_datastores():
    with pytest.raises(exceptions.BadStoreConfiguration,
                       match='vmware_datastores'):
        make_store(FakeInventory(), [])


def test_configure_add_reports_the_bad_entry():
    with pytest.raises(exceptions.BadStoreConfiguration, match='dc1:ds2:1x'):
        make_store(FakeInventory(), ['dc1:ds1', 'dc1:ds2:1x'])


@pytest.mark.parametrize('image_dir', ['/a/../b', '/a//b', 'a\\b'])
def test_configure_refuses_unsafe_image_dir(image_dir):
    with pytest.raises(exceptions.BadStoreConfiguration,
                       match='vmware_store_image_dir'):
        make_store(FakeInventory(), ['dc1:ds1'],
                   vmware_store_image_dir=image_dir)


def test_vcenter_unreachable_at_start_up_does_not_fail_configure():
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 10 * GiB)
    inv.resolve_error = errors.VSphereError('connection refused')
    store = make_store(inv, ['dc1:ds1'])
    inv.resolve_error = None
    assert store.select_datastore(GiB).name == 'ds1'


# Datastore selection -----------------------------------------------------

def test_highest_weight_wins_over_more_free_space():
    inv = FakeInventory()
    inv.add('dc1', 'big', 500 * GiB)
    inv.add('dc1', 'preferred', 5 * GiB)
    store = make_store(inv, ['dc1:big:1', 'dc1:preferred:10'])
    assert store.select_datastore(GiB).name == 'preferred'


def test_lower_weight_is_used_when_the_preferred_one_is_full():
    inv = FakeInventory()
    inv.add('dc1', 'big', 500 * GiB)
    inv.add('dc1', 'preferred', 5 * GiB)
    store = make_store(inv, ['dc1:big:1', 'dc1:preferred:10'])
    assert store.select_datastore(10 * GiB).name == 'big'


def test_equal_weights_prefer_most_free_space():
    inv = FakeInventory()
    inv.add('dc1', 'a', 20 * GiB)
    inv.add('dc1', 'b', 80 * GiB)
    inv.add('dc1', 'c', 50 * GiB)
    store = make_store(inv, ['dc1:a:5', 'dc1:b:5', 'dc1:c:5'])
    assert store.select_datastore(GiB).name == 'b'


def test_same_name_in_two_datacenters_is_told_apart():
    inv = FakeInventory()
    inv.add('dc1', 'ds', 80 * GiB)
    inv.add('dc2', 'ds', 20 * GiB)
    store = make_store(inv, ['dc1:ds:1', 'dc2:ds:9'])
    assert store.select_datastore(GiB).datacenter == 'dc2'


@pytest.mark.parametrize('free_mib, chosen', [(2048 + 1024, True),
                                              (2048 + 1023, False)])
def test_reserve_is_kept_for_known_size(free_mib, chosen):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', free_mib * MiB)
    store = make_store(inv, ['dc1:ds1'], vmware_free_space_reserve_mb=1024)
    if chosen:
        assert store.select_datastore(2048 * MiB).name == 'ds1'
    else:
        with pytest.raises(exceptions.StorageFull):
            store.select_datastore(2048 * MiB)


@pytest.mark.parametrize('size', [0, None])
@pytest.mark.parametrize('free_mib, chosen', [(512, True), (511, False)])
def test_reserve_is_kept_for_unknown_size(size, free_mib, chosen):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', free_mib * MiB)
    store = make_store(inv, ['dc1:ds1'], vmware_free_space_reserve_mb=512)
    if chosen:
        assert store.select_datastore(size).name == 'ds1'
    else:
        with pytest.raises(exceptions.StorageFull):
            store.select_datastore(size)


def test_reserve_makes_a_lower_weight_datastore_win():
    inv = FakeInventory()
    inv.add('dc1', 'preferred', 2 * GiB)
    inv.add('dc1', 'spare', 100 * GiB)
    store = make_store(inv, ['dc1:preferred:10', 'dc1:spare:1'],
                       vmware_free_space_reserve_mb=2048)
    assert store.select_datastore(MiB).name == 'spare'


@pytest.mark.parametrize('state', [
    dict(accessible=False),
    dict(maintenance_mode='inMaintenance'),
    dict(maintenance_mode='enteringMaintenance'),
])
def test_inaccessible_or_maintenance_datastores_are_skipped(state):
    inv = FakeInventory()
    inv.add('dc1', 'broken', 900 * GiB, **state)
    inv.add('dc1', 'ok', 10 * GiB)
    store = make_store(inv, ['dc1:broken:10', 'dc1:ok:1'])
    assert store.select_datastore(GiB).name == 'ok'


def test_unknown_maintenance_mode_counts_as_normal():
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 10 * GiB, maintenance_mode=None)
    store = make_store(inv, ['dc1:ds1'])
    assert store.select_datastore(GiB).name == 'ds1'


def test_storage_full_names_the_option_and_the_candidates():
    inv = FakeInventory()
    inv.add('dc1', 'small', 3 * GiB)
    inv.add('dc1', 'down', 900 * GiB, accessible=False)
    store = make_store(inv, ['dc1:small', 'dc1:down'])
    with pytest.raises(exceptions.StorageFull) as e:
        store.select_datastore(5 * GiB)
    message = str(e.value)
    assert 'vmware_free_space_reserve_mb' in message
    assert 'small (3072 MiB free)' in message
    assert 'down' in message
    assert str(5 * GiB) in message


def test_no_datastore_found_is_a_configuration_mistake_not_storage_full():
    store = make_store(FakeInventory(), ['dc1:gone'])
    with pytest.raises(store_config.Mistake,
                       match="vmware_datastores entry 'dc1:gone'"):
        store.select_datastore(GiB)


def test_datastore_cluster_stands_for_its_members():
    inv = FakeInventory()
    inv.add('dc1', 'm1', 10 * GiB, cluster='pod1')
    inv.add('dc1', 'm2', 30 * GiB, cluster='pod1')
    store = make_store(inv, ['dc1:pod1:5'])
    assert store.select_datastore(GiB).name == 'm2'


def test_missing_datastore_does_not_disable_the_others(clock):
    inv = FakeInventory()
    inv.add('dc1', 'ds2', 10 * GiB)
    store = make_store(inv, ['dc1:ds1:10', 'dc1:ds2:1'],
                       vmware_datastore_recheck_interval=60)
    assert ('dc1', 'ds1') in inv.resolve_calls
    assert store.select_datastore(GiB).name == 'ds2'


def test_missing_datastore_is_looked_up_again_after_the_interval(clock):
    inv = FakeInventory()
    inv.add('dc1', 'ds2', 10 * GiB)
    store = make_store(inv, ['dc1:ds1:10', 'dc1:ds2:1'],
                       vmware_datastore_recheck_interval=60)
    inv.resolve_calls.clear()
    inv.add('dc1', 'ds1', 10 * GiB)      # created by the operator

    clock.now += 59
    assert store.select_datastore(GiB).name == 'ds2'
    assert inv.resolve_calls == []       # not yet: no lookup per request

    clock.now += 1
    assert store.select_datastore(GiB).name == 'ds1'
    assert inv.resolve_calls == [('dc1', 'ds1')]

    clock.now += 1000
    store.select_datastore(GiB)
    assert inv.resolve_calls == [('dc1', 'ds1')]   # found ones are cached


def test_still_missing_datastore_waits_another_interval(clock):
    inv = FakeInventory()
    inv.add('dc1', 'ds2', 10 * GiB)
    store = make_store(inv, ['dc1:ds1:10', 'dc1:ds2:1'],
                       vmware_datastore_recheck_interval=30)
    clock.now += 30
    store.select_datastore(GiB)
    inv.resolve_calls.clear()
    clock.now += 29
    store.select_datastore(GiB)
    assert inv.resolve_calls == []
    clock.now += 1
    store.select_datastore(GiB)
    assert inv.resolve_calls == [('dc1', 'ds1')]


# Adding images: size checks ------------------------------------------------

def adding_store(**overrides):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 100 * GiB)
    store = make_store(inv, ['dc1:ds1'], **overrides)
    store.http.size.return_value = None
    store.http.put.side_effect = lambda dsfile, chunks, size=None: [
        c for c in chunks]
    store.WRITE_CHUNKSIZE = 4
    return store


class FailingReader(io.BytesIO):
    def __init__(self, data, error):
        super().__init__(data)
        self.error = error

    def read(self, size=-1):
        chunk = super().read(size)
        if not chunk:
            raise self.error
        return chunk


def test_add_stores_under_a_temporary_name_then_renames():
    store = adding_store()
    data = b'0123456789abcdef-x'
    url, size, md5, multihash, meta = store.add(
        UUID, io.BytesIO(data), len(data), 'sha512')
    final = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance/' + UUID)
    assert url == 'vsphere://vc.example.com/folder/openstack_glance/%s' \
        '?dcPath=dc1&dsName=ds1' % UUID
    assert (size, md5, multihash) == (
        len(data), hashlib.md5(data).hexdigest(),
        hashlib.sha512(data).hexdigest())
    assert meta == {}
    [(temp, chunks), kwargs] = store.http.put.call_args
    assert kwargs == {'size': len(data)}
    assert temp.parent() == final.parent()
    assert temp.name.startswith('.' + UUID) and temp.name.endswith('.part')
    store.files.move.assert_called_once_with(temp, final, force=False)
    store.files.make_directory.assert_called_once_with(final.parent())
    store.files.delete_quietly.assert_not_called()


def test_add_of_unknown_size_uploads_chunked():
    store = adding_store()
    url, size, md5, _mh, _m = store.add(UUID, io.BytesIO(b'abcdefghij'), 0,
                                        'sha256')
    assert size == 10
    assert store.http.put.call_args.kwargs == {'size': None}


def test_add_refuses_an_existing_image():
    store = adding_store()
    store.http.size.return_value = 5
    with pytest.raises(exceptions.Duplicate):
        store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')
    store.http.put.assert_not_called()


def test_add_turns_a_lost_rename_race_into_duplicate():
    store = adding_store()
    store.files.move.side_effect = errors.AlreadyExists('exists')
    with pytest.raises(exceptions.Duplicate):
        store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')
    temp = store.http.put.call_args.args[0]
    store.files.delete_quietly.assert_called_once_with(temp)


@pytest.mark.parametrize('image_id', ['', '.hidden', '../vm1', 'a/b', '..'])
def test_add_refuses_image_ids_that_are_not_file_names(image_id):
    store = adding_store()
    with pytest.raises(exceptions.BackendException):
        store.add(image_id, io.BytesIO(b'abcde'), 5, 'sha256')
    store.http.put.assert_not_called()
    store.files.move.assert_not_called()


def _assert_upload_cleaned_up(store):
    temp = store.http.put.call_args.args[0]
    store.files.delete_quietly.assert_called_once_with(temp)
    store.files.move.assert_not_called()


def test_short_data_is_a_backend_error():
    store = adding_store()
    with pytest.raises(exceptions.BackendException,
                       match='ended after 10 of its declared 11 bytes'):
        store.add(UUID, io.BytesIO(b'0123456789'), 11, 'sha256')
    _assert_upload_cleaned_up(store)


def test_long_data_is_a_backend_error():
    store = adding_store()
    with pytest.raises(exceptions.BackendException,
                       match='larger than its declared size of 9 bytes'):
        store.add(UUID, io.BytesIO(b'0123456789'), 9, 'sha256')
    _assert_upload_cleaned_up(store)


def test_read_error_is_a_backend_error():
    store = adding_store()
    reader = FailingReader(b'0123456789', ConnectionResetError('peer gone'))
    with pytest.raises(exceptions.BackendException) as e:
        store.add(UUID, reader, 20, 'sha256')
    assert 'after 10 bytes' in str(e.value)
    assert 'peer gone' in str(e.value)
    _assert_upload_cleaned_up(store)


def test_other_reader_errors_propagate_unchanged():
    class SizeLimitExceeded(Exception):
        pass

    store = adding_store()
    limit = SizeLimitExceeded('quota')
    with pytest.raises(SizeLimitExceeded) as e:
        store.add(UUID, FailingReader(b'0123', limit), 0, 'sha256')
    assert e.value is limit
    _assert_upload_cleaned_up(store)


def test_transfer_errors_become_backend_errors():
    store = adding_store()
    store.http.put.side_effect = errors.TransferError('HTTP 500')
    with pytest.raises(exceptions.BackendException, match='HTTP 500'):
        store.add(UUID, io.BytesIO(b'01234'), 5, 'sha256')
    _assert_upload_cleaned_up(store)


class TestSource:
    def test_yields_chunks_and_feeds_them_to_the_digest(self):
        seen = []
        source = store_mod._Source(io.BytesIO(b'abcdefghij'), 10, 4)
        assert list(source.chunks(seen.append)) == [b'abcd', b'efgh', b'ij']
        assert seen == [b'abcd', b'efgh', b'ij']
        assert source.size == 10 and source.error is None

    def test_short(self):
        source = store_mod._Source(io.BytesIO(b'abc'), 4, 2)
        with pytest.raises(exceptions.BackendException):
            list(source.chunks(lambda c: None))
        assert isinstance(source.error, exceptions.BackendException)

    def test_long_stops_before_passing_the_extra_bytes_on(self):
        seen = []
        source = store_mod._Source(io.BytesIO(b'abcde'), 4, 2)
        with pytest.raises(exceptions.BackendException):
            list(source.chunks(seen.append))
        assert seen == [b'ab', b'cd']

    def test_os_error_is_recorded_as_backend_error(self):
        source = store_mod._Source(FailingReader(b'ab', OSError('eio')), 4, 2)
        with pytest.raises(OSError):
            list(source.chunks(lambda c: None))
        assert isinstance(source.error, exceptions.BackendException)

    def test_other_errors_are_recorded_unchanged(self):
        error = KeyError('x')
        source = store_mod._Source(FailingReader(b'ab', error), 4, 2)
        with pytest.raises(KeyError):
            list(source.chunks(lambda c: None))
        assert source.error is error


# Locations: what get, get_size and delete may touch -----------------------

def located(store, url):
    return gs_location.Location('vsphere', store_mod.StoreLocation,
                                store.conf, uri=url, image_id=UUID)


def image_url(host='vc.example.com', path='openstack_glance/' + UUID,
              query='dcPath=dc1&dsName=ds1'):
    return 'vsphere://%s/folder/%s?%s' % (host, path, query)


def test_delete_of_an_own_image():
    store = adding_store()
    store.delete(located(store, image_url(host='VC.EXAMPLE.COM')))
    store.files.delete.assert_called_once_with(paths.DatastoreFile(
        'dc1', 'ds1', 'openstack_glance/' + UUID))


def test_locations_round_trip_through_store_location():
    store = adding_store()
    loc = located(store, image_url())
    assert loc.get_store_uri() == image_url()


@pytest.mark.parametrize('url', [
    image_url(path='vm1/vm1-flat.vmdk'),
    image_url(path='vm1/vm1.vmx'),
    image_url(query='dcPath=dc1&dsName=vms'),
    image_url(query='dcPath=dc2&dsName=ds1'),
    image_url(host='vc2.example.com'),
    image_url(host='vc.example.com:8443'),
    image_url(path='openstack_glance/.%s.0.part' % UUID),
    image_url(path='openstack_glance/sub/' + UUID),
])
def test_foreign_files_are_neither_read_nor_deleted(url):
    store = adding_store()
    loc = located(store, url)
    with pytest.raises(exceptions.BadStoreUri):
        store.delete(loc)
    with pytest.raises(exceptions.BadStoreUri):
        store.get(loc)
    with pytest.raises(exceptions.BadStoreUri):
        store.get_size(loc)
    store.files.delete.assert_not_called()
    store.http.get.assert_not_called()
    store.http.size.assert_not_called()


@pytest.mark.parametrize('url', [
    image_url(path='openstack_glance/%2e%2e/vm1/vm1.vmx'),
    image_url(path='openstack_glance%2F..%2Fvm1%2Fvm1.vmx'),
    image_url(path='../vm1/vm1.vmx'),
    image_url() + '&extra=1',
    'vsphere://user:pw@vc.example.com/folder/openstack_glance/x'
    '?dcPath=dc1&dsName=ds1',
])
def test_malformed_locations_are_refused_when_parsed(url):
    store = adding_store()
    with pytest.raises(exceptions.BadStoreUri):
        located(store, url)


def test_members_of_a_configured_cluster_are_allowed_locations():
    inv = FakeInventory()
    inv.add('dc1', 'm1', 10 * GiB, cluster='pod1')
    store = make_store(inv, ['dc1:pod1'])
    assert store.policy.check(location.ImageLocation.parse(
        image_url(query='dcPath=dc1&dsName=m1'))).datastore == 'm1'


ALIASES = ['10.0.0.5', 'vcenter-old.example.com:8443']


@pytest.mark.parametrize('host', ['10.0.0.5', '10.0.0.5:443',
                                  'VCENTER-OLD.example.com:8443'])
def test_images_named_by_an_alias_are_read_and_deleted_through_the_host(
        host):
    store = adding_store(vmware_server_host_aliases=ALIASES)
    store.http.size.return_value = 7
    loc = located(store, image_url(host=host))
    own = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance/' + UUID)
    assert store.get_size(loc) == 7
    store.http.size.assert_called_with(own)
    store.delete(loc)
    store.files.delete.assert_called_once_with(own)


@pytest.mark.parametrize('host', ['10.0.0.6', '10.0.0.5:8443',
                                  'vcenter-old.example.com'])
def test_hosts_that_are_no_alias_are_refused_naming_the_aliases(host):
    store = adding_store(vmware_server_host_aliases=ALIASES)
    with pytest.raises(exceptions.BadStoreUri,
                       match='not the configured vc.example.com:443 nor its '
                             'alias 10.0.0.5:443 nor its alias '
                             'vcenter-old.example.com:8443'):
        store.delete(located(store, image_url(host=host)))
    store.files.delete.assert_not_called()


def test_without_aliases_another_name_is_refused_as_before():
    store = adding_store()
    with pytest.raises(exceptions.BadStoreUri,
                       match=r'location refused: location names vCenter '
                             r'10\.0\.0\.5:443, not the configured '
                             r'vc\.example\.com:443$'):
        store.get(located(store, image_url(host='10.0.0.5')))


def test_new_images_are_stored_under_the_host_not_an_alias():
    store = adding_store(vmware_server_host_aliases=ALIASES)
    url = store.add(UUID, io.BytesIO(b'data'), 4, 'sha256')[0]
    assert url.startswith('vsphere://vc.example.com/folder/')


@pytest.mark.parametrize('aliases,bad', [
    (['vc:0'], "'vc:0'"),
    (['vc:x'], "'vc:x'"),
    (['vc:65536'], "'vc:65536'"),
    (['ok', ':443'], "':443'"),
    (['[fd00::1]x'], "'[fd00::1]x'"),
    (['user@vc'], "'user@vc'"),
])
def test_malformed_aliases_stop_the_store_naming_option_and_entry(aliases,
                                                                  bad):
    with pytest.raises(exceptions.BadStoreConfiguration) as e:
        adding_store(vmware_server_host_aliases=aliases)
    assert 'vmware_server_host_aliases' in str(e.value)
    assert bad in str(e.value)


def test_get_size_of_a_missing_image_is_not_found():
    store = adding_store()
    store.http.size.return_value = None
    with pytest.raises(exceptions.NotFound):
        store.get_size(located(store, image_url()))


# Abandoned partial uploads ------------------------------------------------

@pytest.mark.parametrize('max_age, timeout', [(120, 120), (60, 120)])
def test_partial_file_max_age_must_exceed_the_http_timeout(max_age, timeout):
    inv = FakeInventory()
    inv.add('dc1', 'ds1', 10 * GiB)
    with pytest.raises(exceptions.BadStoreConfiguration,
                       match='vmware_partial_file_max_age'):
        make_store(inv, ['dc1:ds1'], vmware_partial_file_max_age=max_age,
                   vmware_http_timeout=timeout)


def test_defaults_reclaim_partials_within_seventy_minutes():
    store = adding_store()
    assert store._partials.max_age == 3600
    assert store._partials.interval == 600
    assert store._partials.max_age > store.store_conf.vmware_http_timeout


def test_a_zero_sweep_interval_turns_sweeping_off():
    store = adding_store(vmware_partial_file_sweep_interval=0)
    assert store._partials is None
    store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')   # still works


def test_add_marks_its_temporary_file_while_uploading_and_renaming():
    store = adding_store()
    seen = []

    def put(dsfile, chunks, size=None):
        list(chunks)
        seen.append(store_mod.partials.is_uploading(dsfile))

    store.http.put.side_effect = put
    store.files.move.side_effect = lambda src, dst, force: seen.append(
        store_mod.partials.is_uploading(src))
    store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')
    temp = store.http.put.call_args.args[0]
    assert seen == [True, True]
    assert not store_mod.partials.is_uploading(temp)
    assert store_mod.partials.image_of(temp.name) == UUID


@pytest.mark.parametrize('fail', [False, True])
def test_add_asks_for_a_sweep_of_the_image_directories(fail):
    store = adding_store()
    store._partials = mock.Mock()
    if fail:
        store.files.move.side_effect = errors.VSphereError('down')
    try:
        store.add(UUID, io.BytesIO(b'abcde'), 5, 'sha256')
    except exceptions.BackendException:
        assert fail
    store._partials.request.assert_called_once_with(
        [paths.DatastoreFile('dc1', 'ds1', 'openstack_glance')], image=None)


def test_delete_asks_for_a_sweep_of_the_image_s_partials():
    store = adding_store()
    store.select_datastore(1)
    store._partials = mock.Mock()
    store.delete(located(store, image_url()))
    directory = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance')
    store._partials.request.assert_called_once_with(
        [directory], image=(directory, UUID))
