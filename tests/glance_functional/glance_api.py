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

"""A real glance-api with the ``vsphere`` store, for tests and the demo.

    with harness.Simulator(build.build(), ca) as sim:
        with GlanceAPI() as api:
            api.start(sim)                  # etc/glance-api.conf
            glance = api.client()           # glanceclient, member token
            ...

``start`` renders the operator's configuration file from ``etc/`` with the
simulator's address, credentials and CA, a sqlite database and local
staging directories, and the test authentication pipeline
(``tests/glance_functional/auth.py``), then runs ``glance.wsgi.api`` under
uwsgi and waits until it answers.  ``stop`` ends every process it started
and removes its scratch directory.

Needs glance, python-glanceclient and uwsgi installed next to the running
Python (the ``.tox/glance-functional`` virtualenv) and the repository root
on ``sys.path`` (``tests`` is not installed); glance-api gets it through
uwsgi's ``pythonpath``.  Images go to LocalDS_0 unless ``start`` is told
otherwise; ``api.sim.datastore_dir(name)`` is the local directory behind a
datastore, ``image.direct_url`` the location Glance recorded.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests

from tests.glance_functional import auth
from tests.helpers import free_port
from tests.ini_files import edit_ini  # noqa: F401 (part of this API)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SINGLE_STORE_CONF = os.path.join(REPO_ROOT, 'etc', 'glance-api.conf')
MULTI_STORE_CONF = os.path.join(REPO_ROOT, 'etc',
                                'glance-api-multistore.conf')
TWO_VCENTERS_CONF = os.path.join(REPO_ROOT, 'etc',
                                 'glance-api-two-vcenters.conf')
PASTE_INI = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         'glance-api-paste.ini')

MEMBER = ('demo', 'demo-project', ('member', 'reader'))
ADMIN = ('admin', 'admin-project', ('admin', 'member', 'reader'))
SERVICE = ('nova', 'service', ('service',))


class GlanceAPIError(RuntimeError):
    pass


def _program(name):
    """``name`` installed next to the running Python, else on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    found = here if os.access(here, os.X_OK) else shutil.which(name)
    if not found:
        raise GlanceAPIError('%s is not installed (run the tests with tox '
                             '-e glance-functional)' % name)
    return found


def _backend_site(sim, backend):
    """``(simulator, datastores)`` of a ``backends`` entry."""
    if isinstance(backend, tuple):
        return backend
    return sim, backend


def _die_with_parent():
    from tests.vcsim import harness
    harness._die_with_parent()


class GlanceAPI:
    """One glance-api under uwsgi, in its own scratch directory.

    ``workdir``: where configuration, database, staging, logs live; a new
    temporary directory (removed by ``stop``) when not given.
    ``processes`` / ``threads``: uwsgi workers and threads per worker.
    ``documented_defaults``: also keep the configuration file's free space
    reserve, so that every store option is as an operator would run it.
    """

    START_TIMEOUT = 180.0
    STOP_TIMEOUT = 20.0

    def __init__(self, workdir=None, *, processes=1, threads=8,
                 host='127.0.0.1', debug=False, documented_defaults=False):
        self.documented_defaults = documented_defaults
        self._own_workdir = workdir is None
        self.workdir = os.fspath(workdir) if workdir else None
        self.processes = processes
        self.threads = threads
        self.host = host
        self.debug = debug
        self.port = None
        self.endpoint = None
        self.conf_source = None
        self.backends = None
        self.sim = None
        self.start_seconds = None
        self._proc = None
        self._pgid = None

    # Paths ---------------------------------------------------------------

    def _path(self, *parts):
        return os.path.join(self.workdir, *parts)

    @property
    def config_dir(self):
        return self._path('etc')

    @property
    def conf_file(self):
        """The rendered glance-api.conf that glance-api reads."""
        return self._path('etc', 'glance-api.conf')

    @property
    def log_file(self):
        return self._path('glance-api.log')

    @property
    def staging_dir(self):
        return self._path('staging')

    @property
    def tasks_dir(self):
        return self._path('tasks')

    # Configuration -------------------------------------------------------

    @staticmethod
    def store_options(sim, datastores):
        """The ``vmware_*`` options that point a store at ``sim``."""
        dc = sim.datacenter()['name']
        return {
            'vmware_server_host': sim.host,
            'vmware_server_port': sim.port,
            'vmware_server_username': sim.username,
            'vmware_server_password': sim.password,
            'vmware_ca_file': sim.ca_file,
            'vmware_datastores': [
                d if ':' in d else '%s:%s:0' % (dc, d) for d in datastores],
        }

    def render_config(self, sim, datastores=None, backends=None,
                      source=None, **store_overrides):
        """Write the configuration; returns the glance-api.conf text."""
        if backends:
            source = source or MULTI_STORE_CONF
            stores = {name: self.store_options(*_backend_site(sim, ds))
                      for name, ds in backends.items()}
            site = dict(stores)
            site['os_glance_staging_store'] = {
                'filesystem_store_datadir': self.staging_dir}
            site['os_glance_tasks_store'] = {
                'filesystem_store_datadir': self.tasks_dir}
        else:
            source = source or SINGLE_STORE_CONF
            stores = {'glance_store': self.store_options(
                sim, datastores or ['LocalDS_0'])}
            site = dict(stores)
            site['DEFAULT'] = {'node_staging_uri': 'file://' +
                               self.staging_dir}
        # Waiting for the database lock: see sqlite_immediate.
        site['database'] = {'connection': 'sqlite:///%s?timeout=120'
                            % self._path('glance.sqlite')}
        site['paste_deploy'] = {'flavor': 'testauth'}
        with open(source) as f:
            text = f.read()
        # Site values replace documented ones: the file must have them.
        text = edit_ini(text, site, must_exist=True)
        extra = {
            'DEFAULT': {'log_file': self.log_file, 'use_stderr': False,
                        'debug': self.debug},
            'paste_deploy': {'config_file': self._path(
                'etc', 'glance-api-paste.ini')},
        }
        for name in stores:
            if self.documented_defaults:
                extra[name] = dict(store_overrides)
                continue
            # The documented retry and timeout defaults; no reserve, the
            # simulator's datastores are small.
            extra[name] = dict(vmware_free_space_reserve_mb=0)
            extra[name].update(store_overrides)
        text = edit_ini(text, extra)
        for d in (self.config_dir, self.staging_dir, self.tasks_dir):
            os.makedirs(d, exist_ok=True)
        with open(self.conf_file, 'w') as f:
            f.write(text)
        shutil.copy(PASTE_INI, self._path('etc', 'glance-api-paste.ini'))
        self.conf_source = source
        return text

    def _uwsgi_ini(self):
        # Settings Glance's own uwsgi configuration (devstack) uses, plus a
        # chunked-input limit above glanceclient's 1 MiB chunks.
        return '\n'.join([
            '[uwsgi]',
            'http-socket = %s:%d' % (self.host, self.port),
            'import = tests.glance_functional.sqlite_immediate',
            'module = glance.wsgi.api:application',
            'home = %s' % sys.prefix,
            'pythonpath = %s' % REPO_ROOT,
            'master = true',
            'processes = %d' % self.processes,
            'threads = %d' % self.threads,
            'enable-threads = true',
            'lazy-apps = true',
            'need-app = true',
            'die-on-term = true',
            'exit-on-reload = true',
            'http-auto-chunked = true',
            'http-chunked-input = true',
            'http-raw-body = true',
            'chunked-input-limit = %d' % (4 * 1024 * 1024),
            'buffer-size = 65535',
            'socket-timeout = 60',
            'add-header = Connection: close',
            'reload-mercy = 10',
            'worker-reload-mercy = 10',
            'disable-logging = true',
            '',
        ])

    # Life cycle ----------------------------------------------------------

    def start(self, sim, datastores=None, backends=None, source=None,
              **store_overrides):
        """Start glance-api against ``sim``; returns its endpoint URL.

        ``datastores``: names on the simulator's first datacenter (or full
        ``dc:name:weight`` entries) for the single store of
        ``etc/glance-api.conf``; default ``['LocalDS_0']``.
        ``backends``: ``{backend id: datastores}`` for the stores of
        ``etc/glance-api-multistore.conf`` instead; a backend on another
        simulator than ``sim`` as ``(simulator, datastores)``.
        ``source``: another documented file of ``etc/`` with the same
        sections (``TWO_VCENTERS_CONF``).
        ``store_overrides``: other ``vmware_*`` options for every store.
        """
        if self._proc is not None:
            raise GlanceAPIError('glance-api already started')
        started = time.monotonic()
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix='gsv-glance-api-')
        os.makedirs(self.workdir, exist_ok=True)
        self.backends = sorted(backends) if backends else None
        self.sim = sim
        try:
            self.render_config(sim, datastores, backends, source,
                               **store_overrides)
            self._db_sync()
            self.port = free_port(self.host)
            with open(self._path('uwsgi.ini'), 'w') as f:
                f.write(self._uwsgi_ini())
            env = dict(os.environ, OS_GLANCE_CONFIG_DIR=self.config_dir)
            with open(self._path('uwsgi.out'), 'wb') as out:
                self._proc = subprocess.Popen(
                    [_program('uwsgi'), '--ini', self._path('uwsgi.ini')],
                    stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
                    start_new_session=True, preexec_fn=_die_with_parent)
            self._pgid = self._proc.pid
            self.endpoint = 'http://%s:%d' % (self.host, self.port)
            self._wait_ready()
        except BaseException:
            self.stop(remove_workdir=False)
            raise
        self.start_seconds = time.monotonic() - started
        return self.endpoint

    def _db_sync(self):
        result = subprocess.run(
            [_program('glance-manage'), '--config-file', self.conf_file,
             'db_sync'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.workdir, timeout=300)
        if result.returncode:
            raise GlanceAPIError('glance-manage db_sync failed:\n%s'
                                 % result.stdout.decode('utf-8', 'replace'))

    def _wait_ready(self):
        deadline = time.monotonic() + self.START_TIMEOUT
        url = self.endpoint + '/healthcheck'
        while True:
            if self._proc.poll() is not None:
                raise GlanceAPIError(
                    'glance-api exited with status %s while starting\n%s'
                    % (self._proc.returncode, self.log_tail()))
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise GlanceAPIError('glance-api did not answer within %.0f s'
                                     '\n%s' % (self.START_TIMEOUT,
                                               self.log_tail()))
            time.sleep(0.2)

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    def worker_pids(self):
        """The uwsgi workers (every process of the group but the
        master)."""
        return sorted(p for p in self.leftover_processes()
                      if p != self.pid)

    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def stop(self, remove_workdir=True):
        """Stop uwsgi and its workers; remove the scratch directory if this
        object created it.  Safe to call more than once."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(self.STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            # Workers are in the master's process group; none may outlive
            # it, whatever state the master ended in.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            deadline = time.monotonic() + 10
            while self.leftover_processes() and time.monotonic() < deadline:
                time.sleep(0.1)
        if remove_workdir and self._own_workdir and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def leftover_processes(self):
        """Live processes of this glance-api's process group (uwsgi
        master and workers); empty after ``stop``."""
        if self._pgid is None:
            return []
        found = []
        for stat in os.listdir('/proc'):
            if not stat.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % stat) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except (OSError, IndexError):
                continue
            # fields: state, ppid, pgrp, ...; zombies are only unreaped.
            if fields[0] != 'Z' and int(fields[2]) == self._pgid:
                found.append(int(stat))
        return found

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def log_tail(self, lines=60):
        text = []
        for name in ('uwsgi.out', 'glance-api.log'):
            try:
                with open(self._path(name), 'rb') as f:
                    content = f.read().decode('utf-8', 'replace')
            except (OSError, TypeError):
                continue
            text.append('--- %s (tail) ---' % name)
            text.extend(content.splitlines()[-lines:])
        return '\n'.join(text)

    # Clients -------------------------------------------------------------

    @staticmethod
    def token(user, project, roles):
        """A token the test authentication filter accepts."""
        return auth.make_token(user, project, roles)

    @property
    def member_token(self):
        """A member (and reader) of project ``demo-project``."""
        return self.token(*MEMBER)

    @property
    def admin_token(self):
        return self.token(*ADMIN)

    @property
    def service_token(self):
        """A service user (role ``service``), as Nova calls Glance."""
        return self.token(*SERVICE)

    def client(self, token=None):
        """A glanceclient v2 client; a member's by default."""
        from glanceclient import client as gclient
        return gclient.Client('2', endpoint=self.endpoint,
                              token=token or self.member_token)
