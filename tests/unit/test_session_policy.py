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

"""How the session classifies failures: what is retried, what fails now."""

from oslo_vmware import exceptions as vexc
import pytest
import requests
from urllib3 import exceptions as urllib3_exceptions

from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import session


def refused():
    inner = urllib3_exceptions.NewConnectionError(
        None, 'Failed to establish a new connection: [Errno 111] '
        'Connection refused')
    try:
        raise urllib3_exceptions.MaxRetryError(None, '/sdk', inner)
    except urllib3_exceptions.MaxRetryError as e:
        try:
            raise requests.exceptions.ConnectionError(e)
        except requests.exceptions.ConnectionError as outer:
            return outer


@pytest.mark.parametrize('exc, kind', [
    (refused(), session.OUTAGE),
    (vexc.VimConnectionException('requests error', refused()),
     session.OUTAGE),
    (requests.exceptions.ConnectTimeout('timed out'), session.OUTAGE),
    (vexc.VimConnectionException(
        'x', requests.exceptions.ReadTimeout('read timed out')),
     session.OUTAGE),
    (vexc.VimConnectionException(
        'x', requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('closed'))")),
     session.TRANSIENT),
    (vexc.VimSessionOverLoadException('busy'), session.TRANSIENT),
    (vexc.VimException('Exception in X', session._Overloaded('HTTP 503')),
     session.TRANSIENT),
    (vexc.VimFaultException(['NotAuthenticated'], 'x'), session.EXPIRED),
    (vexc.VimFaultException(['ManagedObjectNotFound'], 'x'), session.STALE),
    (vexc.VimFaultException(['FileNotFound'], 'x'), session.FAULT),
    (requests.exceptions.SSLError('[SSL: CERTIFICATE_VERIFY_FAILED] '
                                  'certificate verify failed'), session.TLS),
    (OSError('Could not find a suitable TLS CA certificate bundle, invalid '
             'path: /nope'), session.CA_FILE),
])
def test_classify(exc, kind):
    assert session.classify(exc) == kind


def make(**kw):
    return session.Session('vc.example.com', 'user', 'pw', **kw)


def test_an_outage_is_not_retried():
    s = make()
    calls = []

    def call():
        calls.append(1)
        raise vexc.VimConnectionException('requests error', refused())
    with pytest.raises(errors.Unreachable, match='vc.example.com:443'):
        s._invoke(call)
    assert len(calls) == 1


def test_transient_faults_are_retried_then_give_up(monkeypatch):
    sleeps = []
    monkeypatch.setattr(session.time, 'sleep', sleeps.append)
    s = make(api_retry_count=10)
    calls = []

    def call():
        calls.append(1)
        raise vexc.VimSessionOverLoadException('busy')
    with pytest.raises(errors.Unreachable, match='overloaded'):
        s._invoke(call)
    assert len(calls) == 11
    assert sleeps[:4] == [0.1, 0.2, 0.4, 0.8]
    assert max(sleeps) == session.RETRY_MAX_SLEEP
    assert sum(sleeps) <= s.timeout


def test_a_transient_fault_then_success():
    s = make()
    replies = [vexc.VimSessionOverLoadException('busy'), 'answer']

    def call():
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply
    assert s._invoke(call) == 'answer'


def test_a_missing_ca_file_is_a_configuration_error():
    s = make(ca_file='/nonexistent/ca.pem')
    error = s._error(session.CA_FILE, OSError(
        'Could not find a suitable TLS CA certificate bundle, invalid '
        'path: /nonexistent/ca.pem'))
    assert isinstance(error, errors.ConfigurationError)
    assert '/nonexistent/ca.pem' in str(error)


def test_tls_errors_keep_their_reason():
    s = make()
    error = s._error(session.TLS, requests.exceptions.SSLError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
        "self-signed certificate in certificate chain (_ssl.c:1006)"))
    assert isinstance(error, errors.ConfigurationError)
    assert 'self-signed certificate in certificate chain' in str(error)


def test_log_lines_carry_the_label(caplog):
    s = make(label="vsphere store 'fast'")
    with caplog.at_level('INFO'):
        s.log.info('hello %s', 'there')
    assert "vsphere store 'fast': hello there" in caplog.text
