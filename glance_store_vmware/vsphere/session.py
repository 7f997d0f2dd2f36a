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

"""A logged-in vCenter session: SOAP API, session cookie and TLS settings.

Wraps oslo.vmware's ``VMwareAPISession`` once, so callers never pass
sessions, hosts and certificates around.
"""

import logging
import threading

from oslo_vmware import api
from oslo_vmware import exceptions as vexc
import requests

from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import redaction

LOG = logging.getLogger(__name__)

COOKIE_NAME = 'vmware_soap_session'

redaction.install()


class _APISession(api.VMwareAPISession):
    """oslo.vmware's session with a login that gives up.

    oslo.vmware retries a login that cannot connect forever, also when
    ``invoke_api`` logs in again by itself (after a NotAuthenticated fault
    or a connection error), which would hang the caller while vCenter is
    unreachable.
    """

    def _create_session(self):
        # The method without its retry decorator; the lock is kept.
        api.VMwareAPISession._create_session.__wrapped__(self)


class Session:
    """A vCenter connection, logged in on first use.

    ``verify`` is what every HTTP request must pass as ``verify=``: the CA
    file, or ``False`` in insecure mode, or ``True`` for the system trust
    store.  Passing it per request matters: requests lets
    ``REQUESTS_CA_BUNDLE`` override ``requests.Session.verify``.
    """

    def __init__(self, host, username, password, *, port=443, ca_file=None,
                 insecure=False, api_retry_count=10, task_poll_interval=5,
                 pool_size=10, timeout=None):
        self.host = host
        self.port = port
        self.verify = ca_file if ca_file else not insecure
        self._args = (host, username, password, api_retry_count,
                      task_poll_interval)
        self._kwargs = dict(port=port, cacert=ca_file, insecure=insecure,
                            pool_size=pool_size, connection_timeout=timeout)
        self._api = None
        self._lock = threading.Lock()

    @classmethod
    def from_api(cls, api_session, host, *, port=443, ca_file=None,
                 insecure=False):
        """Share an oslo.vmware session another component already logged
        in (e.g. Nova's), instead of opening a second one."""
        self = cls(host, None, None, port=port, ca_file=ca_file,
                   insecure=insecure)
        self._api = api_session
        return self

    def __repr__(self):
        return '<vSphere session %s:%s>' % (self.host, self.port)

    @property
    def api(self):
        """The logged-in oslo.vmware session."""
        if self._api is None:
            with self._lock:
                if self._api is None:
                    self._api = self._login()
        return self._api

    def _login(self):
        session = _APISession(*self._args, create_session=False,
                              **self._kwargs)
        self._create_session(session)
        return session

    def _create_session(self, session):
        try:
            # A session shared through from_api() still retries a login
            # that cannot connect forever; probe the connection first.
            session.vim.retrieve_service_content()
            # oslo.vmware's login, as invoke_api uses it; no public name.
            session._create_session()
        except vexc.VimFaultException as e:
            if 'InvalidLogin' in (e.fault_list or []):
                raise errors.NotAuthenticated(
                    'vCenter %s:%s refused the user name or password'
                    % (self.host, self.port)) from None
            raise self._unreachable(e) from None
        except Exception as e:
            raise self._unreachable(e) from None

    def _unreachable(self, exc):
        text = str(exc)
        if 'CERTIFICATE_VERIFY_FAILED' in text or isinstance(
                exc, requests.exceptions.SSLError):
            # A configuration problem, not an outage.
            return errors.VSphereError(
                'cannot connect to vCenter %s:%s: TLS certificate '
                'verification failed; check the CA file setting (or the '
                'insecure setting)' % (self.host, self.port))
        return errors.Unreachable('cannot connect to vCenter %s:%s: %s'
                                  % (self.host, self.port,
                                     ' '.join(text.split())[:400]))

    @property
    def vim(self):
        return self.api.vim

    @property
    def service_content(self):
        return self.vim.service_content

    def invoke(self, method, *args, **kwargs):
        """Call a vSphere API method on the managed object ``args[0]``."""
        return self._invoke(self.vim, method, *args, **kwargs)

    def invoke_util(self, module, function, *args, **kwargs):
        """Call an oslo.vmware helper (e.g. ``vim_util``) with retries."""
        return self._invoke(module, function, self.vim, *args, **kwargs)

    def _invoke(self, module, method, *args, **kwargs):
        try:
            return self.api.invoke_api(module, method, *args, **kwargs)
        except (vexc.VimConnectionException,
                vexc.VimSessionOverLoadException) as e:
            # Not VimExceptions: callers would let them escape untranslated.
            raise self._unreachable(e) from None

    def wait_for_task(self, task):
        return self.api.wait_for_task(task)

    def cookie(self):
        """The ``Cookie`` header value for datastore HTTP requests."""
        value = self.vim.get_http_cookie()
        if not value:
            raise errors.NotAuthenticated('no vCenter session cookie')
        return '%s=%s' % (COOKIE_NAME, value)

    def relogin(self, stale_cookie):
        """Log in again unless another thread already replaced the cookie."""
        with self._lock:
            if self._api is None or self.cookie() != stale_cookie:
                return
            LOG.info('vCenter %s:%s refused the session cookie; logging in '
                     'again', self.host, self.port)
            self._create_session(self._api)

    def close(self):
        with self._lock:
            if self._api is not None:
                self._api.logout()
                self._api = None
