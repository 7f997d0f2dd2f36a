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

"""Glance's image API over plain HTTP, every call timed and bounded, and
the resource figures of glance-api's uwsgi workers."""

import dataclasses
import math
import os
import time
import uuid

import requests

NO_ANSWER = 'no answer'


@dataclasses.dataclass
class Result:
    what: str
    status: object          # HTTP status, or NO_ANSWER / an error name
    seconds: float
    body: str = ''
    data: bytes = b''

    @property
    def ok(self):
        return isinstance(self.status, int) and 200 <= self.status < 300

    def __str__(self):
        return '%s: %s in %.2f s%s' % (
            self.what, self.status, self.seconds,
            (' %r' % self.body[:160]) if self.body and not self.ok else '')


class Client:
    """Requests to one glance-api as a member of ``demo-project``."""

    def __init__(self, api, token=None):
        self.api = api
        self.token = token or api.member_token

    def _call(self, what, method, path, timeout, **kw):
        headers = kw.pop('headers', {})
        headers['X-Auth-Token'] = self.token
        started = time.monotonic()
        try:
            resp = requests.request(method, self.api.endpoint + path,
                                    headers=headers, timeout=timeout, **kw)
            data = resp.content
        except requests.Timeout:
            return Result(what, NO_ANSWER, time.monotonic() - started)
        except requests.RequestException as e:
            return Result(what, type(e).__name__, time.monotonic() - started,
                          str(e))
        body = '' if resp.ok and method == 'GET' and path.endswith('/file') \
            else data.decode('utf-8', 'replace')
        return Result(what, resp.status_code, time.monotonic() - started,
                      ' '.join(body.split()), data)

    def healthy(self):
        try:
            return requests.get(self.api.endpoint + '/healthcheck',
                                timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def create(self, timeout=30):
        name = 'rel-' + uuid.uuid4().hex[:8]
        r = self._call('create', 'POST', '/v2/images', timeout, json={
            'name': name, 'disk_format': 'raw', 'container_format': 'bare'})
        if not r.ok:
            raise AssertionError('image create failed: %s' % r)
        import json
        return json.loads(r.body)['id']

    def upload(self, image_id, data, timeout=30):
        return self._call('upload', 'PUT', '/v2/images/%s/file' % image_id,
                          timeout, data=data, headers={
                              'Content-Type': 'application/octet-stream'})

    def download(self, image_id, timeout=30):
        return self._call('download', 'GET', '/v2/images/%s/file' % image_id,
                          timeout)

    def delete(self, image_id, timeout=30):
        return self._call('delete', 'DELETE', '/v2/images/%s' % image_id,
                          timeout)

    def show(self, image_id, timeout=30):
        return self._call('show', 'GET', '/v2/images/%s' % image_id, timeout)

    def list(self, timeout=30):
        return self._call('list', 'GET', '/v2/images?limit=20', timeout)

    def new_image(self, data, timeout=30):
        """Create and upload; returns the id (raises if it fails)."""
        image_id = self.create()
        r = self.upload(image_id, data, timeout)
        if not r.ok:
            self.delete(image_id)
            raise AssertionError('upload failed: %s' % r)
        return image_id


def percentile(values, p):
    if not values:
        return float('nan')
    values = sorted(values)
    k = max(0, math.ceil(p / 100.0 * len(values)) - 1)
    return values[k]


# Resource figures of processes ------------------------------------------

def _tcp_inodes(pid):
    inodes = set()
    for name in ('tcp', 'tcp6'):
        try:
            with open('/proc/%d/net/%s' % (pid, name)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) > 9:
                        inodes.add(fields[9])
        except (OSError, StopIteration):
            pass
    return inodes


def process_figures(pid):
    """``dict(threads, rss_mib, fds, tcp)`` of a live process, or None."""
    try:
        threads = len(os.listdir('/proc/%d/task' % pid))
        with open('/proc/%d/status' % pid) as f:
            rss = next(int(line.split()[1]) for line in f
                       if line.startswith('VmRSS:'))
        fds = os.listdir('/proc/%d/fd' % pid)
    except (OSError, StopIteration):
        return None
    tcp = _tcp_inodes(pid)
    sockets = 0
    for fd in fds:
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:[') and target[8:-1] in tcp:
            sockets += 1
    return dict(threads=threads, rss_mib=rss / 1024.0, fds=len(fds),
                tcp=sockets)


def worker_figures(api):
    """``{pid: figures}`` of every uwsgi worker of ``api``."""
    found = {}
    for pid in api.worker_pids():
        figures = process_figures(pid)
        if figures is not None:
            found[pid] = figures
    return found


def thread_counts(api):
    return {pid: f['threads'] for pid, f in worker_figures(api).items()}
