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

"""Import leases (``ResourcePool.ImportVApp``) whose disks the ESXi host
pulls from a URL itself (``HttpNfcLease.HttpNfcLeasePullFromUrls_Task``,
vSphere 6.7 and later), and what the host needs to fetch a ``/folder``
URL: a generic service ticket and vCenter's certificate thumbprint.

Every wait is bounded: the lease becoming ready, the pull task, each SOAP
call (the session's limit).  While the host pulls, the lease is kept
alive with ``HttpNfcLeaseProgress`` as an uploading client would.
"""

import hashlib
import socket
import ssl
import time

from oslo_vmware import exceptions as vexc
from oslo_vmware import vim_util

from glance_store_vmware.vsphere import errors

# vSphere's lease expires after leaseTimeout (300 s by default) without
# a progress report; oslo.vmware reports every 60 s too.
PROGRESS_INTERVAL = 60
LEASE_READY_TIMEOUT = 300
# The first API version with HttpNfcLeasePullFromUrls_Task.
PULL_API_VERSION = (6, 7)
TICKET_COOKIE = 'vmware_cgi_ticket'


class PullUnsupported(errors.VSphereError):
    """This vCenter or lease cannot pull: use the client upload."""


class LeaseError(errors.VSphereError):
    """The lease failed, timed out or was aborted."""


def api_version(session):
    """vCenter's API version as a tuple of ints, e.g. (8, 0, 3, 0)."""
    text = getattr(getattr(session.service_content, 'about', None),
                   'apiVersion', '') or ''
    try:
        return tuple(int(part) for part in str(text).split('.'))
    except ValueError:
        return ()


def check_pull_api(session):
    """PullUnsupported unless vCenter's API has the pull (6.7+)."""
    version = api_version(session)
    if version[:2] < PULL_API_VERSION:
        raise PullUnsupported(
            'vCenter %s API version %s is older than 6.7 (no '
            'HttpNfcLeasePullFromUrls_Task)' % (
                session.host, '.'.join(map(str, version)) or 'unknown'))


def service_ticket(session, url, method='httpGet'):
    """A generic service ticket for one ``method`` on exactly ``url``.

    vCenter accepts it once, for that URL and method only, and only for a
    short while: a host given it can read the image file and nothing else,
    unlike the session cookie, which would lend it every right of this
    session for as long as the session lives.  The ticket is a secret:
    never log it.
    """
    factory = session.vim.client.factory
    spec = factory.create('ns0:SessionManagerHttpServiceRequestSpec')
    spec.method = method
    spec.url = url
    try:
        ticket = session.invoke(
            'AcquireGenericServiceTicket',
            session.service_content.sessionManager, spec=spec)
    except vexc.VimException as e:
        if 'NotSupported' in (getattr(e, 'fault_list', None) or []):
            raise PullUnsupported('vCenter %s gives no service tickets'
                                  % session.host) from None
        raise errors.VSphereError(
            'vCenter %s refused a service ticket: %s'
            % (session.host, errors.describe(e))) from None
    ticket_id = getattr(ticket, 'id', None)
    if not ticket_id:
        raise errors.VSphereError('vCenter %s gave an empty service ticket'
                                  % session.host)
    return str(ticket_id)


def ticket_cookie(ticket_id):
    """The ``Cookie`` header value that presents a service ticket."""
    return '%s=%s' % (TICKET_COOKIE, ticket_id)


def server_thumbprint(host, port, verify, timeout):
    """The SHA-1 thumbprint (``AA:BB:...``) of the certificate
    ``host:port`` presents, taken over a connection verified as every
    other request to vCenter is (``verify``: a CA file, True for the
    system store, False in insecure mode).

    The host pulling from vCenter has no CA store: this thumbprint is how
    it knows it talks to the vCenter this node verified.
    """
    if verify is False:
        context = ssl._create_unverified_context()
    elif isinstance(verify, str):
        context = ssl.create_default_context(cafile=verify)
    else:
        context = ssl.create_default_context()
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as e:
        raise errors.ConfigurationError(
            'TLS with vCenter %s:%s failed: %s; check the CA file setting'
            % (host, port, e.verify_message)) from None
    except OSError as e:
        raise errors.Unreachable('cannot connect to vCenter %s:%s: %s'
                                 % (host, port, errors.describe(e))) from None
    digest = hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


class ImportLease:
    """An ``ImportVApp`` lease: the VM it creates and the disks to fill.

    ``files`` is the vSphere layer's ``DatastoreFiles`` (for tasks).
    """

    def __init__(self, session, files, lease, *, poll_interval=5.0):
        self._session = session
        self._files = files
        self.ref = lease
        self._poll_interval = poll_interval
        self._info = None

    @classmethod
    def create(cls, session, files, resource_pool, vm_folder, import_spec,
               *, poll_interval=5.0):
        """Start the import; the VM exists once this returns."""
        try:
            lease = session.invoke('ImportVApp', resource_pool,
                                   spec=import_spec, folder=vm_folder)
        except vexc.VimException as e:
            raise errors.VSphereError('ImportVApp failed: %s'
                                      % errors.describe(e)) from None
        return cls(session, files, lease, poll_interval=poll_interval)

    def _property(self, name):
        try:
            return self._session.invoke_util(
                vim_util, 'get_object_property', self.ref, name,
                skip_op_id=True)
        except vexc.VimException as e:
            raise LeaseError('reading the lease %s failed: %s'
                             % (name, errors.describe(e))) from None

    def wait_ready(self, timeout=LEASE_READY_TIMEOUT):
        """Wait until vSphere made the VM and its disks (state ready)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            state = self._property('state')
            if state == 'ready':
                self._info = self._property('info')
                return
            if state == 'error':
                error = self._property('error')
                raise LeaseError('the import lease failed: %s'
                                 % _fault_text(error))
            if state == 'done':
                raise LeaseError('the import lease ended before the pull')
            if time.monotonic() + delay > deadline:
                raise LeaseError('the import lease was not ready within '
                                 '%s s (state %s)' % (timeout, state))
            time.sleep(delay)
            delay = min(delay * 2, self._poll_interval)

    def check_ready(self):
        """LeaseError unless the lease is still ready: vSphere puts it in
        error when the import fails on its side, e.g. after the pull."""
        state = self._property('state')
        if state != 'ready':
            raise LeaseError('the import lease is %s after the pull: %s'
                             % (state, _fault_text(self._property('error'))
                                if state == 'error' else 'not ready'))

    @property
    def vm(self):
        """The VM the import created (known once ready)."""
        return getattr(self._info, 'entity', None)

    def entity_quietly(self):
        """The lease's VM as vCenter reports it, or None (cleanup path:
        the lease may have failed before it was ready)."""
        try:
            return getattr(self._property('info'), 'entity', None)
        except Exception:
            return None

    def disk_import_key(self):
        """The ``importKey`` of the one disk to fill.

        The imports here make VMs with exactly one disk; anything else
        was not made by us.
        """
        keys = [url.importKey for url in
                getattr(self._info, 'deviceUrl', None) or []
                if getattr(url, 'disk', False) and
                getattr(url, 'importKey', None)]
        if len(keys) != 1:
            raise LeaseError('the import lease has %d disks, expected one'
                             % len(keys))
        return keys[0]

    def check_pull_mode(self):
        """PullUnsupported unless this lease says its host can pull."""
        capabilities = self._property('capabilities')
        if not getattr(capabilities, 'pullModeSupported', False):
            raise PullUnsupported('the import lease does not support pull '
                                  'mode (pullModeSupported is not set)')

    def source_file(self, *, url, size, thumbprint, headers,
                    member_name=None):
        """An ``HttpNfcLeaseSourceFile`` for the lease's disk."""
        factory = self._session.vim.client.factory
        source = factory.create('ns0:HttpNfcLeaseSourceFile')
        source.targetDeviceId = self.disk_import_key()
        source.url = url
        source.create = True
        source.size = size
        source.sslThumbprint = thumbprint
        if member_name:
            source.memberName = member_name
        source.httpHeaders = []
        for key, value in headers.items():
            pair = factory.create('ns0:KeyValue')
            pair.key = key
            pair.value = value
            source.httpHeaders.append(pair)
        return source

    def pull(self, sources, timeout):
        """Have the host pull ``sources`` and wait, at most ``timeout``
        seconds, reporting progress so the lease does not expire."""
        try:
            task = self._session.invoke('HttpNfcLeasePullFromUrls_Task',
                                        self.ref, files=sources)
        except vexc.VimException as e:
            faults = getattr(e, 'fault_list', None) or []
            if 'NotSupported' in faults or 'MethodNotFound' in str(e):
                raise PullUnsupported('vCenter refused to pull: %s'
                                      % errors.describe(e)) from None
            raise LeaseError('HttpNfcLeasePullFromUrls_Task failed: %s'
                             % errors.describe(e)) from None
        deadline = time.monotonic() + timeout
        reported = time.monotonic()
        delay = 0.05
        while True:
            info = self._task_info(task)
            if info.state == 'success':
                return
            if info.state == 'error':
                raise LeaseError('the host failed to pull: %s'
                                 % _fault_text(getattr(info, 'error', None)))
            now = time.monotonic()
            if now + delay > deadline:
                raise LeaseError('the host did not finish pulling within '
                                 '%s s' % timeout)
            if now - reported >= PROGRESS_INTERVAL:
                self.progress(getattr(info, 'progress', None) or 0)
                reported = now
            time.sleep(delay)
            delay = min(delay * 2, self._poll_interval)

    def _task_info(self, task):
        try:
            return self._session.invoke_util(
                vim_util, 'get_object_property', task, 'info',
                skip_op_id=True)
        except vexc.VimException as e:
            raise LeaseError('reading the pull task failed: %s'
                             % errors.describe(e)) from None

    def progress(self, percent):
        try:
            self._session.invoke('HttpNfcLeaseProgress', self.ref,
                                 percent=int(percent))
        except vexc.VimException as e:
            raise LeaseError('HttpNfcLeaseProgress failed: %s'
                             % errors.describe(e)) from None

    def complete(self):
        """End the import: the VM is vSphere's to keep."""
        self.progress(100)
        try:
            self._session.invoke('HttpNfcLeaseComplete', self.ref)
        except vexc.VimException as e:
            raise LeaseError('HttpNfcLeaseComplete failed: %s'
                             % errors.describe(e)) from None

    def abort(self):
        """Abort the import, quietly (cleanup path): True if vCenter took
        it, False if it failed (the lease may already be gone)."""
        try:
            self._session.invoke('HttpNfcLeaseAbort', self.ref)
            return True
        except Exception as e:
            self._session.log.debug('HttpNfcLeaseAbort: %s',
                                    errors.describe(e))
            return False


def destroy_vm(session, files, vm):
    """Delete a VM and its files; one that is already gone is fine."""
    try:
        task = session.invoke('Destroy_Task', vm)
    except (vexc.ManagedObjectNotFoundException,
            errors.StaleReference):
        return
    except vexc.VimException as e:
        if 'ManagedObjectNotFound' in (getattr(e, 'fault_list', None) or []):
            return
        raise errors.VSphereError('Destroy_Task of the imported VM failed: '
                                  '%s' % errors.describe(e)) from None
    files.wait_for_task(task, 'Destroy_Task', 'the imported VM')


def _fault_text(error):
    """A task's or lease's ``LocalizedMethodFault`` as one line."""
    if error is None:
        return 'no reason given'
    fault = getattr(error, 'fault', None)
    name = type(fault).__name__ if fault is not None else ''
    message = getattr(error, 'localizedMessage', '') or ''
    return ('%s: %s' % (name, message) if name and message
            else name or message or 'no reason given')
