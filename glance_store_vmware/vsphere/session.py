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

We use oslo.vmware's SOAP client (``Vim``: WSDL, suds, fault parsing) but
not its ``VMwareAPISession.invoke_api``, whose policy cannot serve a
request path:

* it sleeps 10, 20, ... 60 s between retries of a connection error
  (``vmware_api_retry_count`` = 10 makes that ~7 minutes per call), so a
  vCenter outage held every worker thread of glance-api;
* after logging in again it raises, sleeps and only then repeats the call;
* each call runs in an oslo.service looping call, which under the
  threading backend starts pool threads that pile up;
* its WSDL download and login have no timeout, and a login that cannot
  connect is retried forever.

Our policy, in ``Session.invoke``:

* every request to vCenter has connect and read limits (``timeout``),
  the WSDL download included;
* no answer (refused, timed out) is an outage: the call fails at once with
  ``Unreachable``, and while one request waits on a vCenter that did not
  answer, the others fail fast instead of piling up behind it;
* a dropped pooled connection or an overloaded vCenter (HTTP 503) is
  transient: retried up to ``api_retry_count`` times with short sleeps
  (0.1 s doubling to 1 s), never past ``timeout`` seconds in total;
* an expired session is renewed and the call repeated at once;
* a managed object that vanished (inventory rebuilt) is ``StaleReference``,
  so callers can look it up again.
"""

import contextlib
import io
import logging
import threading
import time

from oslo_vmware import api
from oslo_vmware import exceptions as vexc
from oslo_vmware import service
from oslo_vmware import vim as vim_mod
import requests

from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import redaction

LOG = logging.getLogger(__name__)

COOKIE_NAME = 'vmware_soap_session'
DEFAULT_TIMEOUT = 10
RETRY_FIRST_SLEEP = 0.1
RETRY_MAX_SLEEP = 1.0

redaction.install()


class LabelledLog(logging.LoggerAdapter):
    """Prefixes every message with a label, e.g. the store's backend."""

    def process(self, msg, kwargs):
        return '%s: %s' % (self.extra['label'], msg), kwargs


class _Overloaded(Exception):
    """vCenter answered HTTP 503: busy, or its services are starting."""


class _BoundedTransport(service.RequestsTransport):
    """oslo.vmware's transport with every request bounded.

    oslo.vmware passes its timeout to SOAP posts only; the WSDL download
    that ``Vim()`` starts had none and hung glance-api's start-up on a
    vCenter that accepts connections but never answers.
    """

    def open(self, request):
        resp = self.session.get(request.url, verify=self.verify,
                                timeout=self._connection_timeout)
        if resp.status_code == 503:
            raise _Overloaded('HTTP 503 for the WSDL')
        resp.raise_for_status()
        return io.BytesIO(resp.content)

    def send(self, request):
        reply = super().send(request)
        if reply.code == 503:
            raise _Overloaded('HTTP 503')
        return reply


def _make_vim(host, port, *, ca_file, insecure, pool_size, timeout):
    """oslo.vmware's ``Vim`` on our transport.

    ``Vim.__init__`` builds its transport and fetches the WSDL in one go,
    so the transport cannot be swapped afterwards; these are the
    attributes ``service.Service.__init__`` sets.
    """
    vim = vim_mod.Vim.__new__(vim_mod.Vim)
    base = service.Service.build_base_url('https', host, port)
    vim.soap_url = base + '/sdk'
    vim.wsdl_url = vim.soap_url + '/vimService.wsdl'
    vim.op_id_prefix = 'glance_store_vmware'
    transport = _BoundedTransport(cacert=ca_file, insecure=insecure,
                                  pool_maxsize=pool_size,
                                  connection_timeout=timeout)
    vim.client = service.CompatibilitySudsClient(
        vim.wsdl_url, transport=transport, location=vim.soap_url,
        plugins=[service.ServiceMessagePlugin()], cache=service._CACHE)
    vim._service_content = None
    vim._vc_session_cookie = None
    return vim


def _cause(exc):
    """The exception oslo.vmware wrapped (its ``cause``), or ``exc``."""
    seen = exc
    for _ in range(4):
        if not isinstance(seen, vexc.VMwareDriverException):
            break
        inner = getattr(seen, 'cause', None)
        if inner is None:
            break
        seen = inner
    return seen


_describe = errors.describe


# How a failed call is classified.
OUTAGE = 'outage'          # no answer: fail now
TRANSIENT = 'transient'    # retry shortly
EXPIRED = 'expired'        # log in again, repeat at once
STALE = 'stale'            # a managed object reference is gone
TLS = 'tls'                # a configuration problem
CA_FILE = 'ca-file'        # likewise
FAULT = 'fault'            # vCenter answered with a fault: the caller's


def classify(exc):
    """The class of a failure of a SOAP call or login."""
    if isinstance(exc, vexc.VimFaultException):
        faults = exc.fault_list or []
        if vexc.NOT_AUTHENTICATED in faults:
            return EXPIRED
        if vexc.MANAGED_OBJECT_NOT_FOUND in faults:
            return STALE
        return FAULT
    if isinstance(exc, vexc.ManagedObjectNotFoundException):
        return STALE
    if isinstance(exc, vexc.NotAuthenticatedException):
        return EXPIRED
    cause = _cause(exc)
    if 'TLS CA certificate bundle' in str(cause):
        # requests' words for a CA file that does not exist.
        return CA_FILE
    if isinstance(cause, requests.exceptions.SSLError) or \
            'CERTIFICATE_VERIFY_FAILED' in str(cause):
        return TLS
    if isinstance(cause, _Overloaded) or isinstance(
            exc, vexc.VimSessionOverLoadException):
        return TRANSIENT
    if isinstance(cause, requests.exceptions.Timeout):
        return OUTAGE
    if isinstance(cause, requests.exceptions.ConnectionError):
        text = str(cause)
        # A keep-alive connection the server closed meanwhile: the next
        # connection will do.
        if ('RemoteDisconnected' in text or 'Connection aborted' in text
                or 'reset by peer' in text or 'BrokenPipe' in text):
            return TRANSIENT
        return OUTAGE
    if isinstance(exc, vexc.VimConnectionException):
        return OUTAGE
    if isinstance(cause, (requests.RequestException, OSError)):
        return OUTAGE
    return FAULT


class Session:
    """A vCenter connection, logged in on first use.

    ``verify`` is what every HTTP request must pass as ``verify=``: the CA
    file, or ``False`` in insecure mode, or ``True`` for the system trust
    store.  Passing it per request matters: requests lets
    ``REQUESTS_CA_BUNDLE`` override ``requests.Session.verify``.

    ``timeout`` bounds connecting to vCenter and each wait for its answer,
    in seconds; ``label`` starts every log line (e.g. which Glance backend).
    """

    def __init__(self, host, username, password, *, port=443, ca_file=None,
                 insecure=False, api_retry_count=10, pool_size=10,
                 timeout=DEFAULT_TIMEOUT, label=None):
        self.host = host
        self.port = port
        self.verify = ca_file if ca_file else not insecure
        self.timeout = timeout
        self.log = LabelledLog(LOG, {'label': label or 'vCenter %s:%s'
                                     % (host, port)})
        self._username = username
        self._password = password
        self._ca_file = ca_file
        self._insecure = insecure
        self._pool_size = pool_size
        self._retries = api_retry_count
        self._shared = None
        self._vim = None
        self._logged_in = False
        self._session_key = None
        self._session_user = None
        self._login_lock = threading.Lock()
        self._login_failure = (0.0, None)
        # While vCenter is suspected silent, one request at a time may wait
        # for it; the others fail at once with the reason.
        self._suspect = None
        self._probe = threading.RLock()

    @classmethod
    def from_api(cls, api_session, host, *, port=443, ca_file=None,
                 insecure=False, label=None, timeout=DEFAULT_TIMEOUT):
        """Share an oslo.vmware session another component already logged
        in (e.g. Nova's), instead of opening a second one.

        oslo.vmware leaves its SOAP transport without a timeout unless told;
        such a session gets ``timeout`` here, or a vCenter that stops
        answering would hold our calls (and the owner's) for good.
        """
        self = cls(host, None, None, port=port, ca_file=ca_file,
                   insecure=insecure, label=label, timeout=timeout)
        self._shared = api_session
        transport = getattr(getattr(getattr(
            api_session.vim, 'client', None), 'options', None),
            'transport', None)
        if transport is not None and getattr(
                transport, '_connection_timeout', 0) is None:
            transport._connection_timeout = timeout
        return self

    def __repr__(self):
        return '<vSphere session %s:%s>' % (self.host, self.port)

    # Logging in -------------------------------------------------------------

    @property
    def vim(self):
        """The SOAP client, logged in."""
        if self._shared is not None:
            return self._shared.vim
        if not self._logged_in:
            self._log_in(None)
        return self._vim

    @property
    def service_content(self):
        return self.vim.service_content

    def _log_in(self, stale_key):
        """Log in unless another thread did since ``stale_key`` was seen.

        A login that fails is not repeated by the threads that queued
        behind it: they get the same error at once.
        """
        asked = time.monotonic()
        with self._login_lock:
            failed_at, failure = self._login_failure
            if failure is not None and failed_at >= asked:
                raise type(failure)(str(failure))
            if self._logged_in and self._session_key != stale_key:
                return
            try:
                with self.gate():
                    self._call_login()
            except errors.VSphereError as e:
                self._login_failure = (time.monotonic(), e)
                raise
            self._login_failure = (0.0, None)

    def _call_login(self):
        self._logged_in = False
        try:
            if self._shared is not None:
                # oslo.vmware's login without its retry-forever decorator.
                api.VMwareAPISession._create_session.__wrapped__(
                    self._shared)
                self._session_key = self._shared._session_id
                self._logged_in = True
                return
            if self._vim is None:
                self._vim = _make_vim(
                    self.host, self.port, ca_file=self._ca_file,
                    insecure=self._insecure, pool_size=self._pool_size,
                    timeout=self.timeout)
            vim = self._vim
            user_session = vim.Login(vim.service_content.sessionManager,
                                     userName=self._username,
                                     password=self._password, locale='en')
        except Exception as e:
            raise self._login_error(e) from None
        self._session_key = user_session.key
        self._session_user = user_session.userName
        self._logged_in = True
        self.log.info('logged in to vCenter %s:%s', self.host, self.port)

    def _login_error(self, exc):
        if isinstance(exc, vexc.VimFaultException) and (
                'InvalidLogin' in (exc.fault_list or [])):
            return errors.NotAuthenticated(
                'vCenter %s:%s refused the user name or password'
                % (self.host, self.port))
        if isinstance(exc, errors.VSphereError):
            return exc
        return self._error(classify(exc), exc)

    def _error(self, kind, exc):
        cause = _cause(exc)
        if kind == TLS:
            reason = getattr(cause, 'reason', None) or cause
            detail = ' '.join(str(reason).split())
            if 'certificate verify failed' in detail:
                detail = detail[detail.index('certificate verify failed'):]
            return errors.ConfigurationError(
                'cannot connect to vCenter %s:%s: TLS certificate '
                'verification failed (%s); check the CA file setting (or '
                'the insecure setting)' % (self.host, self.port,
                                           detail[:200].rstrip(')')))
        if kind == CA_FILE:
            return errors.ConfigurationError(
                'cannot verify vCenter %s:%s: %s; check the CA file setting'
                % (self.host, self.port, ' '.join(str(cause).split())))
        if kind == EXPIRED:
            return errors.NotAuthenticated(
                'vCenter %s:%s refused the session even after logging in '
                'again' % (self.host, self.port))
        if kind == FAULT:
            return errors.VSphereError('vCenter %s:%s: %s'
                                       % (self.host, self.port,
                                          _describe(exc)))
        if kind == STALE:
            return errors.StaleReference(
                'vCenter %s:%s no longer has the object: %s'
                % (self.host, self.port, _describe(exc)))
        return errors.Unreachable('cannot connect to vCenter %s:%s: %s'
                                  % (self.host, self.port, _describe(cause)))

    # Calls ------------------------------------------------------------------

    @contextlib.contextmanager
    def gate(self):
        """Admit one request to a vCenter that did not answer lately.

        Requests that find another one already waiting on it fail at once,
        so a silent vCenter holds one thread per process, not all of them.
        Every failure to connect or answer within ``timeout`` marks vCenter
        suspect; any answer clears it.
        """
        suspect = self._suspect
        if suspect is not None and not self._probe.acquire(blocking=False):
            raise errors.Unreachable('%s (another request is waiting for '
                                     'vCenter to answer)' % suspect)
        try:
            yield
        except errors.Unreachable as e:
            self._suspect = str(e)
            raise
        else:
            self._suspect = None
        finally:
            if suspect is not None:
                self._probe.release()

    def invoke(self, method, *args, **kwargs):
        """Call a vSphere API method on the managed object ``args[0]``."""
        return self._invoke(lambda: getattr(self.vim, method)(*args,
                                                             **kwargs))

    def invoke_util(self, module, function, *args, **kwargs):
        """Call an oslo.vmware helper (e.g. ``vim_util``) under our policy."""
        return self._invoke(lambda: getattr(module, function)(
            self.vim, *args, **kwargs))

    def _invoke(self, call):
        deadline = time.monotonic() + self.timeout
        sleep = RETRY_FIRST_SLEEP
        renewed = False
        attempt = 0
        while True:
            key = self._session_key
            try:
                with self.gate():
                    try:
                        return call()
                    except (vexc.VMwareDriverException, OSError,
                            requests.RequestException) as e:
                        kind = classify(e)
                        if kind in (OUTAGE, TLS, CA_FILE):
                            raise self._error(kind, e) from None
                        raise
            except vexc.VimFaultException as e:
                kind = classify(e)
                if kind == EXPIRED and not renewed and self._expired(e):
                    renewed = True
                    self.log.info('vCenter %s:%s ended the session; '
                                  'logging in again', self.host, self.port)
                    self._log_in(key)
                    continue
                if kind == EXPIRED and not self._expired(e):
                    # An empty property collector answer, not an expired
                    # session (oslo.vmware answers the same way).
                    return []
                if kind in (STALE, EXPIRED):
                    raise self._error(kind, e) from None
                raise
            except (vexc.VMwareDriverException, OSError,
                    requests.RequestException) as e:
                kind = classify(e)
                if kind != TRANSIENT:
                    raise self._error(kind, e) from None
                attempt += 1
                if attempt > self._retries or \
                        time.monotonic() + sleep > deadline:
                    raise errors.Unreachable(
                        'vCenter %s:%s is overloaded or dropped the '
                        'connection %d times: %s'
                        % (self.host, self.port, attempt,
                           _describe(_cause(e)))) from None
                self.log.debug('retrying after %s', _describe(_cause(e)))
                time.sleep(sleep)
                sleep = min(sleep * 2, RETRY_MAX_SLEEP)

    def _expired(self, fault):
        """Whether a NotAuthenticated fault means the session ended.

        oslo.vmware reports an empty property collector answer as
        NotAuthenticated; vCenter also answers that way when a session
        expired, so ask it.
        """
        if fault.details or 'RetrievePropertiesEx' not in str(fault):
            return True
        try:
            if self._shared is not None:
                return not self._shared.is_current_session_active()
            return not self._vim.SessionIsActive(
                self._vim.service_content.sessionManager,
                sessionID=self._session_key, userName=self._session_user)
        except Exception:
            return True

    def cookie(self):
        """The ``Cookie`` header value for datastore HTTP requests."""
        value = self.vim.get_http_cookie()
        if not value:
            raise errors.NotAuthenticated('no vCenter session cookie')
        return '%s=%s' % (COOKIE_NAME, value)

    def relogin(self, stale_cookie):
        """Log in again unless another thread already replaced the cookie."""
        if self.cookie() != stale_cookie:
            return
        self.log.info('vCenter %s:%s refused the session cookie; logging '
                      'in again', self.host, self.port)
        self._log_in(self._session_key)

    def close(self):
        with self._login_lock:
            if self._shared is None and self._logged_in:
                self._logged_in = False
                try:
                    self._vim.Logout(self._vim.service_content.sessionManager)
                except Exception as e:
                    self.log.debug('logout failed: %s', _describe(e))
