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

"""The sub-commands as ``--help`` shows them: names, summaries, arguments.

Nothing here imports more than the standard library, so usage and argument
errors answer without loading oslo.vmware, suds or eventlet; a command's
module (``module``) is imported only to run it.
"""

import argparse
import dataclasses
import re


@dataclasses.dataclass(frozen=True)
class Command:
    module: str
    summary: str
    add_arguments: object = None


def _backend(help_text):
    def add(parser):
        parser.add_argument('--backend', metavar='NAME', help=help_text)
    return add


_AGE_RE = re.compile(r'\A(\d+)([smhd]?)\Z')
_UNITS = {'': 1, 's': 1, 'm': 60, 'h': 3600, 'd': 86400}


def parse_age(text):
    """Seconds in ``90``, ``90s``, ``5m``, ``2h`` or ``1d``."""
    match = _AGE_RE.match(text.strip().lower())
    if not match:
        raise ValueError('AGE must be a number of seconds, or a number '
                         'followed by s, m, h or d')
    return int(match.group(1)) * _UNITS[match.group(2)]


def _age_argument(text):
    try:
        return parse_age(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _orphans_arguments(parser):
    parser.add_argument(
        '--older-than', metavar='AGE', type=_age_argument,
        help='Only files last written more than AGE ago (seconds, or a '
             'number with s, m, h or d). Default: the store\'s '
             'vmware_partial_file_max_age.')
    parser.add_argument('--delete', action='store_true',
                        help='Delete what is found (default: only list).')


COMMANDS = {
    'check': Command(
        'glance_store_vmware.cli.check',
        'Check a glance-api.conf, nova.conf or cinder.conf against vCenter.',
        _backend('Check only this backend of enabled_backends (a Glance '
                 'store or a Cinder backend).')),
    'orphans': Command(
        'glance_store_vmware.cli.orphans',
        'Find (and with --delete remove) partial uploads and image files '
        'no Glance image references.',
        _orphans_arguments),
    'locations': Command(
        'glance_store_vmware.cli.locations',
        'Check every Glance vsphere:// location as the configured store '
        'would read it.',
        _backend('Check only locations of this backend of '
                 'enabled_backends.')),
}
