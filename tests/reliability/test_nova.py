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

"""The real Nova 34 VMware driver through our compute driver, with
Nova's default ``[vmware]`` retry count and poll interval: a spawn after
vCenter ended the session recovers; a spawn whose in-vSphere copy gets no
answer falls back or fails in bounded time, never hangs."""

import io
import threading
import time
import uuid

import pytest

from tests import helpers
from tests.functional import glance_setup
from tests.reliability import conftest
from tests.reliability import net
from tests.reliability.conftest import figure
from tests.reliability.test_glance_recovery import _end_sessions

nova = pytest.importorskip('nova', reason='tox -e reliability installs it')

MiB = 1024 * 1024
FLAT = {'disk_format': 'vmdk', 'container_format': 'bare',
        'properties': {'vmware_disktype': 'preallocated'}}
COPY_BOUND = 60.0    # seconds for a spawn whose copy call never returns
# Seconds a re-login may add to a spawn: 5, plus the 10 s that Nova's own
# oslo.vmware session sleeps (RetryDecorator's inc_sleep_time) after it
# re-created a session, before it retries the call; that sleep is Nova's,
# whose session our handler shares, and not ours to remove.
NOVA_RETRY_SLEEP = 10.0
RELOGIN = 5.0 + NOVA_RETRY_SLEEP


@pytest.fixture(scope='module')
def nova_stack(vcsim_build, test_ca, tmp_path_factory):  # noqa: F811
    from tests.nova_functional import nova_env
    port = helpers.free_port()
    nova_env.configure(port, test_ca.ca_file,
                       str(tmp_path_factory.mktemp('nova-locks')),
                       documented_defaults=True)
    from glance_store_vmware.nova import shim
    shim.install()
    from nova.virt.vmwareapi import ds_util
    from nova.virt.vmwareapi import images
    from nova.virt.vmwareapi import vm_util
    ds_util._DS_DC_MAPPING.clear()
    vm_util._FOLDER_PATH_REF_MAPPING.clear()
    vm_util._VM_REFS_CACHE.clear()
    sim = conftest.start_simulator(
        vcsim_build, test_ca, tmp_path_factory, username=nova_env.SIM_USER,
        password=nova_env.SIM_PASSWORD, host_name='127.0.0.1')
    gate = net.Gate((sim.host, sim.port), port=port).start()
    glance = nova_env.FakeGlance()
    patch = pytest.MonkeyPatch()
    patch.setattr(images, 'IMAGE_API', glance)
    try:
        yield sim, gate, glance, nova_env
    finally:
        patch.undo()
        gate.stop()
        sim.stop()


def _image(sim, gate, glance, size):
    data = helpers.payload(size, uuid.uuid4().bytes)
    image_id = str(uuid.uuid4())
    view = conftest.SimView(sim, gate)
    _conf, store = glance_setup.single_store(
        view, glance_setup.datastore_entries(view, 'LocalDS_0'))
    uri = store.add(image_id, io.BytesIO(data), len(data), 'sha256')[0]
    glance.add(image_id, data, locations=[uri])
    return image_id, data


def _spawn(nova_env, driver, image_id, data):
    started = time.monotonic()
    nova_env.spawn(driver, image_id, dict(FLAT, size=len(data)))
    return time.monotonic() - started


@pytest.mark.timeout(300)
def test_spawn_after_vcenter_ended_the_session(nova_stack):
    sim, gate, glance, nova_env = nova_stack
    driver = nova_env.compute_driver()
    first, data1 = _image(sim, gate, glance, MiB)
    normal = _spawn(nova_env, driver, first, data1)
    served = glance.bytes_served
    second, data2 = _image(sim, gate, glance, MiB)
    ended = _end_sessions(sim)
    error = None
    try:
        seconds = _spawn(nova_env, driver, second, data2)
    except Exception as e:
        seconds, error = None, '%s: %s' % (type(e).__name__, e)
    copied = glance.bytes_served == served
    figure('--- Nova: spawn after vCenter ended %d session(s) ---' % ended)
    figure('spawn before: %.1f s; spawn after: %s; image copied inside '
           'vSphere (no Glance download): %s' % (
               normal, '%.1f s' % seconds if error is None else
               'FAILED ' + error[:300], copied))
    assert error is None, error
    assert seconds <= normal + RELOGIN, 'the spawn after the session ' \
        'ended took %.1f s (%.1f s before; a re-login may add %.0f s)' % (
            seconds, normal, RELOGIN)
    assert copied, 'the copy inside vSphere did not recover; Nova fell ' \
        'back to downloading from Glance'


@pytest.mark.timeout(300)
def test_spawn_while_the_copy_gets_no_answer(nova_stack):
    sim, gate, glance, nova_env = nova_stack
    driver = nova_env.compute_driver()
    image_id, data = _image(sim, gate, glance, MiB)
    outcome = {}
    with net.HoldProxy(sim.host, sim.port, sim.ca) as hold:
        hold.hold = b'CopyDatastoreFile_Task'
        gate.set_mode('forward', upstream=(hold.host, hold.port))

        def spawn():
            try:
                outcome['seconds'] = _spawn(nova_env, driver, image_id, data)
            except Exception as e:
                outcome['error'] = '%s: %s' % (type(e).__name__, e)

        served = glance.bytes_served
        started = time.monotonic()
        spawning = threading.Thread(target=spawn, daemon=True)
        spawning.start()
        spawning.join(COPY_BOUND)
        hung = spawning.is_alive()
        waited = time.monotonic() - started
        held = hold.held.is_set()
        # Back to vCenter directly (cutting the held connection), so that
        # a spawn still waiting ends.
        gate.set_mode('forward', upstream=(sim.host, sim.port))
        hold.release(drop=True)
        spawning.join(60)
    figure('--- Nova: spawn while vCenter never answers the '
           'CopyDatastoreFile_Task call ---')
    figure('copy call reached vCenter: %s; after %.1f s (bound %.0f s): '
           '%s; fell back to Glance download: %s' % (
               held, waited, COPY_BOUND,
               'STILL WAITING' if hung else
               ('spawned in %.1f s' % outcome['seconds']
                if 'seconds' in outcome else 'failed: %s'
                % outcome.get('error', '?')[:300]),
               glance.bytes_served > served))
    assert held, 'the spawn never tried the copy'
    assert not hung, 'the spawn hung on a copy call vCenter never ' \
        'answered (still waiting after %.0f s)' % COPY_BOUND
