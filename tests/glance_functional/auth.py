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

"""A stand-in for keystonemiddleware's auth_token, for tests only.

The token *is* the identity: ``user:project:role1,role2``.  The filter
sets the headers auth_token would set for such a token, so that Glance's
own ``context`` filter and its default policies run as in production.
Identity headers sent by the client are removed first, as auth_token does.
"""

import urllib.parse

import webob.dec
import webob.exc

# Headers auth_token owns; a client must not be able to set them.
_IDENTITY_PREFIXES = ('X-Identity-Status', 'X-Service-Identity-Status',
                      'X-Domain-', 'X-Project-', 'X-User-', 'X-Tenant',
                      'X-Roles', 'X-Role', 'X-Service-', 'X-Is-Admin-Project',
                      'X-Service-Catalog')


def make_token(user, project, roles):
    """The test token for ``user`` in ``project`` with ``roles``."""
    for part in (user, project, *roles):
        if not part or ':' in part or ',' in part:
            raise ValueError('invalid token part %r' % (part,))
    return '%s:%s:%s' % (user, project, ','.join(roles))


def parse_token(token):
    """``(user, project, roles)`` of a test token, or None."""
    parts = urllib.parse.unquote(token or '').split(':')
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    roles = [r for r in parts[2].split(',') if r]
    return parts[0], parts[1], roles


class TestAuth:
    __test__ = False

    def __init__(self, app):
        self.app = app

    @webob.dec.wsgify
    def __call__(self, req):
        for name in list(req.headers):
            if name.title().startswith(_IDENTITY_PREFIXES):
                del req.headers[name]
        identity = parse_token(req.headers.get('X-Auth-Token'))
        if identity is None:
            return webob.exc.HTTPUnauthorized(
                explanation='X-Auth-Token must be user:project:roles')
        user, project, roles = identity
        req.headers.update({
            'X-Identity-Status': 'Confirmed',
            'X-User-Id': user,
            'X-User-Name': user,
            'X-User-Domain-Id': 'default',
            'X-User-Domain-Name': 'Default',
            'X-Project-Id': project,
            'X-Project-Name': project,
            'X-Project-Domain-Id': 'default',
            'X-Project-Domain-Name': 'Default',
            'X-Roles': ','.join(roles),
        })
        return req.get_response(self.app)


def filter_factory(global_conf, **local_conf):
    """paste.deploy entry: ``paste.filter_factory = <this module>:...``."""
    return TestAuth
