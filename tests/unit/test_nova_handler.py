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

"""The Nova image handler's decisions, against an in-memory vSphere."""

import http.server
import json
import threading

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import session as ks_session
import pytest

from glance_store_vmware import location
from glance_store_vmware import opts
from glance_store_vmware.nova import discovery
from glance_store_vmware.nova import handler
from glance_store_vmware.vsphere import errors

IMG = '7b0ee2d0-1b0c-4d2b-9c2c-1d2a3f4e5a6b'
SIZE = 4 * 1024 * 1024
VC = 'vc.example.org'


def url(path='openstack_glance/' + IMG, host=VC, ds='ds1', dc='DC1'):
    return 'vsphere://%s/folder/%s?dcPath=%s&dsName=%s' % (host, path, dc,
                                                          ds)


class FakeVSphere:
    """Datastore files as ``{(datacenter, datastore, path): size}``, with
    the operations the handler uses; records every call."""

    def __init__(self, files=None, datastores=('ds1', 'ds2', 'ds3')):
        self.files = dict(files or {})
        self.stores = {name: 'ref-' + name for name in datastores}
        self.ops = []
        self.fail = {}  # operation name -> exception

    @staticmethod
    def key(f):
        return (f.datacenter, f.datastore, f.path)

    def _op(self, name, *args):
        self.ops.append((name,) + tuple(str(a) for a in args))
        if name in self.fail:
            raise self.fail[name]

    # DatastoreHTTP
    def size(self, f):
        if self.key(f) in self.files:
            return self.files[self.key(f)]
        return None

    def close(self):
        pass

    # Inventory
    def datastores(self, dc):
        return dict(self.stores)

    def resolve(self, dc, name):
        if name == 'pod1':
            return {'ds2': 'ref-ds2', 'ds3': 'ref-ds3'}
        if name not in self.stores:
            raise errors.NotFound(name)
        return {name: self.stores[name]}

    # DatastoreFiles
    def make_directory(self, f):
        self._op('mkdir', f.path)

    def delete(self, f):
        self._op('delete', f.path)
        k = self.key(f)
        gone = [x for x in self.files
                if x == k or (x[:2] == k[:2] and x[2].startswith(k[2] + '/'))]
        if not gone:
            raise errors.NotFound(str(f))
        for x in gone:
            del self.files[x]

    def delete_quietly(self, f):
        try:
            self.delete(f)
        except errors.NotFound:
            pass

    def copy(self, src, dst, force=False):
        self._op('copy', src.ds_path, dst.ds_path)
        if self.key(src) not in self.files:
            raise errors.NotFound(str(src))
        self.files[self.key(dst)] = self.files[self.key(src)]

    def copy_virtual_disk(self, src, dst, force=False):
        self._op('copy_virtual_disk', src.ds_path, dst.ds_path)
        self.files[self.key(dst)] = 1
        self.files[self.key(dst.sibling(dst.name.replace(
            '.vmdk', '-flat.vmdk')))] = 8 * SIZE

    def create_virtual_disk(self, f, capacity_kb, adapter, disk_type):
        self._op('create_virtual_disk', f.path, capacity_kb, adapter,
                 disk_type)
        self.files[self.key(f)] = 1
        self.files[self.key(f.sibling(f.name.replace(
            '.vmdk', '-flat.vmdk')))] = capacity_kb * 1024

    def move(self, src, dst, force=False):
        self._op('move', src.path, dst.path)
        s, d = self.key(src), self.key(dst)
        if any(x[:2] == d[:2] and (x[2] == d[2] or x[2].startswith(d[2] +
                                                                    '/'))
               for x in self.files):
            raise errors.AlreadyExists(str(dst))
        for x in [x for x in self.files if x[:2] == s[:2]
                  and x[2].startswith(s[2] + '/')]:
            self.files[d[:2] + (d[2] + x[2][len(s[2]):],)] = \
                self.files.pop(x)

    def under(self, prefix, ds='ds2'):
        return sorted(p for dc, d, p in self.files
                      if d == ds and p.startswith(prefix))


TARGET = handler.CacheTarget('DC1', 'ds2', 'vmware_base')
CACHE_DIR = 'vmware_base/' + IMG


def make(fake, **config):
    config.setdefault('host', VC)
    return handler.ImageHandler(object(), handler.HandlerConfig(**config),
                                inventory=fake, files=fake, http=fake)


def glance_file(ds='ds1', size=SIZE):
    return {('DC1', ds, 'openstack_glance/' + IMG): size}


def flat_image(**kw):
    kw.setdefault('size', SIZE)
    return handler.Image(IMG, **kw)


class Locations:
    """A locations callable that remembers whether Glance was asked."""

    def __init__(self, *urls):
        self.urls = list(urls)
        self.asked = 0

    def __call__(self):
        self.asked += 1
        return self.urls


# The location policy.

@pytest.mark.parametrize('config,loc', [
    ({}, url()),
    ({}, url(host='VC.example.org.')),
    ({'host_aliases': (('10.0.0.5', 443),)}, url(host='10.0.0.5')),
    ({'datastores': (('DC1', 'ds1'),)}, url()),
    ({'datastores': (('DC1', 'pod1'),)}, url(ds='ds3')),
    ({'image_dir': 'images/glance'}, url('images/glance/' + IMG)),
    ({'require_image_id_name': False}, url('openstack_glance/other')),
])
def test_allowed_locations(config, loc):
    dsfile = make(FakeVSphere(), **config).check_location(flat_image(), loc)
    assert dsfile.datastore in ('ds1', 'ds3')


@pytest.mark.parametrize('config,loc,reason', [
    ({}, url(host='vc2.example.org'), 'not the configured'),
    ({}, url(host='vc.example.org:8443'), 'not the configured'),
    ({'host_aliases': (('10.0.0.5', 443),)}, url(host='10.0.0.6'),
     'not the configured'),
    ({'datastores': (('DC1', 'ds2'),)}, url(), 'not a configured image'),
    ({'datastores': (('DC1', 'pod1'),)}, url(), 'not a configured image'),
    ({'datastores': (('DC1', 'gone'),)}, url(), 'not a configured image'),
    ({}, url('vm1/' + IMG), 'not an image file'),
    ({}, url('openstack_glance/sub/' + IMG), 'not an image file'),
    ({}, url('openstack_glance/../vm1/' + IMG), '".."'),
    ({}, url('openstack_glance/.' + IMG), 'not an image file'),
    ({}, url('openstack_glance/other-image'), 'not named after image'),
    ({}, 'vsphere://user:pw@%s/folder/x?dcPath=a&dsName=b' % VC,
     'credentials'),
    ({}, 'https://%s/folder/openstack_glance/%s?dcPath=DC1&dsName=ds1'
     % (VC, IMG), 'scheme'),
])
def test_refused_locations(config, loc, reason):
    with pytest.raises(location.InvalidLocation, match=reason):
        make(FakeVSphere(), **config).check_location(flat_image(), loc)


# Choosing the source.

def test_cache_hit_asks_nobody():
    fake = FakeVSphere({('DC1', 'ds2', CACHE_DIR + '/%s.vmdk' % IMG): 1})
    locations = Locations(url())
    result = make(fake).fill_cache(flat_image(), TARGET, locations)
    assert result.source == handler.CACHED
    assert locations.asked == 0 and fake.ops == []


def test_flat_location_is_copied_through_a_temporary_directory():
    fake = FakeVSphere(glance_file())
    locations = Locations('swift://elsewhere/x', url())
    result = make(fake).fill_cache(flat_image(disk_type='thin'), TARGET,
                                   locations)
    assert result.source == handler.LOCATION
    assert str(result.copied_from) == ('[ds1] openstack_glance/%s '
                                       '(datacenter DC1)' % IMG)
    names = [op[0] for op in fake.ops]
    assert names == ['mkdir', 'create_virtual_disk', 'delete', 'copy',
                     'mkdir', 'move', 'delete']
    tmp = fake.ops[0][1]
    assert tmp.startswith('vmware_temp/') and tmp.endswith('/' + IMG)
    assert fake.ops[1][2:] == (str(SIZE // 1024), 'lsiLogic', 'thin')
    assert fake.ops[3][1:] == ('[ds1] openstack_glance/' + IMG,
                               '[ds2] %s/%s-flat.vmdk' % (tmp, IMG))
    assert fake.ops[5][1:] == (tmp, CACHE_DIR)
    assert fake.under('vmware_base') == [CACHE_DIR + '/%s-flat.vmdk' % IMG,
                                         CACHE_DIR + '/%s.vmdk' % IMG]
    assert fake.under('vmware_temp') == []


def peer_entry(ds='ds3', extent=SIZE, name=None):
    name = name or IMG + '.vmdk'
    files = {('DC1', ds, CACHE_DIR + '/' + name): 1}
    if extent is not None and name.endswith('.vmdk'):
        files[('DC1', ds, CACHE_DIR + '/%s-flat.vmdk' % IMG)] = extent
    elif extent is not None:
        files[('DC1', ds, CACHE_DIR + '/' + name)] = extent
    return files


def test_peer_cache_is_preferred_and_glance_not_asked():
    fake = FakeVSphere({**peer_entry(), **glance_file()})
    locations = Locations(url())
    result = make(fake).fill_cache(flat_image(), TARGET, locations)
    assert result.source == handler.PEER_CACHE
    assert result.copied_from.datastore == 'ds3'
    assert locations.asked == 0
    copy = [op for op in fake.ops if op[0] == 'copy']
    assert copy == [('copy', '[ds3] %s/%s-flat.vmdk' % (CACHE_DIR, IMG),
                     copy[0][2])]
    assert fake.files[('DC1', 'ds2', CACHE_DIR + '/%s-flat.vmdk' % IMG)] \
        == SIZE


def test_truncated_peer_cache_entry_is_not_spread(caplog):
    # A crash or an unchecked copy left a short extent on ds1: the image
    # is copied from its location instead, never from ds1.
    fake = FakeVSphere({**peer_entry('ds1', SIZE - 4096),
                        **glance_file('ds3')})
    result = make(fake).fill_cache(flat_image(), TARGET, [url(ds='ds3')])
    assert result.source == handler.LOCATION
    assert result.copied_from.datastore == 'ds3'
    assert not [op for op in fake.ops if op[0] == 'copy'
                and op[1].startswith('[ds1]')]
    assert 'has %d bytes, expected %d' % (SIZE - 4096, SIZE) in caplog.text


def test_truncated_peer_cache_entry_without_location_falls_back():
    fake = FakeVSphere(peer_entry('ds1', SIZE - 1))
    result = make(fake).fill_cache(flat_image(), TARGET, [])
    assert result.fell_back
    assert 'expected %d' % SIZE in result.reason
    assert fake.ops == []


def test_peer_copy_is_checked_against_glances_size():
    fake = FakeVSphere(peer_entry('ds1'))
    real_copy = fake.copy

    def short_copy(src, dst, force=False):
        real_copy(src, dst, force)
        fake.files[fake.key(dst)] -= 512
    fake.copy = short_copy
    result = make(fake).fill_cache(flat_image(), TARGET, [])
    assert result.fell_back and 'after the copy, expected %d' % SIZE \
        in result.reason
    assert fake.under('vmware_temp') == [] and fake.under('vmware_base') == []


def test_iso_peer_cache_entry_is_checked():
    bad = FakeVSphere(peer_entry('ds1', SIZE - 1, name=IMG + '.iso'))
    result = make(bad).fill_cache(flat_image(disk_format='iso'), TARGET, [])
    assert result.fell_back and 'expected %d' % SIZE in result.reason
    good = FakeVSphere(peer_entry('ds1', SIZE, name=IMG + '.iso'))
    result = make(good).fill_cache(flat_image(disk_format='iso'), TARGET, [])
    assert result.source == handler.PEER_CACHE
    assert good.under('vmware_base') == [CACHE_DIR + '/%s.iso' % IMG]


def test_sparse_peer_cache_entry_is_checked_against_the_virtual_size():
    # The cache holds the converted disk: its extent has the capacity
    # (Glance's virtual_size), not the sparse file's size.
    capacity = 8 * SIZE
    image = flat_image(disk_type='sparse', virtual_size=capacity)
    fake = FakeVSphere(peer_entry('ds1', capacity))
    result = make(fake).fill_cache(image, TARGET, [])
    assert result.source == handler.PEER_CACHE
    assert fake.files[('DC1', 'ds2', CACHE_DIR + '/%s-flat.vmdk' % IMG)] \
        == capacity
    short = FakeVSphere(peer_entry('ds1', capacity - 512))
    assert make(short).fill_cache(image, TARGET, []).fell_back


def test_sparse_peer_cache_entry_without_virtual_size_is_not_copied():
    fake = FakeVSphere({**peer_entry('ds1', 8 * SIZE), **glance_file()})
    result = make(fake).fill_cache(flat_image(disk_type='sparse'), TARGET,
                                   [url()])
    # Copied from the location (checked against Glance's size) instead.
    assert result.source == handler.LOCATION


def test_sparse_location_conversion_is_checked_against_the_virtual_size():
    fake = FakeVSphere(glance_file())  # converts into an 8*SIZE extent
    result = make(fake).fill_cache(
        flat_image(disk_type='sparse', virtual_size=2 * SIZE), TARGET,
        [url()])
    assert result.fell_back and 'expected %d' % (2 * SIZE) in result.reason
    assert fake.under('vmware_temp') == [] and fake.under('vmware_base') == []


# An existing cache entry (its descriptor exists).

@pytest.mark.parametrize('image,files,problem', [
    (flat_image(), {'.vmdk': 1, '-flat.vmdk': SIZE}, None),
    (flat_image(), {'.vmdk': 1}, 'has no extent'),
    (flat_image(), {'.vmdk': 1, '-flat.vmdk': SIZE // 2},
     'has %d bytes, expected %d' % (SIZE // 2, SIZE)),
    (flat_image(disk_type='thin'), {'.vmdk': 1, '-flat.vmdk': SIZE + 1},
     'expected'),
    (flat_image(size=None), {'.vmdk': 1, '-flat.vmdk': 7}, None),
    (flat_image(disk_type='sparse'), {'.vmdk': 1, '-flat.vmdk': 7}, None),
    (flat_image(disk_type='sparse', virtual_size=8 * SIZE),
     {'.vmdk': 1, '-flat.vmdk': 8 * SIZE}, None),
    (flat_image(disk_type='sparse', virtual_size=8 * SIZE),
     {'.vmdk': 1, '-flat.vmdk': SIZE}, 'expected %d' % (8 * SIZE)),
    (flat_image(disk_type='sparse'), {'.vmdk': 1}, 'has no extent'),
    # vSAN: a stream-optimized disk is an object without a flat file.
    (flat_image(disk_type='streamOptimized'), {'.vmdk': 1}, None),
    (flat_image(container_format='ova'), {'.vmdk': 1}, None),
    (flat_image(disk_format='iso'), {'.iso': SIZE}, None),
    (flat_image(disk_format='iso'), {'.iso': SIZE - 1}, 'expected'),
])
def test_entry_problem(image, files, problem):
    fake = FakeVSphere({('DC1', 'ds2', CACHE_DIR + '/' + IMG + suffix): size
                        for suffix, size in files.items()})
    found = make(fake).entry_problem(image, TARGET)
    if problem is None:
        assert found is None
    else:
        assert problem in found
    assert fake.ops == []  # looking never changes anything


def test_entry_problem_that_cannot_be_looked_at_raises():
    fake = FakeVSphere()

    def size(f):
        raise errors.Unreachable('vCenter down')
    fake.size = size
    with pytest.raises(errors.VSphereError):
        make(fake).entry_problem(flat_image(), TARGET)


def test_peer_cache_search_can_be_disabled():
    fake = FakeVSphere({('DC1', 'ds3', CACHE_DIR + '/%s.vmdk' % IMG): 1,
                        **glance_file()})
    result = make(fake, search_peer_caches=False).fill_cache(
        flat_image(), TARGET, [url()])
    assert result.source == handler.LOCATION


def test_peer_cache_without_flat_extent_is_not_copied():
    # e.g. a vSAN object: nothing whose size could be checked.
    fake = FakeVSphere({('DC1', 'ds1', CACHE_DIR + '/%s.vmdk' % IMG): 1})
    result = make(fake).fill_cache(
        flat_image(disk_type='streamOptimized', virtual_size=SIZE), TARGET,
        [])
    assert result.fell_back and 'no extent to check' in result.reason
    assert fake.ops == []


def test_sparse_location_is_copied_then_converted():
    fake = FakeVSphere(glance_file())
    result = make(fake).fill_cache(flat_image(disk_type='sparse'), TARGET,
                                   [url()])
    assert result.source == handler.LOCATION
    names = [op[0] for op in fake.ops]
    assert names == ['mkdir', 'copy', 'copy_virtual_disk', 'delete',
                     'mkdir', 'move', 'delete']
    assert fake.ops[1][2].endswith('/tmp-sparse.vmdk')
    assert fake.under('vmware_base') == [CACHE_DIR + '/%s-flat.vmdk' % IMG,
                                         CACHE_DIR + '/%s.vmdk' % IMG]


def test_iso_location_is_copied_as_a_file():
    fake = FakeVSphere(glance_file())
    result = make(fake).fill_cache(flat_image(disk_format='iso'), TARGET,
                                   [url()])
    assert result.source == handler.LOCATION
    assert fake.under('vmware_base') == [CACHE_DIR + '/%s.iso' % IMG]


@pytest.mark.parametrize('image,reason', [
    (flat_image(disk_type='streamOptimized'), 'NFC lease'),
    (flat_image(container_format='ova'), 'OVA'),
    (flat_image(disk_type='floppy'), 'not supported'),
    (flat_image(size=None), 'size'),
])
def test_images_that_cannot_be_copied_fall_back_without_asking(image,
                                                                reason):
    fake = FakeVSphere(glance_file())
    locations = Locations(url())
    result = make(fake).fill_cache(image, TARGET, locations)
    assert result.fell_back and reason in result.reason
    assert locations.asked == 0 and fake.ops == []


@pytest.mark.parametrize('files,locations,reason', [
    ({}, [], 'no vsphere:// location'),
    ({}, ['http://glance/x'], 'no vsphere:// location'),
    ({}, [url()], 'does not exist'),
    (glance_file(size=SIZE - 1), [url()], 'Glance says'),
    (glance_file(), [url(host='other')], 'not the configured'),
])
def test_unusable_locations_fall_back_with_the_reason(files, locations,
                                                      reason):
    fake = FakeVSphere(files)
    result = make(fake).fill_cache(flat_image(), TARGET, locations)
    assert result.fell_back and reason in result.reason
    assert 'not cached on another datastore' in result.reason
    assert not [op for op in fake.ops if op[0] != 'mkdir']


def test_second_good_location_is_used_when_the_first_is_refused():
    fake = FakeVSphere(glance_file(ds='ds3'))
    result = make(fake).fill_cache(
        flat_image(), TARGET, [url(host='evil'), url(ds='ds3')])
    assert result.source == handler.LOCATION
    assert result.copied_from.datastore == 'ds3'


def test_glance_failing_to_give_locations_falls_back():
    def broken():
        raise discovery.LocationsUnavailable('HTTP 503')
    result = make(FakeVSphere()).fill_cache(flat_image(), TARGET, broken)
    assert result.fell_back and 'HTTP 503' in result.reason


@pytest.mark.parametrize('failing', ['create_virtual_disk', 'copy', 'move'])
def test_failed_copy_cleans_up_and_falls_back(failing):
    fake = FakeVSphere(glance_file())
    fake.fail[failing] = errors.VSphereError('boom')
    result = make(fake).fill_cache(flat_image(), TARGET, [url()])
    assert result.fell_back and 'boom' in result.reason
    assert fake.under('vmware_temp') == []
    assert fake.under('vmware_base') == []
    assert fake.ops[-1][0] == 'delete'


def test_short_copy_is_refused_and_cleaned_up():
    fake = FakeVSphere(glance_file())
    real_copy = fake.copy

    def short_copy(src, dst, force=False):
        real_copy(src, dst, force)
        fake.files[fake.key(dst)] -= 1
    fake.copy = short_copy
    result = make(fake).fill_cache(flat_image(), TARGET, [url()])
    assert result.fell_back and 'after the copy' in result.reason
    assert fake.under('vmware_temp') == [] and fake.under('vmware_base') == []


def test_another_node_winning_the_move_means_using_its_copy():
    fake = FakeVSphere(glance_file())
    real_move = fake.move

    def other_node_first(src, dst, force=False):
        fake.files.update(peer_entry('ds2'))  # a complete entry
        return real_move(src, dst, force)
    fake.move = other_node_first
    result = make(fake).fill_cache(flat_image(), TARGET, [url()])
    assert result.source == handler.LOCATION
    assert fake.under('vmware_temp') == []
    assert fake.under('vmware_base') == [CACHE_DIR + '/%s-flat.vmdk' % IMG,
                                         CACHE_DIR + '/%s.vmdk' % IMG]
    assert 'delete' not in [op[0] for op in fake.ops
                            if op[1].startswith('vmware_base')]


@pytest.mark.parametrize('leftover', [
    {CACHE_DIR + '/ts-2026': 0},                      # no image file
    {CACHE_DIR + '/%s-flat.vmdk' % IMG: SIZE},        # extent only
], ids=['empty', 'extent-only'])
def test_incomplete_cache_folder_is_replaced_by_the_copy(leftover, caplog):
    # (An entry whose descriptor exists is checked, and deleted if need
    # be, by the driver before fill_cache: see entry_problem.)
    fake = FakeVSphere({**{('DC1', 'ds2', p): n for p, n in leftover.items()},
                        **glance_file()})
    result = make(fake).fill_cache(flat_image(), TARGET, [url()])
    assert result.source == handler.LOCATION
    assert fake.under('vmware_temp') == []
    assert fake.under('vmware_base') == [CACHE_DIR + '/%s-flat.vmdk' % IMG,
                                         CACHE_DIR + '/%s.vmdk' % IMG]
    assert fake.files[('DC1', 'ds2', CACHE_DIR + '/%s-flat.vmdk' % IMG)] \
        == SIZE
    assert 'is incomplete' in caplog.text


# Location discovery.

def test_record_locations_orders_and_deduplicates():
    record = {'locations': [{'url': 'a', 'metadata': {}}, {'url': 'b'},
                            {'url': 'a'}, 'junk', {'metadata': {}}],
              'direct_url': 'b'}
    assert discovery.record_locations(record) == ['a', 'b']
    assert discovery.record_locations({'direct_url': 'c'}) == ['c']
    assert discovery.record_locations({}) == []


class _GlanceStub(http.server.BaseHTTPRequestHandler):
    answers = {}
    requests = []

    def do_GET(self):
        self.requests.append((self.path, self.headers.get('X-Auth-Token')))
        status, body = self.answers.get(self.path, (404, b'{}'))
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def glance_stub():
    _GlanceStub.answers = {}
    _GlanceStub.requests = []
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _GlanceStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    adapter = ks_adapter.Adapter(
        ks_session.Session(),
        endpoint_override='http://127.0.0.1:%d' % server.server_port)
    yield _GlanceStub, discovery.GlanceLocationsAPI(adapter)
    server.shutdown()
    server.server_close()
    thread.join()


def test_locations_api_returns_the_urls(glance_stub):
    stub, api = glance_stub
    stub.answers['/v2/images/%s/locations' % IMG] = (200, json.dumps([
        {'url': url(), 'metadata': {'store': 'vsphere'}},
        {'url': 'rbd://x', 'metadata': {}}]).encode())
    assert api.locations(IMG) == [url(), 'rbd://x']
    assert stub.requests[0][0] == '/v2/images/%s/locations' % IMG


@pytest.mark.parametrize('status,hint', [(403, 'service role'),
                                         (404, '2024.2'), (500, 'HTTP 500')])
def test_locations_api_errors_name_the_cause(glance_stub, status, hint):
    stub, api = glance_stub
    stub.answers['/v2/images/%s/locations' % IMG] = (status, b'{}')
    with pytest.raises(discovery.LocationsUnavailable, match=hint):
        api.locations(IMG)


def test_finder_prefers_the_api_and_falls_back_to_the_record(glance_stub):
    stub, api = glance_stub
    path = '/v2/images/%s/locations' % IMG
    stub.answers[path] = (200, json.dumps([{'url': 'from-api'}]).encode())
    records = []

    def record():
        records.append(1)
        return {'direct_url': 'from-record'}
    finder = discovery.locations_finder(IMG, api=api, record=record)
    assert records == [] and stub.requests == []  # lazy
    assert finder() == ['from-api'] and records == []
    stub.answers[path] = (403, b'{}')
    assert finder() == ['from-record']
    assert discovery.locations_finder(IMG, record=record)() == [
        'from-record']


# Options.

def test_datastore_entries_accept_the_store_format():
    assert opts.parse_datastore_entry('DC1:ds1') == ('DC1', 'ds1', 0)
    assert opts.parse_datastore_entry(' F/DC1 : pod : 100 ') == ('F/DC1',
                                                                 'pod', 100)
    for bad in ('ds1', 'DC1:', ':ds1', 'DC1:ds:1x'):
        with pytest.raises(ValueError):
            opts.parse_datastore_entry(bad)


def test_nova_options_are_listed_in_their_own_group():
    [(group, listed)] = opts.list_nova_opts()
    names = {o.name for o in listed}
    assert group == 'vsphere_image_handler'
    assert {'image_dir', 'image_datastores', 'location_host_aliases',
            'use_locations_api', 'auth-type', 'endpoint-override'} <= {
                n.replace('_', '-') if n.startswith(('auth', 'endpoint'))
                else n for n in names}
    assert [g for g, _ in opts.list_opts()] == ['glance_store']
