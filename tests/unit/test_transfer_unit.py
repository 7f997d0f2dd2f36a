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

"""Datastore HTTP access: URLs, TLS verification and re-login on 401.

requests is stopped at the transport adapter, so everything requests does
between ``Session.request`` and the wire (including reading
``REQUESTS_CA_BUNDLE``) still runs.
"""

import contextlib
import io
from unittest import mock

import pytest
import requests
from requests import adapters

from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import paths
from glance_store_vmware.vsphere import transfer

IMAGE = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance/img')


# folder_url ----------------------------------------------------------------

def test_folder_url_of_a_plain_file():
    assert transfer.folder_url('vc.example.com', 443, IMAGE) == (
        'https://vc.example.com/folder/openstack_glance/img'
        '?dcPath=dc1&dsName=ds1')


def test_folder_url_keeps_other_ports():
    assert transfer.folder_url('vc', 8443, IMAGE).startswith(
        'https://vc:8443/folder/')


@pytest.mark.parametrize('host, port, netloc', [
    ('fe80::1', 443, '[fe80::1]'),
    ('fe80::1', 8443, '[fe80::1]:8443'),
    ('[fe80::1]', 8443, '[fe80::1]:8443'),
    ('10.0.0.1', 8443, '10.0.0.1:8443'),
])
def test_folder_url_brackets_ipv6_hosts(host, port, netloc):
    url = transfer.folder_url(host, port, IMAGE)
    assert url.startswith('https://%s/folder/' % netloc)


@pytest.mark.parametrize('name, quoted', [
    ('a b', 'a%20b'),
    ('a#b', 'a%23b'),
    ('a?b', 'a%3Fb'),
    ('a%b', 'a%25b'),
    ('a&b=c', 'a%26b%3Dc'),
    ('ümlaut', '%C3%BCmlaut'),
    ('a+b', 'a%2Bb'),
])
def test_folder_url_quotes_file_names(name, quoted):
    dsfile = paths.DatastoreFile('dc1', 'ds1', 'dir one/' + name)
    url = transfer.folder_url('vc', 443, dsfile)
    assert url == ('https://vc/folder/dir%%20one/%s?dcPath=dc1&dsName=ds1'
                   % quoted)
    parsed = requests.utils.urlparse(url)
    assert requests.utils.unquote(parsed.path) == '/folder/dir one/' + name


def test_folder_url_quotes_datacenter_and_datastore():
    dsfile = paths.DatastoreFile('f 1/dc&1', 'ds #1', 'x')
    assert transfer.folder_url('vc', 443, dsfile) == (
        'https://vc/folder/x?dcPath=f%201%2Fdc%261&dsName=ds%20%231')


# DatastoreHTTP ---------------------------------------------------------------

class FakeSession:
    host = 'vc.example.com'
    port = 443
    timeout = 10

    @staticmethod
    def gate():
        return contextlib.nullcontext()

    def __init__(self, verify=True):
        self.verify = verify
        self.cookies = ['vmware_soap_session=one', 'vmware_soap_session=two']
        self.relogin = mock.Mock(side_effect=self._relogin)

    def cookie(self):
        return self.cookies[0]

    def _relogin(self, stale):
        if self.cookies[0] == stale and len(self.cookies) > 1:
            self.cookies.pop(0)


def response(status, body=b'', headers=None):
    """A reply; built afresh for every request by the ``send`` fixture."""
    return status, body, headers


def _build(reply, request):
    status, body, headers = reply
    resp = requests.Response()
    resp.request = request
    resp.url = request.url
    resp.status_code = status
    resp.reason = {200: 'OK', 206: 'Partial Content', 401: 'Unauthorized',
                   404: 'Not Found'}.get(status, 'Status')
    resp.headers.update(headers or {'Content-Length': str(len(body))})
    resp.raw = io.BytesIO(body)
    return resp


@pytest.fixture
def send(monkeypatch):
    """The adapter's send(): what would really go to the network.

    Set ``send.reply`` (every request) or ``send.replies`` (in turn).
    """
    for name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        monkeypatch.delenv(name, raising=False)

    def fake_send(adapter, request, **kwargs):
        if send.replies is not None:
            reply = send.replies.pop(0)
            if isinstance(reply, Exception):
                raise reply
        else:
            reply = send.reply
        return _build(reply, request)

    with mock.patch.object(adapters.HTTPAdapter, 'send', autospec=True,
                           side_effect=fake_send) as send:
        send.reply = response(200, b'', {'Content-Length': '42'})
        send.replies = None
        yield send


def sent(send):
    """[(method, url, cookie, verify)] of every request that went out."""
    return [(c.args[1].method, c.args[1].url, c.args[1].headers['Cookie'],
             c.kwargs['verify']) for c in send.call_args_list]


@pytest.mark.parametrize('verify', ['/etc/vcenter-ca.pem', False])
def test_verify_setting_beats_requests_ca_bundle(monkeypatch, send, verify):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', '/tmp/other-ca.pem')
    monkeypatch.setenv('CURL_CA_BUNDLE', '/tmp/other-ca.pem')
    http = transfer.DatastoreHTTP(FakeSession(verify=verify))
    send.reply = response(200, b'abc')
    http.size(IMAGE)
    chunks, _size = http.get(IMAGE)
    list(chunks)
    http.put(IMAGE, [b'abc'], size=3)
    http.put(IMAGE, [b'abc'])
    assert [v for _m, _u, _c, v in sent(send)] == [verify] * 4


def test_requests_go_to_the_folder_url_with_the_session_cookie(send):
    http = transfer.DatastoreHTTP(FakeSession())
    assert http.size(IMAGE) == 42
    assert sent(send) == [(
        'HEAD',
        'https://vc.example.com/folder/openstack_glance/img'
        '?dcPath=dc1&dsName=ds1',
        'vmware_soap_session=one', True)]
    # Connecting and the answer to a HEAD: the session's limit.
    assert send.call_args.kwargs['timeout'] == (10, 10)


def test_put_may_stall_for_the_transfer_timeout(send):
    http = transfer.DatastoreHTTP(FakeSession(), timeout=120)
    http.put(IMAGE, [b'abc'], size=3)
    assert send.call_args.kwargs['timeout'] == (10, 120)


def test_a_silent_vcenter_is_unreachable_not_a_stall(send):
    http = transfer.DatastoreHTTP(FakeSession(), timeout=120)
    send.replies = [requests.exceptions.ReadTimeout('read timed out')]
    with pytest.raises(errors.Unreachable, match='did not answer HEAD'):
        http.size(IMAGE)


def test_size_of_a_missing_file_is_none(send):
    send.reply = response(404)
    assert transfer.DatastoreHTTP(FakeSession()).size(IMAGE) is None


@pytest.mark.parametrize('method', ['HEAD', 'GET'])
def test_reads_log_in_again_once_after_401(send, method):
    session = FakeSession()
    http = transfer.DatastoreHTTP(session)
    send.replies = [response(401), response(200, b'data')]
    if method == 'HEAD':
        assert http.size(IMAGE) == 4
    else:
        chunks, size = http.get(IMAGE)
        assert (b''.join(chunks), size) == (b'data', 4)
    session.relogin.assert_called_once_with('vmware_soap_session=one')
    assert [(m, c) for m, _u, c, _v in sent(send)] == [
        (method, 'vmware_soap_session=one'),
        (method, 'vmware_soap_session=two')]


@pytest.mark.parametrize('method', ['HEAD', 'GET'])
def test_second_401_is_not_authenticated(send, method):
    session = FakeSession()
    http = transfer.DatastoreHTTP(session)
    send.replies = [response(401), response(401), response(200)]
    with pytest.raises(errors.NotAuthenticated):
        if method == 'HEAD':
            http.size(IMAGE)
        else:
            http.get(IMAGE)
    assert send.call_count == 2
    session.relogin.assert_called_once()


def test_get_retry_keeps_the_range(send):
    http = transfer.DatastoreHTTP(FakeSession())
    send.replies = [response(401), response(206, b'cd')]
    chunks, size = http.get(IMAGE, offset=2, length=2)
    assert (b''.join(chunks), size) == (b'cd', 2)
    assert [c.args[1].headers['Range'] for c in send.call_args_list] == [
        'bytes=2-3', 'bytes=2-3']


@pytest.mark.parametrize('size', [3, None])
def test_put_is_never_retried_after_401(send, size):
    session = FakeSession()
    http = transfer.DatastoreHTTP(session)
    send.replies = [response(401), response(201)]
    with pytest.raises(errors.NotAuthenticated):
        http.put(IMAGE, iter([b'abc']), size=size)
    assert send.call_count == 1
    session.relogin.assert_not_called()


def test_put_of_known_size_sends_content_length(send):
    http = transfer.DatastoreHTTP(FakeSession())
    send.reply = response(201)
    http.put(IMAGE, iter([b'ab', b'c']), size=3)
    request = send.call_args.args[1]
    assert request.method == 'PUT'
    assert request.headers['Content-Length'] == '3'
    assert 'Transfer-Encoding' not in request.headers


def test_put_of_unknown_size_is_chunked(send):
    http = transfer.DatastoreHTTP(FakeSession())
    send.reply = response(201)
    http.put(IMAGE, iter([b'ab', b'c']))
    request = send.call_args.args[1]
    assert request.headers['Transfer-Encoding'] == 'chunked'


@pytest.mark.parametrize('body', [[b'ab', b'c'], (b'ab', b'c')])
def test_put_of_unknown_size_streams_lists_too(send, body):
    http = transfer.DatastoreHTTP(FakeSession())
    send.reply = response(201)
    http.put(IMAGE, body)
    request = send.call_args.args[1]
    assert request.headers['Transfer-Encoding'] == 'chunked'
    assert b''.join(request.body) == b'abc'


def test_put_error_status_is_a_transfer_error(send):
    send.reply = response(500)
    with pytest.raises(errors.TransferError, match='500'):
        transfer.DatastoreHTTP(FakeSession()).put(IMAGE, [b'x'], size=1)


def test_get_of_a_missing_file_is_not_found(send):
    send.reply = response(404)
    with pytest.raises(errors.NotFound):
        transfer.DatastoreHTTP(FakeSession()).get(IMAGE)


def test_truncated_body_is_a_transfer_error(send):
    send.reply = response(200, b'abc', {'Content-Length': '10'})
    chunks, size = transfer.DatastoreHTTP(FakeSession()).get(IMAGE)
    assert size == 10
    with pytest.raises(errors.TransferError, match='3 of 10'):
        list(chunks)


def test_connection_errors_do_not_leak_the_cookie(send):
    send.replies = [requests.ConnectionError(
        'refused\nCookie: vmware_soap_session=one')]
    with pytest.raises(errors.TransferError) as e:
        transfer.DatastoreHTTP(FakeSession()).size(IMAGE)
    assert 'vmware_soap_session' not in str(e.value)
    assert 'ConnectionError' in str(e.value)


def test_redirects_are_not_followed(send):
    send.reply = response(302, headers={
        'Location': 'https://evil.example.com/', 'Content-Length': '0'})
    with pytest.raises(errors.TransferError, match='302'):
        transfer.DatastoreHTTP(FakeSession()).size(IMAGE)
    assert send.call_count == 1


@pytest.mark.parametrize('text, expected', [
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-"
     "signed certificate in certificate chain (_ssl.c:1006)",
     errors.ConfigurationError),
    ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname "
     "mismatch, certificate is not valid for 'vc'. (_ssl.c:1006)",
     errors.ConfigurationError),
    # A connection cut during the handshake or the body: not settings.
    ('EOF occurred in violation of protocol (_ssl.c:2427)',
     errors.ConnectionLost),
])
def test_only_certificate_failures_are_configuration_errors(send, text,
                                                            expected):
    send.replies = [requests.exceptions.SSLError(text)]
    with pytest.raises(errors.VSphereError) as e:
        transfer.DatastoreHTTP(FakeSession()).size(IMAGE)
    assert type(e.value) is expected
    assert text.split(' (_ssl')[0] in str(e.value)
