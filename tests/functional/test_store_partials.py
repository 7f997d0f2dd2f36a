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

"""Abandoned partial uploads are reclaimed by the store, against the
simulator, with the default ``vmware_partial_file_*`` options.

Files are planted on the datastore and aged with ``os.utime`` (the
simulator's clock, which ``CurrentTime`` reports, is this machine's).  The
store's schedule runs on the monotonic clock; tests move it forward
(``advance``) instead of waiting for the interval.

The patched simulator streams a ``/folder`` PUT to its own temporary file
(``.<name>.upload-*``, never a candidate) and renames it to the ``.part``
name only when the body is complete, so here a ``.part`` file exists from
the last byte until the store's rename: the window a killed glance-api
leaves behind.  A real datastore shows the growing file under the
``.part`` name, with its modification time moving.
"""

import io
import logging
import os
import threading
import time
import uuid

from glance_store import exceptions
import pytest

from glance_store_vmware import partials
from glance_store_vmware.vsphere import errors
from tests.functional import fault_proxy
from tests.functional import glance_setup
from tests.helpers import files_under
from tests.helpers import payload

pytestmark = pytest.mark.timeout(120)

MAX_AGE = 3600      # the documented defaults
INTERVAL = 600
OLD = 2 * 3600      # seconds since the last write: abandoned
IMAGE_DIR = 'openstack_glance'
MiB = 1024 * 1024


def part_name(image_id):
    return '.%s.%s.part' % (image_id, uuid.uuid4().hex)


def plant(ds_dir, relpath, age, data=b'partial image data'):
    path = os.path.join(ds_dir, relpath)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    set_age(path, age)
    return relpath


def set_age(path, age):
    then = time.time() - age
    os.utime(path, (then, then))


def advance(store, seconds):
    """Move the store's sweep schedule ``seconds`` into the future and let
    its sweeper look at it (no store call is made)."""
    reclaimer = store._partials
    base = reclaimer._clock
    with reclaimer._cond:
        reclaimer._clock = lambda: base() + seconds
        reclaimer._cond.notify_all()


def idle(store):
    assert store._partials.wait_idle(60), 'the sweep did not finish'


def make_store(sim, **overrides):
    _conf, store = glance_setup.single_store(
        sim, glance_setup.datastore_entries(sim, 'LocalDS_0'), **overrides)
    idle(store)        # the start-up sweep
    return store


def location(store, uri):
    return glance_setup.location_of(store.conf, uri)


@pytest.fixture
def ds0(vcsim):
    return vcsim.datastore_dir('LocalDS_0')


def test_defaults():
    from glance_store_vmware import opts
    defaults = {o.name: o.default for o in opts.NEW_OPTS}
    assert defaults['vmware_partial_file_max_age'] == MAX_AGE
    assert defaults['vmware_partial_file_sweep_interval'] == INTERVAL


def test_a_restarted_store_reclaims_abandoned_partials_and_nothing_else(
        vcsim, ds0, caplog):
    caplog.set_level(logging.INFO)
    image_id = str(uuid.uuid4())
    # What a glance-api killed between the last byte and the rename
    # leaves: the complete partial file.
    abandoned = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name(image_id)), OLD)
    abandoned2 = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-2')),
                       MAX_AGE + 120)
    kept = [
        # partial uploads that are not old enough
        plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('fresh')), 60),
        plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('nearly')),
              MAX_AGE - 120),
        # old files of other names
        plant(ds0, '%s/%s' % (IMAGE_DIR, image_id), OLD),
        plant(ds0, '%s/.hidden' % IMAGE_DIR, OLD),
        plant(ds0, '%s/.%s.%s.part' % (IMAGE_DIR, image_id,
                                       uuid.uuid4().hex[:31]), OLD),
        plant(ds0, '%s/.%s.%s.part' % (IMAGE_DIR, image_id,
                                       uuid.uuid4().hex.upper()), OLD),
        plant(ds0, '%s/%s' % (IMAGE_DIR, part_name(image_id)[1:]), OLD),
        plant(ds0, '%s/%s.upload-123' % (IMAGE_DIR, part_name(image_id)),
              OLD),
        plant(ds0, '%s/image.part' % IMAGE_DIR, OLD),
        # our pattern, but not directly in the image directory
        plant(ds0, '%s/sub/%s' % (IMAGE_DIR, part_name(image_id)), OLD),
        plant(ds0, 'elsewhere/%s' % part_name(image_id), OLD),
        plant(ds0, part_name(image_id), OLD),
    ]
    # A directory of our pattern is not a file.
    folder = os.path.join(ds0, IMAGE_DIR, part_name('folder'))
    plant(ds0, os.path.join(folder, 'inside'), OLD)
    set_age(folder, OLD)
    # A datastore that is not configured.
    ds1 = vcsim.datastore_dir('LocalDS_1')
    other = plant(ds1, '%s/%s' % (IMAGE_DIR, part_name(image_id)), OLD)

    make_store(vcsim)

    left = files_under(ds0)
    assert abandoned not in left and abandoned2 not in left
    assert sorted(set(kept) - set(left)) == []
    assert os.path.isdir(folder)
    assert files_under(ds1) == [other]
    removed = [r.getMessage() for r in caplog.records
               if 'removed abandoned partial upload' in r.getMessage()]
    assert len(removed) == 2, removed


def test_a_young_partial_is_reclaimed_once_old_enough_without_traffic(
        vcsim, ds0):
    name = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('young')), 60)
    store = make_store(vcsim)
    assert name in files_under(ds0)
    # The sweep saw a partial that could expire; it comes back by itself
    # once it can have, with no request in between.
    set_age(os.path.join(ds0, name), MAX_AGE + 60)
    advance(store, MAX_AGE)
    idle(store)
    assert name not in files_under(ds0)


def test_delete_reclaims_that_image_s_partials_at_once(vcsim, ds0):
    store = make_store(vcsim)
    data = payload(MiB)
    uri = store.add('img-del', io.BytesIO(data), len(data), 'md5')[0]
    idle(store)
    mine = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-del')), OLD)
    young = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-del')), 60)
    theirs = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-other')), OLD)
    store.delete(location(store, uri))
    idle(store)
    # Within the interval: only the deleted image's old partial goes.
    left = files_under(ds0)
    assert mine not in left
    assert left == sorted([young, theirs])


@pytest.fixture
def proxy(vcsim, test_ca):
    with fault_proxy.FaultProxy(vcsim.host, vcsim.port, test_ca) as proxy:
        yield proxy


def proxied_store(vcsim, proxy, **overrides):
    return make_store(vcsim, vmware_server_host=proxy.host,
                      vmware_server_port=proxy.port, **overrides)


def test_an_upload_in_progress_is_untouched_and_completes(vcsim, ds0, proxy):
    store = proxied_store(vcsim, proxy)
    held, release = threading.Event(), threading.Event()
    paths_seen = []

    def on_put(path):
        if '.img-held.' in path:
            paths_seen.append(path)
            held.set()
            release.wait(60)

    proxy.on_put = on_put
    data = payload(3 * MiB)
    result = {}

    def upload():
        try:
            result['uri'] = store.add('img-held', io.BytesIO(data),
                                      len(data), 'md5')[0]
        except Exception as e:
            result['error'] = e

    uploader = threading.Thread(target=upload)
    uploader.start()
    try:
        assert held.wait(30)
        # The upload's own name, aged: only "uploading now" protects it.
        temp = paths_seen[0].split('?')[0].rsplit('/', 1)[1]
        assert partials.image_of(temp) == 'img-held'
        in_progress = plant(ds0, '%s/%s' % (IMAGE_DIR, temp), OLD)
        control = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-x')), OLD)
        advance(store, INTERVAL)
        other = payload(MiB)
        store.add('img-other', io.BytesIO(other), len(other), 'md5')
        idle(store)
        left = files_under(ds0)
        assert control not in left          # the sweep did run
        assert in_progress in left
    finally:
        release.set()
        uploader.join(60)
    assert 'error' not in result, result
    chunks, _size = store.get(location(store, result['uri']))
    assert b''.join(chunks) == data
    assert files_under(ds0) == sorted(
        ['%s/img-held' % IMAGE_DIR, '%s/img-other' % IMAGE_DIR])


def test_an_unreachable_vcenter_fails_the_sweep_not_the_add(
        vcsim, ds0, proxy, caplog):
    caplog.set_level(logging.INFO)
    store = proxied_store(vcsim, proxy)
    data = payload(MiB)
    store.add('img-1', io.BytesIO(data), len(data), 'md5')
    idle(store)
    abandoned = plant(ds0, '%s/%s' % (IMAGE_DIR, part_name('img-0')), OLD)

    # Hold the next sweep until vCenter has gone away.
    gate = threading.Event()
    real_files = store._partials.files

    class Gated:
        def __getattr__(self, name):
            return getattr(real_files, name)

        def server_time(self):
            gate.wait(60)
            return real_files.server_time()

    store._partials.files = Gated()
    advance(store, INTERVAL)
    started = time.monotonic()
    store.add('img-2', io.BytesIO(data), len(data), 'md5')
    assert time.monotonic() - started < 10
    proxy.stop()
    gate.set()
    idle(store)
    assert abandoned in files_under(ds0)
    # (Sweepers of earlier tests' stores may log about their vCenters.)
    here = '127.0.0.1:%d' % proxy.port
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING
                and 'abandoned partial uploads' in r.getMessage()
                and here in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert 'trying again in %d s' % INTERVAL in warnings[0]

    # vCenter is back; the sweep is retried after the interval, with no
    # store call.
    proxy.start()
    store._partials.files = real_files
    advance(store, 2 * INTERVAL)
    idle(store)
    assert abandoned not in files_under(ds0)
    assert 'works again' in caplog.text


def test_a_failed_cleanup_is_eventually_reclaimed(vcsim, ds0, proxy,
                                                  monkeypatch, caplog):
    store = proxied_store(vcsim, proxy)
    real_delete = store.files.delete
    failures = []

    def delete(dsfile):
        if not failures:   # the upload's own cleanup: vCenter is down
            failures.append(dsfile)
            raise errors.Unreachable('cannot connect to vCenter')
        return real_delete(dsfile)

    monkeypatch.setattr(store.files, 'delete', delete)
    # The simulator stores the whole body; the answer is lost.
    data = payload(MiB)
    proxy.status_after = (len(data) + 1, 503)
    with pytest.raises(exceptions.BackendException):
        store.add('img-lost', io.BytesIO(data), len(data), 'md5')
    idle(store)
    [temp] = failures
    left = files_under(ds0)
    assert left == ['%s/%s' % (IMAGE_DIR, temp.name)]
    assert 'could not remove' in caplog.text.lower()

    set_age(os.path.join(ds0, left[0]), OLD)
    advance(store, MAX_AGE + INTERVAL)
    idle(store)
    assert files_under(ds0) == []


def test_list_directory_reports_files_sizes_and_modification_times(
        vcsim, ds0):
    from glance_store_vmware.vsphere import files
    from glance_store_vmware.vsphere import inventory
    from glance_store_vmware.vsphere import paths
    from glance_store_vmware.vsphere import session
    s = session.Session(vcsim.host, vcsim.username, vcsim.password,
                        port=vcsim.port, ca_file=vcsim.ca_file)
    dsfiles = files.DatastoreFiles(s, inventory.Inventory(s))
    plant(ds0, '%s/.a.part' % IMAGE_DIR, OLD, data=b'12345')
    plant(ds0, '%s/image' % IMAGE_DIR, 60, data=b'1')
    plant(ds0, '%s/sub/inside' % IMAGE_DIR, 0)
    directory = paths.DatastoreFile('DC0', 'LocalDS_0', IMAGE_DIR)
    now = dsfiles.server_time()
    found = {e.name: e for e in dsfiles.list_directory(directory)}
    assert sorted(found) == ['.a.part', 'image']   # no sub-directory
    assert found['.a.part'].size == 5 and found['image'].size == 1
    age = (now - found['.a.part'].modified).total_seconds()
    assert OLD - 5 < age < OLD + 5
    assert abs(time.time() - now.timestamp()) < 5
    with pytest.raises(errors.NotFound):
        dsfiles.list_directory(paths.DatastoreFile('DC0', 'LocalDS_0',
                                                   'missing'))
    s.close()
