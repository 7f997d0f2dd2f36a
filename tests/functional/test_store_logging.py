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

"""Debug logging of the whole stack never shows the password or the
session cookie."""

import io
import logging

import pytest

from tests.functional import glance_setup
from tests.helpers import payload

DEBUG_LOGGERS = ('', 'oslo_vmware', 'suds', 'urllib3', 'requests',
                 'glance_store_vmware')


class Capture(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append('%s: %s' % (record.name, self.format(record)))

    @property
    def text(self):
        return '\n'.join(self.lines)


@pytest.fixture
def debug_log(vcsim):
    # Parse the WSDL (once per test process) before logging at DEBUG:
    # suds logs its schema model at length, which takes a minute.
    vcsim.session().logout()
    capture = Capture()
    loggers = [logging.getLogger(name) for name in DEBUG_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    try:
        yield capture
    finally:
        logging.getLogger().removeHandler(capture)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def leaks(lines, **secrets):
    """``{secret name: [logger names]}`` of the lines showing a secret."""
    found = {}
    for name, value in secrets.items():
        for line in lines:
            if value in line:
                found.setdefault(name, set()).add(line.split(':', 1)[0])
    return found


def test_debug_logs_never_show_password_or_cookie(vcsim, debug_log):
    # Created under the capture, so that the login is logged too.
    _conf, store = glance_setup.single_store(
        vcsim, glance_setup.datastore_entries(vcsim, 'LocalDS_0'))
    data = payload(1024 * 1024)
    uri = store.add('img-log', io.BytesIO(data), len(data), 'md5')[0]
    location = glance_setup.location_of(store.conf, uri)
    first_cookie = store.session.vim.get_http_cookie().strip('"')

    # Log out behind the store's back: the next request logs in again.
    store.session.vim.Logout(store.session.service_content.sessionManager)
    assert b''.join(store.get(location)[0]) == data
    second_cookie = store.session.vim.get_http_cookie().strip('"')
    assert second_cookie != first_cookie
    store.delete(location)

    text = debug_log.text
    # The stack did log its SOAP traffic, including both logins.
    assert text.count('<Login ') + text.count(':Login>') >= 2, text[:2000]
    assert leaks(debug_log.lines, password=vcsim.password,
                 first_cookie=first_cookie, second_cookie=second_cookie) == {}
