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

"""Checksums computed on worker threads while the data is being sent.

hashlib releases the GIL for large buffers, so md5, the multihash and the
signature verifier each get a thread of their own and run beside the
network I/O.  Queues are bounded: memory stays a few chunks, whatever the
image size.
"""

import queue
import threading

_STOP = object()


class _Worker(threading.Thread):
    def __init__(self, update, depth):
        super().__init__(daemon=True)
        self._update = update
        self.queue = queue.Queue(maxsize=depth)
        self.error = None

    def run(self):
        while True:
            chunk = self.queue.get()
            if chunk is _STOP:
                return
            if self.error is None:
                try:
                    self._update(chunk)
                except Exception as e:  # reported by ParallelDigest.finish
                    self.error = e


class ParallelDigest:
    """Feeds every chunk to several ``update`` callables, in order."""

    def __init__(self, updates, depth=4):
        self._workers = [_Worker(u, depth) for u in updates]
        for worker in self._workers:
            worker.start()
        self._finished = False

    def update(self, chunk):
        for worker in self._workers:
            worker.queue.put(chunk)

    def finish(self):
        """Wait for all updates; re-raise the first worker error."""
        self._stop()
        for worker in self._workers:
            if worker.error is not None:
                raise worker.error

    def abort(self):
        self._stop()

    def _stop(self):
        if self._finished:
            return
        self._finished = True
        for worker in self._workers:
            worker.queue.put(_STOP)
        for worker in self._workers:
            worker.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()
