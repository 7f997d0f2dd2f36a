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

"""An in-process Keystone v3 and Glance v2 image API, just enough for the
command line: password tokens with roles and a catalog, the image list
(paged, with the ``os_hidden`` filter Glance applies) and the
service-only locations call.

Keystone is served under ``/identity``, Glance under ``/image``, so the
client's endpoint handling (a path prefix, Glance's relative ``next``
links) is exercised.
"""

import http.server
import json
import threading
import urllib.parse
import uuid


class FakeCloud:
    """``users`` maps a user name to ``(password, roles)``.

    ``image_url`` puts another Glance (a real glance-api) in the catalog;
    ``make_token(user, roles)`` gives the tokens it accepts.
    """

    def __init__(self, users, page_size=2, image_url=None, make_token=None):
        self.users = dict(users)
        self.page_size = page_size
        self.image_url = image_url
        self.make_token = make_token or (lambda user, roles: uuid.uuid4().hex)
        self.images = {}        # id -> record
        self.locations = {}     # id -> [{'url', 'metadata'}]
        self.tokens = {}        # token -> roles
        self.requests = []      # (method, path)
        self._server = None
        self._thread = None

    # Test data.

    def add_image(self, urls=(), image_id=None, hidden=False, store=None):
        image_id = image_id or str(uuid.uuid4())
        self.images[image_id] = {'id': image_id, 'status': 'active',
                                 'os_hidden': hidden, 'name': image_id[:8]}
        meta = {'store': store} if store else {}
        self.locations[image_id] = [{'url': u, 'metadata': dict(meta)}
                                    for u in urls]
        return image_id

    # Server.

    @property
    def base(self):
        host, port = self._server.server_address[:2]
        return 'http://%s:%d' % (host, port)

    @property
    def auth_url(self):
        return self.base + '/identity/v3'

    def options(self, user, password=None):
        """The keystone options of a section for ``user``."""
        return {'auth_type': 'password', 'auth_url': self.auth_url,
                'username': user,
                'password': password or self.users[user][0],
                'user_domain_name': 'Default', 'project_name': 'service',
                'project_domain_name': 'Default'}

    def __enter__(self):
        cloud = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                cloud._handle(self, 'GET')

            def do_POST(self):
                cloud._handle(self, 'POST')

        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                       Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # Requests.

    def _handle(self, req, method):
        parts = urllib.parse.urlsplit(req.path)
        self.requests.append((method, req.path))
        length = int(req.headers.get('Content-Length') or 0)
        body = req.rfile.read(length) if length else b''
        path = parts.path.rstrip('/')
        query = urllib.parse.parse_qs(parts.query)
        if path == '/identity/v3' and method == 'GET':
            return self._reply(req, 200, {'version': {
                'id': 'v3.14', 'status': 'stable',
                'updated': '2020-01-01T00:00:00Z',
                'links': [{'rel': 'self',
                           'href': self.auth_url + '/'}]}})
        if path == '/identity/v3/auth/tokens' and method == 'POST':
            return self._token(req, json.loads(body))
        roles = self.tokens.get(req.headers.get('X-Auth-Token'))
        if roles is None:
            return self._reply(req, 401, {'error': 'unauthenticated'})
        if path == '/image/v2/images' and method == 'GET':
            return self._list(req, query)
        if (path.startswith('/image/v2/images/')
                and path.endswith('/locations')):
            image_id = path.split('/')[4]
            if 'service' not in roles:
                return self._reply(req, 403, {'error': 'forbidden'})
            if image_id not in self.images:
                return self._reply(req, 404, {'error': 'not found'})
            return self._reply(req, 200, self.locations[image_id])
        return self._reply(req, 404, {'error': 'no such path'})

    def _token(self, req, body):
        identity = body['auth']['identity']['password']['user']
        user = self.users.get(identity['name'])
        if user is None or user[0] != identity['password']:
            return self._reply(req, 401, {'error': 'bad credentials'})
        token = self.make_token(identity['name'], user[1])
        self.tokens[token] = set(user[1])
        domain = {'id': 'default', 'name': 'Default'}
        return self._reply(req, 201, {'token': {
            'methods': ['password'],
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'issued_at': '2020-01-01T00:00:00.000000Z',
            'user': {'id': identity['name'], 'name': identity['name'],
                     'domain': domain},
            'project': {'id': 'service', 'name': 'service',
                        'domain': domain},
            'roles': [{'id': r, 'name': r} for r in sorted(user[1])],
            'catalog': [{'type': 'image', 'name': 'glance', 'id': 'glance',
                         'endpoints': [{
                             'id': 'image-public', 'interface': 'public',
                             'region': 'RegionOne',
                             'region_id': 'RegionOne',
                             'url': self.image_url or (
                                 self.base + '/image')}]}]}},
            headers={'X-Subject-Token': token})

    def _list(self, req, query):
        # Glance: hidden images only when asked for with os_hidden=true.
        hidden = query.get('os_hidden', ['false'])[0] == 'true'
        limit = min(int(query.get('limit', ['25'])[0]), self.page_size)
        ids = sorted(i for i, rec in self.images.items()
                     if rec['os_hidden'] == hidden)
        marker = query.get('marker', [None])[0]
        if marker:
            ids = ids[ids.index(marker) + 1:]
        page = ids[:limit]
        body = {'images': [self.images[i] for i in page]}
        if len(ids) > limit:
            body['next'] = '/v2/images?' + urllib.parse.urlencode(
                {'limit': limit, 'marker': page[-1],
                 'os_hidden': str(hidden).lower(), 'visibility': 'all'})
        return self._reply(req, 200, body)

    @staticmethod
    def _reply(req, status, body, headers=None):
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header('Content-Type', 'application/json')
        req.send_header('Content-Length', str(len(data)))
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(data)
