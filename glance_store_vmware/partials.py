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

"""Reclaiming abandoned partial uploads (``.<image id>.<32 hex>.part``).

An upload streams to such a file next to the image and renames it into
place; the upload deletes it when it fails.  A glance-api killed between
the last byte and the rename, or a delete that failed because vCenter was
down, leaves it behind.  The store sweeps its image directories for them:

* Candidates are only files named exactly ``.<image id>.<32 hex>.part``
  directly in the image directory of a configured datastore; directories
  and every other name are never touched.
* A candidate is abandoned when the datastore's modification time is more
  than ``max_age`` seconds behind vCenter's clock (``CurrentTime``): an
  upload in progress keeps writing its file, and a stalled one is aborted
  after ``vmware_http_timeout``, which ``max_age`` must exceed.  Files this
  process is uploading right now are skipped whatever their age.
* Sweeps run on one background thread per store (started when needed),
  never in the user's request: store calls only ask for one (``request``),
  and each directory is swept at most once per ``interval``.  A sweep
  that saw younger candidates comes back when the oldest of them can have
  expired (but not before ``interval``); a sweep that failed comes back
  after ``interval``.  The thread ends when nothing is left to come back
  for.
"""

import dataclasses
import logging
import os
import re
import threading
import time
import uuid
import weakref

from glance_store_vmware.vsphere import errors

LOG = logging.getLogger(__name__)

# No separators, backslashes or control characters in the image id (the
# store refuses ids it cannot use as a file name, and ids starting with a
# dot); the random part is uuid4().hex.
_NAME_RE = re.compile(
    r'\A\.(?P<image_id>[^./\\\x00-\x1f\x7f][^/\\\x00-\x1f\x7f]*)'
    r'\.(?P<token>[0-9a-f]{32})\.part\Z')

# Slack added to a young candidate's remaining lifetime before its
# follow-up sweep, for the time the listing itself took.
_FOLLOW_UP_SLACK = 5.0

# Names of the temporary files this process is uploading right now, as
# (datacenter, datastore, path), shared by every store of the process
# (two backends may use the same directory).
_uploading = set()
_uploading_lock = threading.Lock()


def _forget_uploads_after_fork():
    # A forked child continues none of its parent's uploads, and a lock
    # another thread held at the fork would stay held.
    global _uploading_lock
    _uploading_lock = threading.Lock()
    _uploading.clear()


os.register_at_fork(after_in_child=_forget_uploads_after_fork)


def temp_name(image_id):
    """A fresh temporary file name for an upload of ``image_id``."""
    return '.%s.%s.part' % (image_id, uuid.uuid4().hex)


def image_of(name):
    """The image id of a partial file name, or None if ``name`` is not
    exactly ``.<image id>.<32 lower-case hex>.part``."""
    match = _NAME_RE.match(name)
    return match.group('image_id') if match else None


def _key(dsfile):
    return (dsfile.datacenter, dsfile.datastore, dsfile.path)


class uploading:
    """``with uploading(temp):`` marks ``temp`` as being written by this
    process, so no sweep of this process deletes it."""

    def __init__(self, dsfile):
        self._key = _key(dsfile)

    def __enter__(self):
        with _uploading_lock:
            _uploading.add(self._key)
        return self

    def __exit__(self, *exc_info):
        with _uploading_lock:
            _uploading.discard(self._key)


def is_uploading(dsfile):
    with _uploading_lock:
        return _key(dsfile) in _uploading


def judge(entries, now, max_age, *, image_id=None):
    """Split a directory listing into ``(abandoned, young)`` candidates.

    ``entries`` are ``DirectoryEntry`` objects of one directory, ``now``
    vCenter's current time.  Only names of the partial-file pattern count
    (and, with ``image_id``, only that image's); a file whose modification
    time is more than ``max_age`` seconds before ``now`` is abandoned.
    ``young`` pairs the other candidates with the seconds left until they
    would be abandoned.  Files without a modification time are neither.
    """
    abandoned, young = [], []
    for entry in entries:
        owner = image_of(entry.name)
        if owner is None or (image_id is not None and owner != image_id):
            continue
        if entry.modified is None:
            continue
        age = (now - entry.modified).total_seconds()
        if age > max_age:
            abandoned.append(entry)
        else:
            young.append((entry, max_age - age))
    return abandoned, young


@dataclasses.dataclass
class _Directory:
    next_at: float = 0.0      # monotonic time of the next allowed sweep
    wanted: bool = False      # sweep at next_at even without a request
    failing: bool = False     # the last sweep failed (logged already)


class Reclaimer:
    """Sweeps the image directories of one store for abandoned partials.

    ``files`` is a ``vsphere.files.DatastoreFiles``; ``label`` names the
    store in log messages.
    """

    def __init__(self, files, *, max_age, interval, label='vsphere store',
                 clock=time.monotonic):
        self.files = files
        self.max_age = max_age
        self.interval = interval
        self.label = label
        self._clock = clock
        self._cond = threading.Condition()
        self._dirs = {}         # DatastoreFile -> _Directory
        self._images = []       # [(DatastoreFile, image id)] to sweep now
        self._worker = None
        self._busy = False
        self._pid = os.getpid()
        me = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: me() and me()._forked())

    # Called by the store; never raises, never waits for vCenter. --------

    def request(self, directories, image=None):
        """Ask for a sweep of ``directories``: now for those not swept
        within the interval, else when it has passed.  With
        ``image=(directory, image_id)`` also for an immediate one of that
        image's partial files in that directory."""
        try:
            with self._cond:
                self._after_fork()
                for dsdir in directories:
                    # Due now, or when the interval since the last sweep
                    # has passed.
                    self._dirs.setdefault(dsdir, _Directory()).wanted = True
                if image is not None and image not in self._images:
                    self._images.append(image)
                if self._worker is None:
                    if not self._images and not any(
                            s.wanted for s in self._dirs.values()):
                        return
                    self._worker = threading.Thread(
                        target=self._run, name='vsphere-partials',
                        daemon=True)
                    self._worker.start()
                else:
                    self._cond.notify_all()
        except Exception:
            LOG.exception('%s: cannot schedule a sweep for abandoned '
                          'partial uploads', self.label)

    def wait_idle(self, timeout):
        """Wait until no sweep is due now (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._ready(self._clock()) or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    # The worker. --------------------------------------------------------

    def _forked(self):
        # A forked child (e.g. a uwsgi worker of a master that configured
        # the store) has the parent's state but not its thread, and maybe
        # a lock that thread held.
        self._cond = threading.Condition()
        self._pid = os.getpid()
        self._worker = None
        self._busy = False

    def _after_fork(self):
        if self._pid != os.getpid():   # forked without the at-fork hook
            self._pid = os.getpid()
            self._worker = None
            self._busy = False

    def _ready(self, now):
        return bool(self._images) or any(
            s.wanted and s.next_at <= now for s in self._dirs.values())

    def _run(self):
        try:
            self._loop()
        finally:
            with self._cond:
                if self._worker is threading.current_thread():
                    self._worker = None
                self._busy = False
                self._cond.notify_all()

    def _loop(self):
        while True:
            with self._cond:
                now = self._clock()
                images, self._images = self._images, []
                due = [d for d, s in self._dirs.items()
                       if s.wanted and s.next_at <= now]
                if not images and not due:
                    waits = [s.next_at for s in self._dirs.values()
                             if s.wanted]
                    if not waits:
                        return
                    self._cond.wait(max(0.0, min(waits) - now))
                    continue
                for dsdir in due:
                    self._dirs[dsdir].wanted = False
                self._busy = True
            jobs = images + [(dsdir, None) for dsdir in due]
            for dsdir, image_id in jobs:
                try:
                    self._sweep(dsdir, image_id)
                except Exception as e:   # a bug; the thread must go on
                    with self._cond:
                        state = self._dirs.setdefault(dsdir, _Directory())
                    self._failed(dsdir, state, image_id, e)
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _sweep(self, dsdir, image_id=None):
        """Sweep one directory (only ``image_id``'s partials if given)."""
        with self._cond:
            state = self._dirs.setdefault(dsdir, _Directory())
        try:
            # vCenter's time first: a file written during the listing then
            # looks younger, never older, than it is.
            now = self.files.server_time()
            entries = self.files.list_directory(dsdir)
        except errors.NotFound:
            entries, now = [], None   # no image directory yet: nothing to do
        except Exception as e:
            self._failed(dsdir, state, image_id, e)
            return
        abandoned, young = ([], []) if now is None else judge(
            entries, now, self.max_age, image_id=image_id)
        retry = False
        reclaimed = 0
        for entry in abandoned:
            dsfile = dsdir.child(entry.name)
            if is_uploading(dsfile):
                continue
            try:
                self.files.delete(dsfile)
            except errors.NotFound:
                continue      # someone else reclaimed or renamed it
            except Exception as e:
                LOG.warning('%s: could not remove abandoned partial upload '
                            '%s; trying again in %d s: %s', self.label,
                            dsfile, self.interval, e)
                retry = True
                continue
            reclaimed += 1
            LOG.info('%s: removed abandoned partial upload %s (%s bytes, '
                     'last written %s, %d s ago by vCenter\'s clock)',
                     self.label, dsfile, entry.size,
                     entry.modified.isoformat(),
                     (now - entry.modified).total_seconds())
        with self._cond:
            if state.failing:
                state.failing = False
                LOG.info('%s: sweeping %s for abandoned partial uploads '
                         'works again', self.label, dsdir)
            if image_id is not None:
                # Only one image's files: the directory's schedule stays.
                return
            mono = self._clock()
            state.next_at = mono + self.interval
            if young:
                # A file dated in the future (clock skew) must not push
                # the next sweep further out than max_age.
                soonest = min(min(left for _entry, left in young),
                              self.max_age)
                state.next_at = max(state.next_at,
                                    mono + soonest + _FOLLOW_UP_SLACK)
            # (A request that came during the sweep already set wanted.)
            state.wanted = state.wanted or bool(young) or retry
        LOG.debug('%s: swept %s: %d removed, %d younger than %d s',
                  self.label, dsdir, reclaimed, len(young), self.max_age)

    def _failed(self, dsdir, state, image_id, exc):
        with self._cond:
            if image_id is None:
                state.next_at = self._clock() + self.interval
            # Also an image's sweep that failed leaves the directory to
            # its next regular sweep.
            state.wanted = True
            first = not state.failing
            state.failing = True
        if first:
            LOG.warning('%s: cannot sweep %s for abandoned partial uploads '
                        '(trying again in %d s; not logged again until it '
                        'works): %s', self.label, dsdir, self.interval, exc)
        else:
            LOG.debug('%s: sweeping %s failed again: %s', self.label, dsdir,
                      exc)
