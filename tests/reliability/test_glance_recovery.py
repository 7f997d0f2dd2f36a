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

"""glance-api recovers from vCenter restarts and ended sessions without a
restart of its own: at most one failed request, then uploads and
downloads work, at their usual speed."""

import threading
import time

import pytest

from tests import helpers
from tests.reliability import glance_http
from tests.reliability.conftest import figure

DATA = helpers.payload(256 * 1024, b'recovery')
TIMEOUT = 30.0
FAST = 5.0     # seconds: a small upload or download once recovered


def _cycle(http, image_id=None):
    """Upload a new image and download it (and ``image_id``, an older one)
    once; returns the results."""
    new_id = http.create()
    results = [http.upload(new_id, DATA, TIMEOUT)]
    if results[0].ok:
        results.append(http.download(new_id, TIMEOUT))
    if image_id:
        results.append(http.download(image_id, TIMEOUT))
    return new_id, results


def _tries(http, old_id, attempts=4):
    """Cycles until one fully works; returns (failed results, all)."""
    failed, seen, made = [], [], []
    for _ in range(attempts):
        new_id, results = _cycle(http, old_id)
        made.append(new_id)
        seen.extend(results)
        bad = [r for r in results if not r.ok
               or (r.what == 'download' and r.data != DATA)]
        if not bad:
            break
        failed.extend(bad)
    for image_id in made:
        http.delete(image_id, TIMEOUT)
    return failed, seen


def _judge(label, failed, seen):
    figure('%s: %d failed request(s): %s' % (label, len(failed),
                                            [str(r) for r in failed]))
    figure('%s: requests: %s' % (label, ', '.join(
        '%s %s %.2f s' % (r.what, r.status, r.seconds) for r in seen)))
    problems = []
    if len(failed) > 1:
        problems.append('%d failed requests (at most 1 allowed)'
                        % len(failed))
    ok = [r for r in seen if r.ok]
    if not ok or not seen[-1].ok:
        problems.append('uploads/downloads never worked again')
    slow = [r for r in ok if r.seconds > FAST]
    if slow:
        problems.append('successful requests took up to %.1f s (bound '
                        '%.0f s): %s' % (max(r.seconds for r in slow), FAST,
                                         [str(r) for r in slow]))
    return problems


@pytest.mark.timeout(240)
def test_vcenter_restart(healthy_stack):
    stack = healthy_stack
    http = stack.http
    old_id = http.new_image(DATA)
    before = stack.sim.managed_object_ids()
    stack.sim.restart(kill=True)
    after = stack.sim.managed_object_ids()
    figure('--- vCenter restart (SIGKILL, same port, datastore files '
           'kept) ---')
    figure('datastore managed object ids before %s, after %s' % (
        sorted(v.rsplit('/', 1)[-1] for v in before.values()),
        sorted(v.rsplit('/', 1)[-1] for v in after.values())))
    assert before != after, 'restart kept the managed object ids; the ' \
        'test would not exercise stale inventory'
    failed, seen = _tries(http, old_id)
    http.delete(old_id, TIMEOUT)
    problems = _judge('restart', failed, seen)
    assert not problems, '\n'.join(problems)


def _end_sessions(sim):
    """Terminate every vCenter session but our own (an idle expiry or
    an administrator's doing); returns how many."""
    from oslo_vmware import vim_util
    session = sim.session()
    try:
        manager = session.vim.service_content.sessionManager
        sessions = session.invoke_api(vim_util, 'get_object_property',
                                      session.vim, manager, 'sessionList')
        current = session.invoke_api(vim_util, 'get_object_property',
                                     session.vim, manager, 'currentSession')
        keys = [s.key for s in getattr(sessions, 'UserSession', sessions)
                if s.key != current.key]
        if keys:
            session.invoke_api(session.vim, 'TerminateSession', manager,
                               sessionId=keys)
        return len(keys)
    finally:
        session.logout()


@pytest.mark.timeout(240)
def test_session_ended_behind_the_stores_back(healthy_stack):
    stack = healthy_stack
    http = stack.http
    old_id = http.new_image(DATA)
    # Every worker logged in: spread some downloads over them.
    for _ in range(8):
        http.download(old_id, TIMEOUT)
    ended = _end_sessions(stack.sim)
    figure('--- vCenter session ended behind the store\'s back ---')
    figure('terminated %d vCenter session(s)' % ended)
    assert ended, 'no store session to end'
    failed, seen = _tries(http, old_id)
    # The other workers' sessions ended too: each must re-login quickly.
    more = [http.download(old_id, TIMEOUT) for _ in range(8)]
    seen.extend(more)
    failed.extend(r for r in more if not r.ok)
    http.delete(old_id, TIMEOUT)
    problems = _judge('session ended', failed, seen)
    assert not problems, '\n'.join(problems)


@pytest.mark.timeout(300)
def test_load_during_vcenter_restart(healthy_stack):
    """Several clients cycle upload/download/delete while vCenter
    restarts: failures only while it is down or just after (each a 503),
    no hang, everything works afterwards."""
    stack = healthy_stack
    http = stack.http
    clients, seconds, restart_at, down_for = 6, 24.0, 6.0, 3.0
    results = {c: [] for c in range(clients)}
    stop = time.monotonic() + seconds

    def client(c):
        while time.monotonic() < stop:
            if results[c] and not results[c][-1][1].ok:
                time.sleep(0.5)   # a client's pause before it retries
            image_id = http.create()
            r = http.upload(image_id, DATA, TIMEOUT)
            results[c].append((time.monotonic(), r))
            if r.ok:
                d = http.download(image_id, TIMEOUT)
                ok = d.ok and d.data == DATA
                results[c].append((time.monotonic(), d if ok else
                                   glance_http.Result(
                                       'download', 'corrupt' if d.ok
                                       else d.status, d.seconds, d.body)))
            results[c].append((time.monotonic(),
                               http.delete(image_id, TIMEOUT)))

    threads = [threading.Thread(target=client, args=(c,), daemon=True)
               for c in range(clients)]
    for t in threads:
        t.start()
    time.sleep(restart_at)
    stack.sim.halt(kill=True)
    stack.gate.set_mode('refuse')
    restarted = time.monotonic()
    time.sleep(down_for)
    stack.vcenter_up()
    back = time.monotonic()
    for t in threads:
        t.join(seconds + 3 * TIMEOUT)
    hung = sum(t.is_alive() for t in threads)

    flat = [r for rs in results.values() for _, r in rs]
    failed = [r for r in flat if not r.ok]
    late = [r for rs in results.values() for t, r in rs
            if t > back + 2 * FAST and not r.ok]
    last_ok = all(rs and rs[-1][1].ok for rs in results.values())
    longest = max((r.seconds for r in flat), default=0)
    figure('--- %d clients cycling while vCenter restarts (%.0f s down) '
           '---' % (clients, back - restarted))
    figure('requests %d, failed %d (%s), failed more than %.0f s after '
           'vCenter was back %d, longest request %.1f s, hung clients %d, '
           'every client\'s last request worked: %s' % (
               len(flat), len(failed),
               sorted({'%s %s' % (r.what, r.status) for r in failed}),
               2 * FAST, len(late), longest, hung, last_ok))
    problems = []
    if hung:
        problems.append('%d clients hung' % hung)
    if longest > 15.0:
        problems.append('a request took %.1f s (bound 15 s)' % longest)
    not_503 = [r for r in failed if r.status != 503]
    if not_503:
        problems.append('%d failures were not a 503: %s' % (
            len(not_503), sorted({'%s %s' % (r.what, r.status)
                                  for r in not_503})))
    if late:
        problems.append('%d failures after recovery: %s'
                        % (len(late), [str(r) for r in late[:3]]))
    if not last_ok:
        problems.append('not every client worked at the end')
    assert not problems, '\n'.join(problems)
