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

"""Run the vCenter simulator for tests: a private CA and one process per
simulator, each with its own scratch directory that is removed on stop.

    ca = TestCA(directory)
    with Simulator(build.build(), ca) as sim:
        session = sim.session()
"""

import ctypes
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID


class TestCA:
    """A private certificate authority and a server certificate it signed
    for 127.0.0.1, ::1 and localhost, as PEM files in ``directory``.

    Files already in ``directory`` are reused, so one CA can serve a whole
    test session.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory, name='glance_store_vmware test CA'):
        self.directory = os.fspath(directory)
        self.ca_file = os.path.join(self.directory, 'ca.pem')
        self.cert_file = os.path.join(self.directory, 'server.pem')
        self.key_file = os.path.join(self.directory, 'server-key.pem')
        if not all(os.path.exists(f) for f in
                   (self.ca_file, self.cert_file, self.key_file)):
            os.makedirs(self.directory, exist_ok=True)
            self._generate(name)

    def _generate(self, name):
        now = datetime.datetime.now(datetime.timezone.utc)
        not_before = now - datetime.timedelta(days=1)
        not_after = now + datetime.timedelta(days=30)

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256()))

        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, '127.0.0.1')]))
            .issuer_name(ca_name)
            .public_key(server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                x509.IPAddress(ipaddress.ip_address('::1')),
                x509.DNSName('localhost')]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=False, crl_sign=False,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                server_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier
                           .from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))

        pem = serialization.Encoding.PEM
        _write(self.key_file, server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), mode=0o600)
        _write(self.cert_file, server_cert.public_bytes(pem))
        _write(self.ca_file, ca_cert.public_bytes(pem))


def _write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)


def _die_with_parent():
    # A test runner killed without a chance to clean up must not leave a
    # simulator behind: the kernel sends SIGTERM to the child when the
    # thread that started it ends.
    if sys.platform.startswith('linux'):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class SimulatorError(RuntimeError):
    pass


class Simulator:
    """One vcsim process serving the vSphere API over TLS signed by ``ca``.

    The child gets a private TMPDIR (under ``tmp_root``, default the system
    temp directory), where vcsim creates its datastore backing directories;
    ``stop()`` removes it with everything in it. A test runner killed
    before ``stop()`` leaves it behind: give pytest's ``basetemp`` as
    ``tmp_root`` to have pytest's rotation remove such leftovers.
    """

    READY_TIMEOUT = 30.0
    STOP_TIMEOUT = 10.0

    def __init__(self, build, ca, *, datacenters=1, clusters=1,
                 cluster_hosts=2, standalone_hosts=0, datastores=2, pods=0,
                 port=0, host='127.0.0.1', username='vcuser', password=None,
                 host_name=None, tmp_root=None, api_version=None):
        self.build = build
        self.tmp_root = tmp_root
        self.ca = ca
        self.ca_file = ca.ca_file
        self.topology = dict(dc=datacenters, cluster=clusters,
                             cluster_host=cluster_hosts,
                             standalone_host=standalone_hosts,
                             ds=datastores, pod=pods)
        self.host = host
        self.port = port
        # Name of every ESX host (e.g. '127.0.0.1'), for clients such as
        # Nova that upload to a host directly; None keeps DC0_C0_H0 etc.
        self.host_name = host_name
        # about.apiVersion, e.g. '8.0.3.0'; None keeps the model's 6.5.
        self.api_version = api_version
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.url = None
        self.inventory = None
        self.start_seconds = None
        self.stop_seconds = None
        self.exit_code = None
        self.stderr_text = ''
        self._proc = None
        self._tmpdir = None

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    @property
    def tmpdir(self):
        """The child's private TMPDIR while it runs."""
        return self._tmpdir

    def command(self):
        cmd = [os.fspath(self.build.binary),
               '-listen', '%s:%d' % (self.host, self.port),
               '-cert', os.fspath(self.ca.cert_file),
               '-key', os.fspath(self.ca.key_file),
               '-wsdl-dir', os.fspath(self.build.wsdl_dir),
               '-username', self.username,
               '-password', self.password]
        for flag, value in self.topology.items():
            cmd += ['-' + flag.replace('_', '-'), str(value)]
        if self.host_name:
            cmd += ['-host-name', self.host_name]
        if self.api_version:
            cmd += ['-api-version', self.api_version]
        return cmd

    def start(self):
        if self._proc is not None:
            raise SimulatorError('simulator already started')
        started = time.monotonic()
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix='gsv-vcsim-',
                                            dir=self.tmp_root)
        env = dict(os.environ, TMPDIR=self._tmpdir)
        # Files, not pipes: nobody has to drain them while tests run.
        with open(self._path('stdout'), 'wb') as out, \
                open(self._path('stderr'), 'wb') as err:
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=err, env=env, cwd=self._tmpdir,
                preexec_fn=_die_with_parent)
        try:
            ready = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.url = ready['url']
        self.host = ready['host']
        self.port = ready['port']
        self.inventory = ready['inventory']
        self._restore_files()
        self.start_seconds = time.monotonic() - started
        return self

    # Restarts: the same port, credentials and datastore contents, but a
    # new process, so new sessions and new managed object ids.

    def halt(self, kill=True):
        """End the simulator process (SIGKILL, or SIGTERM if not ``kill``)
        and keep its datastore contents and port for ``resume``."""
        if self._proc is None:
            raise SimulatorError('simulator is not running')
        kept = self._path('kept')
        shutil.rmtree(kept, ignore_errors=True)
        for dc in self.inventory['datacenters']:
            for ds in dc['datastores']:
                if os.path.isdir(ds['dir']):
                    shutil.copytree(ds['dir'], os.path.join(
                        kept, dc['name'], ds['name']), symlinks=True)
        self._end_process(signal.SIGKILL if kill else signal.SIGTERM)
        for dc in self.inventory['datacenters']:
            for ds in dc['datastores']:
                shutil.rmtree(ds['dir'], ignore_errors=True)

    def resume(self):
        """Start a halted simulator again on the same port, with the
        datastore contents it had."""
        if self._tmpdir is None:
            raise SimulatorError('simulator was stopped, not halted')
        return self.start()

    def restart(self, kill=True):
        self.halt(kill=kill)
        return self.resume()

    def _restore_files(self):
        kept = self._path('kept')
        if not os.path.isdir(kept):
            return
        for dc in self.inventory['datacenters']:
            for ds in dc['datastores']:
                source = os.path.join(kept, dc['name'], ds['name'])
                if os.path.isdir(source):
                    shutil.copytree(source, ds['dir'], symlinks=True,
                                    dirs_exist_ok=True)
        shutil.rmtree(kept, ignore_errors=True)

    def managed_object_ids(self):
        """``{datastore name: moref value}`` of the first datacenter."""
        return {ds['name']: ds.get('ref') or ds.get('moref') or ds.get('id')
                for ds in self.datacenter()['datastores']}

    def _path(self, name):
        return os.path.join(self._tmpdir, name)

    def _wait_ready(self):
        deadline = time.monotonic() + self.READY_TIMEOUT
        while True:
            with open(self._path('stdout'), 'rb') as f:
                data = f.read()
            if b'\n' in data:
                line = data.split(b'\n', 1)[0]
                try:
                    return json.loads(line)
                except ValueError:
                    raise SimulatorError(
                        'vcsim printed %r instead of its ready line\n%s'
                        % (line[:500], self.stderr_tail())) from None
            if self._proc.poll() is not None:
                raise SimulatorError(
                    'vcsim exited with status %s before it was ready: %s\n%s'
                    % (self._proc.returncode, ' '.join(self.command()),
                       self.stderr_tail()))
            if time.monotonic() > deadline:
                raise SimulatorError(
                    'vcsim was not ready within %.0f s\n%s'
                    % (self.READY_TIMEOUT, self.stderr_tail()))
            time.sleep(0.01)

    def stderr_tail(self, lines=40):
        if self._tmpdir and os.path.exists(self._path('stderr')):
            with open(self._path('stderr'), 'rb') as f:
                text = f.read().decode('utf-8', 'replace')
        else:
            text = self.stderr_text
        return '--- vcsim stderr (tail) ---\n' + '\n'.join(
            text.splitlines()[-lines:])

    def _end_process(self, signum):
        """Send ``signum``, then SIGKILL after STOP_TIMEOUT; record the
        exit code."""
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.send_signal(signum)
            try:
                proc.wait(self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.exit_code = proc.returncode

    def stop(self):
        """Stop the simulator (SIGTERM, then SIGKILL after STOP_TIMEOUT) and
        remove its scratch directory. Safe to call more than once."""
        if self._proc is not None:
            stopping = time.monotonic()
            self._end_process(signal.SIGTERM)
            self.stop_seconds = time.monotonic() - stopping
        if self._tmpdir is not None:
            try:
                with open(self._path('stderr'), 'rb') as f:
                    self.stderr_text = f.read().decode('utf-8', 'replace')
            except OSError:
                pass
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    # Inventory, as reported by the simulator when it became ready.

    def datacenter(self, name=None):
        """The inventory entry of datacenter ``name`` (default: the first)."""
        dcs = self.inventory['datacenters']
        if name is None:
            return dcs[0]
        for dc in dcs:
            if dc['name'] == name:
                return dc
        raise LookupError('no datacenter %r; have %s'
                          % (name, [d['name'] for d in dcs]))

    def datastore(self, ds_name, dc=None):
        """The inventory entry of datastore ``ds_name`` in datacenter ``dc``
        (default: the first)."""
        datastores = self.datacenter(dc)['datastores']
        for ds in datastores:
            if ds['name'] == ds_name:
                return ds
        raise LookupError('no datastore %r; have %s'
                          % (ds_name, [d['name'] for d in datastores]))

    def datastore_dir(self, ds_name, dc=None):
        """The local directory backing a datastore, for assertions."""
        return self.datastore(ds_name, dc)['dir']

    def folder_url(self, ds_path, ds_name, dc=None):
        """The HTTPS /folder URL of ``ds_path`` on a datastore."""
        from urllib.parse import quote
        from urllib.parse import urlencode
        query = urlencode({'dcPath': self.datacenter(dc)['name'],
                           'dsName': ds_name})
        return 'https://%s:%d/folder/%s?%s' % (
            self.host, self.port, quote(ds_path.lstrip('/')), query)

    # Clients.

    def session(self, **kw):
        """An oslo.vmware session logged in over TLS verified against the
        test CA, loading the WSDL the simulator serves."""
        from oslo_vmware import api
        kw.setdefault('host', self.host)
        kw.setdefault('port', self.port)
        kw.setdefault('server_username', self.username)
        kw.setdefault('server_password', self.password)
        kw.setdefault('api_retry_count', 1)
        kw.setdefault('task_poll_interval', 0.05)
        kw.setdefault('cacert', self.ca_file)
        kw.setdefault('insecure', False)
        return api.VMwareAPISession(**kw)

    @staticmethod
    def cookie_header(session):
        """The Cookie header value that authorizes /folder requests."""
        value = session.vim.get_http_cookie()
        if not value:
            raise SimulatorError('session has no vmware_soap_session cookie')
        return 'vmware_soap_session=%s' % value
