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

"""``glance-store-vmware``: the command line.

Sub-commands are oslo.config sub-commands, as in glance-manage and
nova-manage.  The service's configuration file is read into its own
``ConfigOpts``, with the options the service itself registers, and may be
given after the sub-command (``check --config-file glance-api.conf``) or
before it, as oslo.config's own ``--config-file``.
"""

import contextlib
import importlib
import logging
import sys
import warnings

from oslo_config import cfg

from glance_store_vmware.cli import commands
from glance_store_vmware.cli import output

PROG = 'glance-store-vmware'
OUR_LOGGER = 'glance_store_vmware'

EPILOG = ('Exit status: 0 all good; 1 findings (failed or warned checks, '
          'files to reclaim, refused or risky locations, vCenter or Glance '
          'not answering); 2 usage or configuration file error.')


def _add_parsers(subparsers):
    for name, command in commands.COMMANDS.items():
        parser = subparsers.add_parser(name, help=command.summary,
                                       description=command.summary,
                                       epilog=EPILOG)
        parser.add_argument(
            '--config-file', dest='service_config_files', action='append',
            default=[], metavar='PATH',
            help='The service\'s configuration file: a glance-api.conf, '
                 'a nova.conf or a cinder.conf. May be repeated (read in '
                 'order, as the service reads several).')
        parser.add_argument('-f', '--format', choices=('table', 'json'),
                            default='table', help='Output format.')
        parser.add_argument('-q', '--quiet', action='store_true',
                            help='No progress lines on stderr.')
        parser.add_argument('--debug', action='store_true',
                            help='Log the vSphere and Glance calls, and '
                                 'show the warnings of the libraries we '
                                 'use, with where they came from.')
        command.add_arguments(parser)


def _ours(record):
    return record.name == OUR_LOGGER or record.name.startswith(
        OUR_LOGGER + '.')


@contextlib.contextmanager
def _only_our_output(debug, stderr):
    """stderr holds our progress and errors, nothing of the libraries we
    use: their warnings are ignored and their log records dropped, unless
    ``--debug`` asks for everything (each warning once, with its file and
    line)."""
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(
        '%(levelname)s %(name)s: %(message)s'))
    if not debug:
        handler.addFilter(_ours)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter('default' if debug else 'ignore')
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


def _cli_conf():
    conf = cfg.ConfigOpts()
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='Commands', handler=_add_parsers,
        help='Run "%s <command> --help" for its options.' % PROG))
    return conf


def service_conf(files):
    """The service's configuration files, read as the service does; its
    options are registered by ``deployment``."""
    conf = cfg.ConfigOpts()
    conf(args=[], project=None, default_config_files=files,
         use_env=False)
    return conf


def main(argv=None, stdout=None, stderr=None):
    """Run the command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    conf = _cli_conf()
    try:
        conf(argv, project=None, prog=PROG, default_config_files=[],
             description='Operate the vsphere Glance store and its Nova '
                         'and Cinder sides.', use_env=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else output.USAGE
    except cfg.Error as e:
        stderr.write('%s: %s\n' % (PROG, e))
        return output.USAGE
    args = conf.command
    files = list(conf.config_file or []) + list(args.service_config_files)
    if not files:
        stderr.write('%s %s: --config-file is required\n'
                     % (PROG, args.name))
        return output.USAGE
    with _only_our_output(args.debug, stderr):
        # Imported only now: usage answers without the vSphere stack.
        module = importlib.import_module(commands.COMMANDS[args.name].module)
        try:
            report, status = module.run(service_conf(files), args,
                                        output.Progress(stderr,
                                                        not args.quiet))
        except (output.UsageError, cfg.Error) as e:
            stderr.write('%s %s: %s\n' % (PROG, args.name, e))
            return output.USAGE
    stdout.write(report.render(args.format) + '\n')
    return status


def console_main():
    sys.exit(main())
