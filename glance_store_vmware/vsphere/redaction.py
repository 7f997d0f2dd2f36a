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

"""Keep passwords, session keys and service tickets out of suds' DEBUG
logs."""

import logging
import re

# suds loggers that log SOAP messages, or the objects they are made from,
# at DEBUG level: with the Login password and the session key, which
# vCenter may also use as the session cookie.
SOAP_LOGGERS = ('suds.client', 'suds.metrics', 'suds.mx.core',
                'suds.mx.literal', 'suds.transport.http')
_SECRET_PATTERNS = [
    # <ns1:password>, <ns1:sessionID> (SessionIsActive) in requests.
    re.compile(r'(<(?:\w+:)?(?:password|sessionI[Dd])>)[^<]*'),
    # A UserSession's key: <returnval><key> of Login, CloneSession, ...
    # and <val xsi:type="UserSession"><key> of a currentSession property.
    re.compile(r'(<(?:\w+:)?(?:returnval|val)(?:\s[^>]*)?>\s*'
               r'<(?:\w+:)?key>)[^<]*'),
    # suds' printout of the request objects: tag = "password" value = "..."
    re.compile(r'(tag = "(?:password|sessionI[Dd])"\s+value = ).*'),
    # A generic service ticket (AcquireGenericServiceTicket's answer:
    # <returnval><id>) and the cookie that presents it to /folder (the
    # httpHeaders of HttpNfcLeasePullFromUrls_Task).
    re.compile(r'(<(?:\w+:)?returnval(?:\s[^>]*)?>\s*<(?:\w+:)?id>)[^<]*'),
    re.compile(r'(vmware_cgi_ticket=)[^<&;"\s]*'),
]


class RedactSecrets(logging.Filter):
    """Masks passwords and session keys in the SOAP messages suds logs."""

    def filter(self, record):
        message = record.getMessage()
        masked = message
        for pattern in _SECRET_PATTERNS:
            masked = pattern.sub(r'\1***', masked)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_REDACT_SECRETS = RedactSecrets()


def install():
    """Add the filter to suds' message loggers (idempotent)."""
    for name in SOAP_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT_SECRETS not in logger.filters:
            logger.addFilter(_REDACT_SECRETS)
