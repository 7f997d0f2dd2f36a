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

"""Build the sdist and the wheel as a release would, and check them.

``python -m build`` makes the sdist from the git checkout, then the wheel
from that sdist, so the wheel also proves the sdist complete.  Checked:
the sdist carries every tracked file under etc/, doc/ and releasenotes/
(the documentation includes the sample configurations); the wheel carries
every module and the entry points Glance and oslo-config-generator look
up; both have the same version, taken from git; the licence is an SPDX
expression; the build printed no packaging warning.

    python tools/check_dist.py [--outdir DIR]
"""

import argparse
import configparser
import email.parser
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Warnings from setuptools or setuptools-scm that mean the metadata is off.
BAD_OUTPUT = re.compile(
    r'License classifiers are deprecated|SetuptoolsDeprecationWarning'
    r'|SetuptoolsWarning|unable to detect version', re.I)

ENTRY_POINTS = {
    ('glance_store.drivers', 'vsphere'): 'glance_store_vmware.store:Store',
    ('oslo.config.opts', 'glance_store_vmware'):
        'glance_store_vmware.opts:list_opts',
    ('oslo.config.opts', 'glance_store_vmware.nova'):
        'glance_store_vmware.opts:list_nova_opts',
    ('oslo.config.opts', 'glance_store_vmware.cinder'):
        'glance_store_vmware.opts:list_cinder_opts',
    ('console_scripts', 'glance-store-vmware'):
        'glance_store_vmware.cli.main:console_main',
}

# A version from git: a tag, or a development version after one.
VERSION = re.compile(r'^\d+(\.\d+)*(\.dev\d+)?(\+[0-9a-z.]+)?$')


def tracked(*dirs):
    out = subprocess.run(['git', 'ls-files', '--', *dirs], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return set(out.split())


def build(outdir):
    """Run ``python -m build``; return (sdist, wheel, problems)."""
    proc = subprocess.run(
        [sys.executable, '-m', 'build', '--outdir', outdir, ROOT],
        capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if proc.returncode:
        sys.stdout.write(output)
        raise SystemExit('python -m build failed (exit %d)'
                         % proc.returncode)
    problems = ['build printed: %s' % line.strip()
                for line in output.splitlines() if BAD_OUTPUT.search(line)]
    names = os.listdir(outdir)
    sdist = [n for n in names if n.endswith('.tar.gz')]
    wheel = [n for n in names if n.endswith('.whl')]
    if len(sdist) != 1 or len(wheel) != 1:
        raise SystemExit('expected one sdist and one wheel in %s, found %s'
                         % (outdir, sorted(names)))
    return (os.path.join(outdir, sdist[0]), os.path.join(outdir, wheel[0]),
            problems)


def metadata(text):
    return email.parser.Parser().parsestr(text)


def check_sdist(path):
    problems = []
    with tarfile.open(path) as tar:
        names = tar.getnames()
        top = names[0].split('/')[0]
        members = {n[len(top) + 1:] for n in names}
        pkg_info = metadata(tar.extractfile(top + '/PKG-INFO').read()
                            .decode())
    wanted = tracked('etc', 'doc', 'releasenotes') | {
        'LICENSE', 'README.md', 'etc/glance-api.conf', 'etc/nova.conf'}
    for name in sorted(wanted - members):
        problems.append('sdist lacks %s' % name)
    if not any(re.match(r'releasenotes/notes/.+\.yaml$', n)
               for n in members):
        problems.append('sdist has no release notes')
    return pkg_info, problems


def check_wheel(path):
    problems = []
    with zipfile.ZipFile(path) as whl:
        names = set(whl.namelist())
        dist_info = next(n.split('/')[0] for n in names
                         if n.split('/')[0].endswith('.dist-info'))
        meta = metadata(whl.read(dist_info + '/METADATA').decode())
        entry_points = configparser.ConfigParser(delimiters=('=',))
        entry_points.optionxform = str
        entry_points.read_string(
            whl.read(dist_info + '/entry_points.txt').decode())
    modules = {n for n in tracked('glance_store_vmware')
               if n.endswith('.py')}
    for name in sorted(modules - names):
        problems.append('wheel lacks %s' % name)
    for (group, name), target in ENTRY_POINTS.items():
        found = entry_points.get(group, name, fallback=None)
        if found != target:
            problems.append('wheel entry point %s %s is %r, not %r'
                            % (group, name, found, target))
    if meta['License-Expression'] != 'Apache-2.0':
        problems.append('wheel License-Expression is %r, not Apache-2.0'
                        % meta['License-Expression'])
    for classifier in meta.get_all('Classifier') or []:
        if classifier.startswith('License ::'):
            problems.append('wheel keeps the licence classifier %r'
                            % classifier)
    return meta, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--outdir', help='keep the built files here')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outdir = args.outdir or tmp
        os.makedirs(outdir, exist_ok=True)
        sdist, wheel, problems = build(outdir)
        sdist_meta, found = check_sdist(sdist)
        problems += found
        wheel_meta, found = check_wheel(wheel)
        problems += found
    version = wheel_meta['Version']
    if sdist_meta['Version'] != version:
        problems.append('sdist version %s differs from wheel version %s'
                        % (sdist_meta['Version'], version))
    if not VERSION.match(version) or version in ('0', '0.0', '0.0.0'):
        problems.append('version %r does not come from git' % version)
    for problem in problems:
        print('FAIL: %s' % problem)
    print('%s %s: %s and %s, %d problems'
          % (wheel_meta['Name'], version, os.path.basename(sdist),
             os.path.basename(wheel), len(problems)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
